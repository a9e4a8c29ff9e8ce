"""The one place that wires ports to adapters.

`build_app(settings, orders=..., store=..., ...)` fills each missing collaborator with its default,
so tests pass in only what they replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from bot.actions import ActionRunner
from bot.conversation.followups import followups_of
from bot.conversation.io import Reply
from bot.engine.content import Content
from bot.engine.effects import Action, Ask, Choices, Handoff, Say
from bot.engine.engine import Engine, TurnResult
from bot.engine.events import Buyer, Event
from bot.engine.flowset import FlowRegistry
from bot.engine.loader import load_flows
from bot.engine.lookup import Lookup
from bot.engine.ports import Clock
from bot.engine.state import ConversationState
from bot.i18n.catalogs import Catalogs
from bot.i18n.locale import choose_language
from bot.i18n.render import CurrentRenderer, set_buyer_timezone
from bot.notify.records import NotifyRecords
from bot.notify.records_memory import MemoryNotifyRecords
from bot.notify.watching import BuyerNotifier
from bot.orders.provider import OrderProvider
from bot.settings import Settings
from bot.store.base import ConversationStore, Outgoing
from bot.store.retention import Purger, run_retention

log = logging.getLogger(__name__)


class App:
    """Engine + store + renderer: what every adapter (console, Telegram) talks to.

    `content` is the immutable snapshot of flows and catalogs in service; a live reload replaces it
    with one assignment (bot/content_reload.py). The engine reads it at the start of every turn;
    `renderer` always renders with it, so whoever keeps `app.renderer` sees new texts too.
    """

    def __init__(self, settings: Settings, engine: Engine, store: ConversationStore, orders: OrderProvider,
                 content: Content, *, notify: NotifyRecords | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.orders = orders
        self.content = content
        self.renderer = CurrentRenderer(lambda: self.content.renderer)
        self._retention: asyncio.Task | None = None
        # Buyers' order news (bot/notify): the watches `watch_order` writes, and the ChangeSink the
        # order mirror subscribes (`app.notifier`); the Telegram front end sends what it queues.
        self.notify: NotifyRecords = notify or MemoryNotifyRecords()
        self.actions = ActionRunner(store, orders, self.renderer, allow_cancel=settings.ozon_allow_cancel,
                                    watches=self.notify, clock=clock)
        self.notifier = BuyerNotifier(self.notify, self.renderer, clock=clock, lang_of=self._lang_of,
                                      default_lang=settings.default_lang, languages=content.languages)

    async def _lang_of(self, chat_id: str) -> str | None:
        state = await self.store.load_state(chat_id)
        return state.lang if state is not None else None

    @property
    def catalogs(self) -> Catalogs:
        return self.content.catalogs

    @property
    def registry(self) -> FlowRegistry:
        return self.content.registry

    async def handle(self, chat_id: str, event: Event, buyer: Buyer, *, incoming: tuple[str, str] | None = None,
                     receipt: str | None = None) -> Reply:
        """Run the engine; store the buyer's message, the new state and the replies in one transaction;
        return the replies rendered. With `receipt` (the inbox key of the update), the same transaction
        marks that update turned, with the turn's follow-ups, so a crash after it completes the turn
        instead of running it again."""
        async with self.store.turn(chat_id):  # several processes: one turn of a chat at a time (bot/store)
            state = await self.store.load_state(chat_id)
            result = await self.engine.handle(state, event, buyer)
            reply = self.render(result)
            for effect in result.effects:
                if isinstance(effect, Action):
                    reply.outgoing += await self.actions.run(chat_id, effect, reply.lang, result.state)
            reply.message_ids = await self.store.save_turn(chat_id, result.state, reply.outgoing, result.events,
                                                           receipt=receipt, followups=followups_of(result.effects),
                                                           incoming=incoming)
        return reply

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str:
        return self.renderer.text(msgid, lang, params, count)

    def language(self, state: ConversationState | None, buyer: Buyer) -> str:
        """The buyer's language outside a turn: the conversation's, else their client's, else the default."""
        if state is not None and state.lang:
            return state.lang
        return choose_language(None, buyer.language_code, None, self.settings.default_lang,
                               self.content.catalogs.languages)

    def render(self, result: TurnResult) -> Reply:
        """Group effects into messages: each Say is a message; Choices attach to the last one."""
        lang = result.state.lang or self.settings.default_lang
        renderer = self.content.renderer  # one snapshot for the whole reply
        out: list[Outgoing] = []
        for effect in result.effects:
            if type(effect) is Say:
                out.append(Outgoing("say", renderer.say(effect, lang), {"msg": effect.msg}))
            elif type(effect) is Choices:
                buttons = renderer.buttons(effect, lang)
                node = result.state.at.node if result.state.at else ""
                if out and out[-1].kind == "say" and "buttons" not in out[-1].meta:
                    last = out.pop()
                    out.append(Outgoing("say", last.text, {**last.meta, "buttons": buttons, "node": node}))
                else:
                    out.append(Outgoing("say", renderer.text("common.choose", lang),
                                        {"buttons": buttons, "node": node}))
            elif type(effect) is Handoff:
                out.append(Outgoing("handoff", "", {"reason": effect.reason, "flow": effect.flow_id}))
            elif type(effect) is Ask and effect.kind == "phone_last4" and out and out[-1].kind == "say":
                # a channel that can share the buyer's own number offers it (Telegram: request_contact)
                last = out.pop()
                label = renderer.text("lookup.share_phone", lang)
                out.append(Outgoing("say", last.text, {**last.meta, "contact": label}))
            # Ask, End, SetLanguage, Action: nothing to show (actions are run by App.handle)
        return Reply(out, result.effects, lang)

    def start_retention(self, purgers: Sequence[Purger] = (), *, every: float = 3600.0,
                        leader: Callable[[], bool] | None = None) -> None:
        """Purge what RETENTION_* no longer keeps, now and then every `every` seconds, until close()
        (several processes: only while `leader()` says this one leads). The order mirror, when it is
        the provider, purges its old final postings in the same rounds (MIRROR_KEEP_DAYS)."""
        from bot.orders.mirror.mirror import Mirror

        if isinstance(self.orders, Mirror) and self.orders.keep_days:
            purgers = [*purgers, self.orders.purge]
        if self._retention is None:
            self._retention = asyncio.get_running_loop().create_task(
                run_retention(self.store, self.settings, every=every, purgers=purgers, leader=leader),
                name="retention")

    async def close(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        await self.orders.close()
        await self.notify.close()
        await self.store.close()


def default_orders(settings: Settings) -> OrderProvider:
    if settings.mirror_on:
        return build_mirror(settings)
    if settings.order_provider == "ozon":
        return _ozon_provider(settings)
    from bot.orders.demo import DemoOrderProvider

    return DemoOrderProvider(settings.demo_orders_path)


def ozon_budget(settings: Settings) -> dict[str, Any]:
    """The Seller API client's timeout, retries and circuit breaker, from OZON_TIMEOUT_SECONDS and friends."""
    return {"timeout": settings.ozon_timeout_seconds, "max_retries": settings.ozon_retries,
            "breaker_threshold": settings.ozon_breaker_failures,
            "breaker_cooldown": settings.ozon_breaker_cooldown_seconds,
            "breaker_max_cooldown": settings.ozon_breaker_max_cooldown_seconds}


def _ozon_provider(settings: Settings, *, read_returns: bool = True) -> Any:
    from bot.orders.ozon.provider import OzonOrderProvider

    if not settings.ozon_client_id or settings.ozon_api_key is None:
        raise SystemExit("ORDER_PROVIDER=ozon needs OZON_CLIENT_ID and OZON_API_KEY (environment or .env)")
    return OzonOrderProvider(settings.ozon_client_id, settings.ozon_api_key.get_secret_value(),
                             base_url=settings.ozon_base_url, cache_ttl=settings.ozon_cache_ttl,
                             fbs_get_rps=settings.ozon_fbs_get_rps, allow_cancel=settings.ozon_allow_cancel,
                             cross_border=settings.store_cross_border, read_returns=read_returns,
                             **ozon_budget(settings))


def build_mirror(settings: Settings, store: Any = None) -> Any:
    """The order mirror on the configured source (the Seller API, else the demo shop with its live
    postings), stored in the conversation database unless `store` (a `MirrorStore`) is given."""
    from bot.orders.mirror.mirror import Mirror
    from bot.orders.mirror.source import PostingSource

    upstream: Any = None
    source: PostingSource
    if settings.order_provider == "ozon":
        from bot.orders.mirror.source import OzonSource

        upstream = _ozon_provider(settings, read_returns=False)  # returns come from the mirror's returns sync
        source = OzonSource(upstream)
    else:
        from bot.orders.demo import DemoOrderProvider
        from bot.orders.mirror.demo_source import DemoSource

        source = DemoSource(DemoOrderProvider(settings.demo_orders_path), step=settings.demo_step_seconds)
    if store is None:
        from bot.store.backend import open_mirror_store

        store = open_mirror_store(settings)
    return Mirror(store, source, max_age=settings.mirror_max_age, sync_days=settings.mirror_days,
                  full_every=settings.mirror_full_sync_minutes * 60, upstream=upstream,
                  keep_days=settings.mirror_keep_days)


def build_app(settings: Settings | None = None, *, orders: OrderProvider | None = None,
              store: ConversationStore | None = None, catalogs: Catalogs | None = None,
              registry: FlowRegistry | None = None, clock: Clock | None = None, content: Content | None = None,
              notify: NotifyRecords | None = None) -> App:
    """The app with every collaborator not given built from `settings`. `content` (or `catalogs` and
    `registry`, the parts it is made of) replaces loading flows and catalogs from the files. Order
    watches (`notify`) live next to the store: in its SQLite file by default, in PostgreSQL with
    DATABASE_URL, in memory with a store given."""
    settings = settings or Settings()
    if content is None:
        catalogs = catalogs or Catalogs.load(settings.locales_dir)
        content = Content.of(catalogs, registry or load_flows(settings.flows_dir, catalogs))
    check_languages(settings, content.languages)
    set_buyer_timezone(settings.buyer_timezone)
    orders = orders or default_orders(settings)
    if store is None:
        from bot.notify.records_backend import open_notify_records
        from bot.store.backend import open_store

        store = open_store(settings)
        notify = notify or open_notify_records(settings)  # next to the store: its SQLite file, or PostgreSQL
    lookup = Lookup(orders, max_lookups=settings.lookups_per_hour, owner_attempts=settings.owner_attempts,
                    ledger=store, order_wrong_answers=settings.order_wrong_answers,
                    order_wrong_answers_no_phone=settings.order_wrong_answers_no_phone,
                    buyer_wrong_per_day=settings.owner_wrong_per_day, secret=ownership_secret(settings),
                    buyer_tz=settings.buyer_timezone)
    # The engine reads the snapshot the app holds at the start of each turn (`app` is bound below).
    engine = Engine(lambda: app.content, lookup, default_lang=settings.default_lang, clock=clock)
    app = App(settings, engine, store, orders, content, notify=notify, clock=clock)
    if callable(getattr(type(orders), "subscribe", None)):  # the order mirror: its changes reach buyers' watches
        orders.subscribe(app.notifier)  # type: ignore[attr-defined]
    return app


def ownership_secret(settings: Settings) -> bytes:
    """The key that picks decoys for the ownership question: from LINK_SECRET when set, else a random
    key made once in DATA_DIR (never derivable from the open-source code)."""
    if settings.link_secret is not None:
        return hmac.new(settings.link_secret.get_secret_value().encode(), b"ozonbot/ownership-decoys/v1",
                        hashlib.sha256).digest()
    path = settings.data_dir / "ownership.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


def check_languages(settings: Settings, languages: tuple[str, ...]) -> None:
    """DEFAULT_LANG and AGENTS_LANG must be languages with a catalog in locales/."""
    for name, value in (("DEFAULT_LANG", settings.default_lang), ("AGENTS_LANG", settings.agents_lang)):
        if value not in languages:
            raise SystemExit(f"{name}={value!r} has no catalog in {settings.locales_dir}; "
                             f"use one of: {', '.join(languages)}")
