"""The Telegram test harness (fixtures + a buyer that types and presses), and start-up checks.

The real PTB Application runs over HTTP against tests/fake_telegram.py, by long polling unless a
test asks for the webhook. Every test fails on a Bot API method the fake does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer
from bot.engine.state import ConversationState
from bot.orders.demo import DemoOrderProvider
from bot.settings import Settings
from bot.store.sqlite import SqliteStore
from bot.telegram.build import build_telegram
from bot.telegram.delivery import RetryPolicy
from bot.telegram.run import StartupError, run_telegram, serving
from tests.fake_telegram import TOKEN, Call, FakeTelegram

TIMEOUT = 10.0
FAST = RetryPolicy(attempts=4, base=0.01, max_retry_after=5)


class RecordingHandoff:
    """A HandoffPort that records what the adapter asked of it."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.calls: list[tuple[str, Any]] = []

    async def is_active(self, chat_id: str) -> bool:
        return chat_id in self.active

    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        self.calls.append(("start", (chat_id, handoff.reason, state)))

    async def relay_from_buyer(self, chat_id: str, message: Any) -> None:
        self.calls.append(("relay", (chat_id, message.text)))

    async def buyer_left(self, chat_id: str) -> None:
        self.active.discard(chat_id)
        self.calls.append(("left", chat_id))

    async def notify_action(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        self.calls.append(("action", (chat_id, action.name)))

    async def handle_group_update(self, update: Any) -> bool:
        self.calls.append(("group", update.update_id))
        return True


class Bot:
    """One running bot: the PTB Application on an App, served against the fake."""

    def __init__(self, fake: FakeTelegram, app: App, application, handoff: RecordingHandoff) -> None:
        self.fake, self.app, self.application, self.handoff = fake, app, application, handoff
        self.done: set[int] = set()
        self._changed = asyncio.Event()
        handlers = application.bot_data["handlers"]
        handlers.observers.append(self._observe)

    def _observe(self, update) -> None:
        self.done.add(update.update_id)
        self._changed.set()

    async def processed(self, update_id: int, timeout: float = TIMEOUT) -> None:
        async def wait() -> None:
            while update_id not in self.done:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)

    def buyer(self, chat_id: int, language_code: str = "ru") -> TgBuyer:
        return TgBuyer(self, chat_id, language_code)


class TgBuyer:
    """Talk to the bot like a Telegram buyer: type, press buttons by label, read what came back."""

    def __init__(self, bot: Bot, chat_id: int, language_code: str) -> None:
        self.bot, self.fake, self.chat_id, self.language_code = bot, bot.fake, chat_id, language_code
        self.last: list[Call] = []
        self.markup_call: Call | None = None

    async def send(self, text: str) -> list[Call]:
        before = len(self.fake.sent(self.chat_id))
        uid = self.fake.text(self.chat_id, text, self.language_code)
        await self.bot.processed(uid)
        return self._since(before)

    async def photo(self, file_id: str = "photo-1", size: int = 80_000) -> list[Call]:
        before = len(self.fake.sent(self.chat_id))
        uid = self.fake.photo(self.chat_id, file_id, size, self.language_code)
        await self.bot.processed(uid)
        return self._since(before)

    async def sticker(self) -> list[Call]:
        before = len(self.fake.sent(self.chat_id))
        uid = self.fake.sticker(self.chat_id, self.language_code)
        await self.bot.processed(uid)
        return self._since(before)

    async def press(self, label_part: str, markup_call: Call | None = None) -> list[Call]:
        call = markup_call or self.markup_call
        assert call is not None, "no keyboard was shown"
        for row in call.params["reply_markup"]["inline_keyboard"]:
            for button in row:
                if label_part in button["text"]:
                    return await self.press_data(button["callback_data"])
        raise AssertionError(f"no button with {label_part!r}: {self.labels}")

    async def press_data(self, data: str) -> list[Call]:
        before = len(self.fake.sent(self.chat_id))
        uid = self.fake.press(self.chat_id, data, language_code=self.language_code)
        await self.bot.processed(uid)
        return self._since(before)

    def _since(self, before: int) -> list[Call]:
        self.last = self.fake.sent(self.chat_id)[before:]
        for call in self.last:
            if "inline_keyboard" in (call.params.get("reply_markup") or {}):
                self.markup_call = call
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(c.params["text"] for c in self.last)

    @property
    def labels(self) -> list[str]:
        if self.markup_call is None:
            return []
        return [b["text"] for row in self.markup_call.params["reply_markup"]["inline_keyboard"] for b in row]

    async def state(self) -> ConversationState | None:
        return await self.bot.app.store.load_state(str(self.chat_id))


def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    settings.telegram_bot_token = SecretStr(TOKEN)
    settings.telegram_api_base = fake.api_base
    settings.telegram_file_base = fake.file_base
    return settings


def new_app(settings: Settings, catalogs, clock) -> App:
    return build_app(settings, catalogs=catalogs, clock=clock, orders=DemoOrderProvider(settings.demo_orders_path),
                     store=SqliteStore(settings.store_path))


@contextlib.asynccontextmanager
async def running_bot(fake: FakeTelegram, app: App, settings: Settings, *, webhook: str | None = None,
                      handoff: RecordingHandoff | None = None, **kw: Any) -> AsyncIterator[Bot]:
    handoff = handoff or RecordingHandoff()
    application = build_telegram(app, tg_settings(settings, fake), handoff=handoff, webhook=webhook is not None,
                                 policy=kw.pop("policy", FAST), **kw)
    bot = Bot(fake, app, application, handoff)
    async with serving(application, settings, webhook=webhook, listen="127.0.0.1:0") as info:
        bot.serving = info  # type: ignore[attr-defined]
        yield bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as f:
        yield f
    assert f.unexpected == [], f"unexpected Bot API calls: {[c.method for c in f.unexpected]}"


@pytest.fixture
async def bot(fake: FakeTelegram, app: App, settings: Settings) -> AsyncIterator[Bot]:
    async with running_bot(fake, app, settings) as b:
        yield b


def label(app: App, msgid: str, lang: str) -> str:
    return app.renderer.text(msgid, lang)


# ---- start-up ---------------------------------------------------------------------------------

async def test_start_up_sets_commands_in_zh_and_ru(bot: Bot, fake: FakeTelegram):
    assert set(fake.commands) == {"zh", "ru", ""}
    names = [c["command"] for c in fake.commands["zh"]]
    assert {"start", "menu", "lang", "order", "agent", "history", "help", "bot"} <= set(names)
    assert fake.commands["zh"][0]["description"] != fake.commands["ru"][0]["description"]
    for lang in ("zh", "ru"):  # the descriptions come from the catalogs (a new language brings its own)
        order = next(c for c in fake.commands[lang] if c["command"] == "order")
        assert order["description"] == bot.app.text("command.order", lang)


async def test_bad_token_fails_with_one_clear_line(fake: FakeTelegram, app: App, settings: Settings):
    tg_settings(settings, fake)
    settings.telegram_bot_token = SecretStr("999:wrong-token")
    application = build_telegram(app, settings)
    with pytest.raises(StartupError,
                       match=r"Telegram rejected the bot token \(401 Unauthorized\); check TELEGRAM_BOT_TOKEN"):
        async with serving(application, settings):
            pass


async def test_unreachable_api_fails_fast(app: App, settings: Settings):
    async with FakeTelegram() as gone:
        base = gone.api_base  # a port nobody listens on once this block ends
    settings.telegram_bot_token = SecretStr(TOKEN)
    settings.telegram_api_base = base
    application = build_telegram(app, settings, policy=FAST)
    with pytest.raises(StartupError, match="Cannot reach the Telegram Bot API") as exc:
        await asyncio.wait_for(serving(application, settings).__aenter__(), TIMEOUT)
    assert TOKEN not in str(exc.value)


def test_run_telegram_prints_one_line_and_never_the_token(settings: Settings, capsys):
    settings.telegram_bot_token = SecretStr("12345:not-a-valid-token-at-all")
    settings.telegram_api_base = "http://127.0.0.1:9/bot"  # discard port: nothing listens
    assert run_telegram(settings, listen="127.0.0.1:0") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not-a-valid-token" not in err[0]
    assert run_telegram(settings, webhook="not a url") == 1
    assert "--webhook" in capsys.readouterr().err
