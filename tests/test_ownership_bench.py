"""The brute-force bound of issue 12, measured by bench/ownership.py through the real engine and
store: before, any order's 4 digits fell to enough accounts; after, an order takes at most
ORDER_WRONG_ANSWERS wrong phone answers (ORDER_WRONG_ANSWERS_NO_PHONE for the product and date
question) from all accounts together, then closes, and agents are alerted once."""

from __future__ import annotations

import importlib.util

from bot.settings import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ownership", ROOT / "bench" / "ownership.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


async def test_the_new_bound_holds_whatever_the_number_of_accounts():
    bench = _bench()
    m = await bench.measure(trials=2_000)
    before, after, quiz, s = m["before_phone"], m["after_phone"], m["after_quiz"], m["settings"]
    assert before["won"] and before["accounts"] > 1 and before["alerts"] == 0
    assert not after["won"] and after["guesses"] == s["order_wrong_answers"] == 3
    assert after["accounts"] > after["guesses"], "fresh accounts were refused too"
    assert after["alerts"] == 1
    assert not quiz["won"] and quiz["guesses"] == s["order_wrong_answers_no_phone"] == 1 and quiz["alerts"] == 1
    assert m["quiz_odds"]["knows_the_date"] <= 1 / 8
    assert m["quiz_odds"]["any_age_0_30_days"] < 0.06
    assert "0.03%" in bench.report(m)
