"""Shared fixtures: a real app on temporary SQLite files, the real flows and catalogs, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.engine.events import Buyer
from bot.i18n.catalogs import Catalogs
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.demo_data import demo_orders
from bot.settings import ROOT, Settings
from bot.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    return Catalogs.load(ROOT / "locales")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def demo_order() -> dict[str, object]:
    """Demo scenario key (see `ozonbot orders list`) -> Order, with dates relative to NOW."""
    return {key: order for key, _, order in demo_orders(NOW)}


@pytest.fixture
async def app(settings: Settings, catalogs: Catalogs, clock: FixedClock):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seed(settings.demo_orders_path, now=NOW)
    application = build_app(settings, catalogs=catalogs, clock=clock,
                            orders=DemoOrderProvider(settings.demo_orders_path),
                            store=SqliteStore(settings.store_path))
    yield application
    await application.close()


class ChatDriver:
    """Talk to the app like a buyer: send text, press buttons by label, read the bot's texts."""

    def __init__(self, app: App, chat_id: str = "buyer-1", language_code: str = "") -> None:
        self.app = app
        self.chat_id = chat_id
        self.buyer = Buyer(id=chat_id, language_code=language_code)
        self.last = None

    async def send(self, text: str):
        from bot.console import ConsoleChat

        console = ConsoleChat(self.app, user=self.chat_id)
        console.chat_id = self.chat_id
        console.buyer = self.buyer
        if self.last is not None:
            console.buttons, console.node = self._buttons(), self._node()
        event = console.event_for(text)
        self.last = await self.app.handle(self.chat_id, event, self.buyer,
                                          incoming=(type(event).__name__.lower(), text))
        return self.last

    async def press(self, label_part: str):
        """Press the first button of the last reply whose label contains `label_part`."""
        from bot.engine.events import Press

        for option_id, label in self._buttons():
            if label_part in label:
                self.last = await self.app.handle(self.chat_id, Press(option_id, self._node()), self.buyer,
                                                  incoming=("press", option_id))
                return self.last
        raise AssertionError(f"no button containing {label_part!r}; buttons: {[b[1] for b in self._buttons()]}")

    def _buttons(self) -> list[list[str]]:
        for msg in reversed(self.last.outgoing if self.last else []):
            if "buttons" in msg.meta:
                return msg.meta["buttons"]
        return []

    def _node(self) -> str:
        for msg in reversed(self.last.outgoing if self.last else []):
            if "node" in msg.meta:
                return msg.meta["node"]
        return ""

    @property
    def texts(self) -> list[str]:
        return [m.text for m in (self.last.outgoing if self.last else []) if m.kind == "say"]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def buttons(self) -> list[str]:
        return [b[1] for b in self._buttons()]

    @property
    def kinds(self) -> list[str]:
        return [m.kind for m in (self.last.outgoing if self.last else [])]


@pytest.fixture
def chat(app: App) -> ChatDriver:
    return ChatDriver(app)


# ---- PostgreSQL (DATABASE_URL backends): one server per test session, a schema per test ----------
@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL on loopback for the whole session (tests/pg_server.py); skipped where the
    server cannot be had, except on CI (`CI` set), where that is a failure."""
    import os

    from tests.pg_server import NoServer, PgServer

    try:
        server = PgServer().start()
    except NoServer as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL tests need a server: {exc}")
    yield server
    server.stop()


_pg_schemas = iter(range(1, 1 << 30))


@pytest.fixture
def pg_url(pg_server) -> str:
    """A DATABASE_URL whose tables live in a schema of this test's own (empty, not yet migrated)."""
    schema = f"t{next(_pg_schemas)}"
    pg_server.psql(f"CREATE SCHEMA {schema}")
    return pg_server.url(search_path=schema)
