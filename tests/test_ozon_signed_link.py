"""Signed deep-link payloads for ownership proof."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.orders.signed_link import sign_posting, verify_payload

SECRET = "s3cret-for-tests"
postings = st.builds(lambda a, b, c: f"{a}-{b}-{c}", st.from_regex(r"[0-9]{5,12}", fullmatch=True),
                     st.from_regex(r"[0-9]{4}", fullmatch=True), st.from_regex(r"[0-9]{1,3}", fullmatch=True))


@given(postings)
def test_payload_fits_telegram_start_and_round_trips(posting):
    payload = sign_posting(posting, SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
    assert verify_payload(payload, SECRET) == posting


@given(postings, st.integers(min_value=0), st.sampled_from("AZaz09_-"))
def test_any_tampering_is_rejected(posting, where, char):
    payload = sign_posting(posting, SECRET)
    i = where % len(payload)
    tampered = payload[:i] + char + payload[i + 1:]
    if tampered != payload:
        assert verify_payload(tampered, SECRET) is None


def test_other_secret_other_posting_and_junk_are_rejected():
    payload = sign_posting("57195475-0050-3", SECRET)
    assert verify_payload(payload, "another secret") is None
    signature = payload.split("_", 1)[1]
    assert verify_payload(f"57195475-0050-4_{signature}", SECRET) is None
    for junk in ("", "57195475-0050-3", "_", "x" * 65, "57195475-0050_" + signature, payload + "A"):
        assert verify_payload(junk, SECRET) is None


def test_bytes_and_str_secrets_agree_and_bad_input_raises():
    assert sign_posting("57195475-0050-3", SECRET) == sign_posting("57195475-0050-3", SECRET.encode())
    for bad in ("57195475-0050", "57195475-0050-\u0663"):  # an order number; an Arabic-Indic digit
        with pytest.raises(ValueError, match="not a posting number"):
            sign_posting(bad, SECRET)
    with pytest.raises(ValueError, match="secret must not be empty"):
        sign_posting("57195475-0050-3", "")
