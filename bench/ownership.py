"""Brute-forcing the proof of a foreign order, before and after issue 12 (in-process, < 30 s).

An attacker knows a victim's order number and answers the ownership question from as many Telegram
accounts as they like, each a fresh conversation, through the real engine and store (`App.handle`).

- before: the limits of the previous version: wrong answers counted per conversation only (3, then
  that conversation is locked), nothing per order across buyers. The attack enumerates the last 4
  phone digits 0000, 0001, ... three per account until one is accepted.
- after: the shipped limits (ORDER_WRONG_ANSWERS per order across all buyers, OWNER_ATTEMPTS per
  buyer, OWNER_WRONG_PER_DAY per buyer), the same attack, for the phone and for the product and date
  question (orders without a phone), plus the measured chance of winning the question by guessing.

    .venv/bin/python bench/ownership.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from bot.app import App, build_app
from bot.engine.effects import Action
from bot.engine.events import Buyer, Press, Text
from bot.engine.lookup import NoLedger
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.demo_data import SHOP_CATALOGUE, demo_orders
from bot.orders.model import Order
from bot.orders.ownership import order_day, question, real_product
from bot.settings import Settings
from bot.store.memory import MemoryStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CODES = 10_000  # last 4 digits


class _Clock:
    def now(self) -> datetime:
        return NOW


def make_app(tmp: Path, *, before: bool) -> App:
    tmp.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=tmp, link_secret=SecretStr("bench"), _env_file=None)  # type: ignore[call-arg]
    seed(settings.demo_orders_path, now=NOW)
    app = build_app(settings, orders=DemoOrderProvider(settings.demo_orders_path), store=MemoryStore(), clock=_Clock())
    if before:  # the previous version's limits: per conversation only
        app.engine.lookup = dataclasses.replace(app.engine.lookup, ledger=NoLedger(), order_wrong_answers=10**9,
                                                buyer_wrong_per_day=10**9)
    return app




async def _proven(app: App, chat: str, order: Order) -> bool:
    state = await app.store.load_state(chat)
    return state is not None and order.order_number in state.verified


async def phone_attack(app: App, order: Order, *, max_accounts: int = 4000) -> dict[str, Any]:
    """Enumerate last-4 codes from fresh accounts until one proves the order or no account is let
    answer any more. Returns guesses answered, accounts used, whether it won, alerts sent."""
    code, guesses, accounts, alerts, refused_in_a_row = 0, 0, 0, 0, 0
    while accounts < max_accounts and code < CODES:
        accounts += 1
        chat = f"attacker-{accounts}"
        buyer = Buyer(chat, "ru")
        await app.handle(chat, Text(order.order_number), buyer)
        state = await app.store.load_state(chat)
        if state is None or state.at is None or state.at.phase != "owner":
            refused_in_a_row += 1  # the order no longer takes answers from anyone
            if refused_in_a_row >= 50:
                break
            continue
        refused_in_a_row = 0
        while code < CODES:
            reply = await app.handle(chat, Text(f"{code:04d}"), buyer)
            code += 1
            guesses += 1
            alerts += sum(1 for e in reply.effects if isinstance(e, Action) and e.name == "owner_guessing")
            if await _proven(app, chat, order):
                return {"won": True, "guesses": guesses, "accounts": accounts, "alerts": alerts}
            state = await app.store.load_state(chat)
            if state is None or state.at is None or state.at.phase != "owner":
                break
    return {"won": False, "guesses": guesses, "accounts": accounts, "alerts": alerts}


async def quiz_attack(app: App, order: Order, *, max_accounts: int = 200) -> dict[str, Any]:
    """Answer the product and date question with every (product, date) pair in turn, from fresh
    accounts, until one proves the order or no account is let answer."""
    pairs = [(p, d) for p in range(1, 9) for d in range(1, 7)]
    guesses, accounts, alerts, refused = 0, 0, 0, 0
    while pairs and accounts < max_accounts:
        accounts += 1
        chat = f"quiz-attacker-{accounts}"
        buyer = Buyer(chat, "ru")
        await app.handle(chat, Text(order.posting_number), buyer)
        state = await app.store.load_state(chat)
        if state is None or state.at is None or state.at.phase != "quiz_product":
            refused += 1
            if refused >= 20:
                break
            continue
        while pairs:
            p, d = pairs.pop(0)
            await app.handle(chat, Press(str(p), state.at.node), buyer)
            reply = await app.handle(chat, Press(str(d), state.at.node), buyer)
            guesses += 1
            alerts += sum(1 for e in reply.effects if isinstance(e, Action) and e.name == "owner_guessing")
            if await _proven(app, chat, order):
                return {"won": True, "guesses": guesses, "accounts": accounts, "alerts": alerts}
            state = await app.store.load_state(chat)
            if state is None or state.at is None or state.at.phase != "quiz_product":
                break
    return {"won": False, "guesses": guesses, "accounts": accounts, "alerts": alerts}


def quiz_guess_odds(order: Order, budget: int, *, trials: int = 20_000, seed_: int = 7) -> dict[str, float]:
    """The chance that `budget` guesses win the product and date question, for the best attacker:
    one who knows how the dates are laid out (no date in the future), learns from many orders which
    place the real date most often has given how close the last option is to today, and spends every
    guess on that date with different products. Over random secrets; for orders of this one's age
    and for orders of any age up to 30 days."""
    rnd = random.Random(seed_)
    pool = sorted({p.name for _, _, o in demo_orders(NOW) for p in o.products} | set(SHOP_CATALOGUE))
    today = NOW.date()

    def sample(make_order) -> list[tuple[int, int, int]]:  # (days from the last option to today, real place, options)
        out = []
        for _ in range(trials):
            q = question([make_order()], pool, rnd.randbytes(16), "attacker", NOW)
            assert q is not None
            out.append(((today - q.dates[-1]).days, q.date_answer, len(q.products)))
        return out

    def odds(make_order) -> float:
        learned: dict[int, dict[int, int]] = {}
        for gap, place, _ in sample(make_order):  # what the attacker learns
            learned.setdefault(gap, {}).setdefault(place, 0)
            learned[gap][place] += 1
        best = {gap: max(c, key=c.get) for gap, c in learned.items()}  # type: ignore[arg-type]
        wins = sum((place == best.get(gap)) * min(budget, n) / n for gap, place, n in sample(make_order))
        return wins / trials

    aged = lambda: order.model_copy(update={"created_at": NOW - timedelta(hours=rnd.uniform(0, 30 * 24))})  # noqa: E731
    products = len(question([order], pool, b"k", "a", NOW).products)  # type: ignore[union-attr]
    return {"knows_the_date": min(budget, products) / products, "any_age_0_30_days": odds(aged)}


async def measure(trials: int = 20_000) -> dict[str, Any]:
    orders = {key: o for key, _, o in demo_orders(NOW)}
    phone_order, quiz_order = orders["packaging_on_time"], orders["fbo_no_phone"]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp) / "before", before=True)
        try:
            out["before_phone"] = await phone_attack(app, phone_order)
        finally:
            await app.close()
        app = make_app(Path(tmp) / "after", before=False)
        try:
            out["after_phone"] = await phone_attack(app, phone_order)
            out["after_quiz"] = await quiz_attack(app, quiz_order)
            out["settings"] = {"order_wrong_answers": app.settings.order_wrong_answers,
                               "order_wrong_answers_no_phone": app.settings.order_wrong_answers_no_phone,
                               "owner_attempts": app.settings.owner_attempts}
        finally:
            await app.close()
    out["quiz_odds"] = quiz_guess_odds(quiz_order, out["settings"]["order_wrong_answers_no_phone"], trials=trials)
    out["real"] = {"last4": phone_order.phone_last4, "product": real_product([quiz_order]),
                   "date": order_day(quiz_order).isoformat()}
    return out


def report(m: dict[str, Any]) -> str:
    b, a, q, s = m["before_phone"], m["after_phone"], m["after_quiz"], m["settings"]
    n, k, nq = s["order_wrong_answers"], s["owner_attempts"], s["order_wrong_answers_no_phone"]
    lines = [
        "Proving a foreign order by guessing (one order, an attacker with unlimited Telegram accounts)",
        "",
        "before (limits per conversation only):",
        "  no phone (FBS delivered by Ozon, FBO): no proof at all, every such buyer went to an agent;"
        " signed links never expired and worked for anyone",
        f"  phone last 4 ({m['real']['last4']}): won after {b['guesses']:,} guesses from {b['accounts']:,} accounts;"
        f" any order: {CODES // 2:,} guesses / {-(-CODES // 2 // 3)} accounts on average,"
        f" {CODES:,} / {-(-CODES // 3):,} at worst; {b['alerts']} alerts",
        "",
        f"after (per order across all buyers: ORDER_WRONG_ANSWERS={n}, ORDER_WRONG_ANSWERS_NO_PHONE={nq};"
        f" OWNER_ATTEMPTS={k} per buyer; kept in the store):",
        f"  phone last 4: {'WON' if a['won'] else 'not won'}; {a['guesses']} guesses answered in all, then the order"
        f" took no answer from any account ({a['accounts']} accounts tried); {a['alerts']} alert to the agents",
        f"    chance to win: at most {n}/{CODES:,} = {n / CODES:.2%} per order, whatever the number of accounts",
        f"  whole phone number: at most {n} guesses of 10^10 numbers",
        f"  product and date (no phone): {'WON' if q['won'] else 'not won'} by enumeration; {q['guesses']} guesses"
        f" answered, {q['accounts']} accounts tried; {q['alerts']} alert",
        f"    chance to win with {nq} guess: {m['quiz_odds']['knows_the_date']:.1%} for an attacker who knows when"
        f" the order was placed (only the product to guess); {m['quiz_odds']['any_age_0_30_days']:.1%} for one who"
        " does not (order of any age up to 30 days; best attacker: knows the layout, learns the likeliest date place)",
        "    then the order closes to everyone; only an agent can confirm it",
    ]
    return "\n".join(lines)


def main() -> None:
    print(report(asyncio.run(measure())))


if __name__ == "__main__":
    main()
