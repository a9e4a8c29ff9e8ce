"""No message claims a return, cancellation or refund that did not happen (issue 12, part 3).

Every catalog text that says one happened is listed below with what makes it true:
- ORDER_FACTS: Ozon's own order data says so (the status, the cancellation block, the returns
  list). Such a text may only be shown for an order in that state.
- PERFORMED: something was done: the bot cancelled through the Seller API (a recorded
  `cancellation_result` with `cancelled: true`), or an agent pressed "Done" on the request. Flows
  never say these themselves.
A claim-like text in neither list fails the static test, so a new one cannot slip in; every flow
test (`ozonbot flows test`, both languages) is then replayed and each step's messages are checked
against the order and the actions recorded in that step.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC
from pathlib import Path

import pytest

from bot.operators.flowtests import run_tests
from bot.orders.demo_data import demo_orders

ROOT = Path(__file__).resolve().parent.parent

# Past-tense "it was cancelled / filed / refunded / done" in each language.
CLAIM_WORDS = {
    "ru": re.compile(r"(отмен(ён|ен|ена|ены|или|ила|ил)\b|оформлен\b|оформлена\b|оформили|вернули|отправлены?\b"
                     r"|заверш[её]н|выполнен|получили возвращ|заявк\w* (на возврат )?(отправлен|подан))", re.I),
    "zh": re.compile(r"(已取消|已提交|已退款|已退回|已受理|已完成|取消了|已办好|已为您(取消|退款|提交|申请)"
                     r"|已经取消|已收到.*退货)"),
}

CANCELLED = "the order is cancelled"
HAS_RETURN = "the order has a return"
# message id (or prefix ending in ".") -> the order state that makes it true
ORDER_FACTS = {
    "why_cancelled.": CANCELLED,
    "check_payment.cancelled_payment": CANCELLED,
    "check_payment.cancelled_other": CANCELLED,
    "cancel_order.already_cancelled": CANCELLED,
    "request_return.state_": HAS_RETURN,
    # bot/notify/texts.py: only for a CANCELLED change whose order is cancelled (tests/test_notify_buyers.py)
    "notify.cancelled": CANCELLED,
}
# message id -> what must have been recorded before it is said
PERFORMED = {
    "actions.cancelled": "a cancellation_result with cancelled=true (the Seller API accepted it)",
    "handoff.outcome_done.request_cancellation": "an agent's 'Done' on the request (bot/handoff/notices.py)",
    "handoff.outcome_done.open_return": "an agent's 'Done' on the request (bot/handoff/notices.py)",
}
# Texts the words match without claiming anything, with why.
NOT_CLAIMS = {
    "menu.why_cancelled": "a menu button: 'why was my order cancelled'",
    "why_cancelled.title": "a title",
    "check_payment.btn_why_cancelled": "a button",
    "lookup.pick_posting": "'the order was sent in N parcels' (Ozon's split)",
    "status.": "status labels name Ozon's status of the order",
    "substatus.": "substatus labels name Ozon's substatus of the order",
    "cancel_reason.": "reason labels repeat Ozon's cancellation reason",
    "check_payment.failed": "'if the order is already cancelled, order again' (a condition)",
    "why_cancelled.other_payment": "'при оформлении' = when placing the order",
    "order_status.in_transit_abroad": "'таможенное оформление' = customs clearance",
    "order_status.passport": "'таможенное оформление' = customs clearance",
    "request_return.changed_mind_late": "'при оформлении' = when filing it in the app",
    "common.back_to_bot": "'you left the agents' queue' (the bot did that)",
    "cancel_order.btn_keep": "'I won't cancel after all' (a button)",
    "cancel_order.being_prepared": "'can no longer be cancelled in the app'",
    "agent_card.": "texts for the shop's agents, not for buyers",
    "no_order_number.guidance": "'if the money did not come back' (a condition)",
}


def _listed(msgid: str, table: dict[str, str]) -> str | None:
    for key, why in table.items():
        if msgid == key or (key.endswith((".", "_")) and msgid.startswith(key)):
            return why
    return None


def _texts(catalogs, lang: str) -> dict[str, str]:
    out = {}
    for msgid in catalogs.ids(lang):
        forms = [catalogs.text(msgid, lang, n) for n in (1, 2, 5)]
        out[msgid] = " | ".join(dict.fromkeys(f for f in forms if f))
    return out


def test_every_claim_like_text_is_listed_with_what_makes_it_true(catalogs):
    unlisted = []
    for lang, words in CLAIM_WORDS.items():
        for msgid, text in _texts(catalogs, lang).items():
            found = words.search(text)
            if found and not (_listed(msgid, ORDER_FACTS) or _listed(msgid, PERFORMED) or _listed(msgid, NOT_CLAIMS)):
                unlisted.append(f"{lang} {msgid}: {found.group(0)!r} in {text[:100]!r}")
    assert not unlisted, "texts that may claim a cancellation, return or refund:\n" + "\n".join(unlisted)


def test_what_the_bot_only_asks_for_is_never_said_to_be_done(catalogs):
    """The texts shown after a request to staff, or after the steps in the app, claim nothing."""
    requests = ["request_return.opened", "cancel_order.requested", "cancel_order.asked_seller",
                "overdue_order.cancel_requested", "overdue_order.compensation_requested", "overdue_order.wait_seller",
                "order_status.urged", "order_status.urged_delivery", "refuse_delivery.recorded",
                "cancel_order.self_done", "actions.cancel_failed", "handoff.action_seen"]
    for lang, words in CLAIM_WORDS.items():
        texts = _texts(catalogs, lang)
        for msgid in requests:
            assert msgid in texts, msgid
            assert not words.search(texts[msgid]), f"{lang} {msgid} claims something: {texts[msgid]!r}"


@pytest.fixture(scope="module")
def report(flowset, catalogs):
    files = sorted((ROOT / "flows" / "tests").glob("*.yaml"))
    return asyncio.run(run_tests(flowset, catalogs, files, base=ROOT))


@pytest.fixture(scope="module")
def flowset(catalogs):
    from bot.engine.loader import load_flows

    return load_flows(ROOT / "flows", catalogs)


@pytest.fixture(scope="module")
def catalogs():
    from bot.i18n.catalogs import Catalogs

    return Catalogs.load(ROOT / "locales")


def test_no_flow_test_step_says_more_than_happened(report):
    from datetime import datetime

    assert report.results and all(r.passed for r in report.results), "the flow tests themselves must pass"
    orders = {key: order for key, _, order in demo_orders(datetime.now(UTC))}
    problems, claims_seen = [], 0
    for result in report.results:
        case = result.case
        order = orders.get(case.order or "")
        if order is not None and case.patch:
            order = order.model_copy(update=case.patch)
        done: list[dict] = []
        for step in result.steps:
            done += step.actions
            for msgid in step.msgs:
                state = _listed(msgid, ORDER_FACTS)
                if state is not None:
                    claims_seen += 1
                    ok = order is not None and (
                        order.status in ("cancelled", "cancelled_from_split_pending") if state == CANCELLED
                        else bool(order.returns))
                    if msgid == "why_cancelled.not_cancelled":
                        ok = order is not None and order.status not in ("cancelled", "cancelled_from_split_pending")
                    if not ok:
                        problems.append(f"{case.name}: {msgid} said, but {state} is not true of {case.order}")
                if msgid in PERFORMED:
                    performed = any(a["name"] == "cancellation_result" and a["args"].get("cancelled") for a in done)
                    if not performed:
                        problems.append(f"{case.name}: {msgid} said, but nothing recorded it happened")
            for action in step.actions:
                if action["name"] in ("request_cancellation", "open_return", "offer_compensation", "urge_seller"):
                    said = set(step.msgs)
                    bad = [m for m in said if m in PERFORMED]
                    if bad:
                        problems.append(f"{case.name}: a request ({action['name']}) answered with a claim {bad}")
    assert claims_seen > 10, "the flow tests should show the order-fact messages"
    assert not problems, "\n".join(problems)
