"""A restart while the buyer waits for a lookup past its budget: the real bot process (long polling
against the fake Bot API, ORDER_PROVIDER=ozon against the fake Seller API) is killed with SIGKILL
after it said "we are checking"; the next start retries the stored update and the buyer gets the
answer, once. With the order mirror on, the posting is not mirrored yet (its first sync hangs too),
so the lookup is a targeted read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.i18n.catalogs import Catalogs
from bot.settings import ROOT
from tests.crash_harness import BotProcess
from tests.fake_delivery import DeliveryForum
from tests.fake_ozon import FakeOzon, sample, slow

POSTING, ORDER, CHAT = "57195475-0050-3", "57195475-0050", 7301


@pytest.mark.parametrize("mirror", ["false", "true"])
async def test_a_kill_during_checking_retries_the_lookup_at_start_up_and_answers_once(tmp_path: Path, mirror: str):
    catalogs = Catalogs.load(ROOT / "locales")
    checking = catalogs.text("common.checking", "ru")
    answer = catalogs.text("lookup.ask_phone", "ru").format(order_number=ORDER)
    fake = DeliveryForum()
    await fake.start()
    async with FakeOzon() as ozon:
        ozon.add(sample(POSTING))
        bot = BotProcess(fake, tmp_path, env={
            "ORDER_PROVIDER": "ozon", "OZON_CLIENT_ID": ozon.client_id, "OZON_API_KEY": ozon.api_key,
            "OZON_BASE_URL": ozon.url, "LOOKUP_BUDGET_SECONDS": "0.5", "OZON_TIMEOUT_SECONDS": "30",
            "MIRROR_ENABLED": mirror})

        def texts() -> list[str]:
            return [c.params["text"] for c in fake.sent(CHAT)]

        try:
            ozon.fail_all(slow(60))  # Seller API hangs (from before the start: the mirror's first sync too)
            await bot.start()
            fake.text(CHAT, POSTING)
            await fake.wait_for(lambda: texts() == [checking], 15)
            await asyncio.sleep(0.3)
            await bot.kill()  # the lookup was still waiting: nothing of the turn is saved
            assert texts() == [checking]
            ozon.fail_all(None)  # Seller API back
            await bot.start()
            await fake.wait_for(lambda: len(texts()) >= 2, 15)
            await asyncio.sleep(0.5)  # nothing more comes
            assert texts() == [checking, answer]
        finally:
            if bot.running:
                await bot.kill()
            await fake.stop()
