"""The one place that wires ports to adapters.

`build_app(settings, orders=..., store=..., ...)` fills each missing collaborator with its default,
so tests pass in only what they replace.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.actions import ActionRunner
from bot.conversation.followups import followups_of
from bot.conversation.io import Reply
from bot.engine.effects import Action, Choices, Handoff, Say
from bot.engine.engine import Engine, TurnResult
from bot.engine.events import Buyer, Event
from bot.engine.flowset import FlowRegistry
from bot.engine.loader import load_flows
from bot.engine.lookup import Lookup
from bot.engine.ports import Clock
from bot.engine.state import ConversationState
from bot.i18n.catalogs import Catalogs
from bot.i18n.locale import choose_language
from bot.i18n.render import Renderer
from bot.orders.provider import OrderProvider
from bot.settings import Settings
from bot.store.base import ConversationStore, Outgoing

log = logging.getLogger(__name__)


class App:
    """Engine + store + renderer: what every adapter (console, Telegram) talks to."""

    def __init__(self, settings: Settings, engine: Engine, store: ConversationStore, orders: OrderProvider,
                 catalogs: Catalogs, registry: FlowRegistry) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.orders = orders
        self.catalogs = catalogs
        self.registry = registry
        self.renderer = Renderer(catalogs)
        self.actions = ActionRunner(store, orders, self.renderer, allow_cancel=settings.ozon_allow_cancel)

    async def handle(self, chat_id: str, event: Event, buyer: Buyer, *, incoming: tuple[str, str] | None = None,
                     receipt: str | None = None) -> Reply:
        """Store the buyer's message, run the engine, store state and replies, return them rendered.

        With `receipt` (the inbox key of the update), the same transaction marks that update turned,
        with the turn's follow-ups, so a crash after it completes the turn instead of running it again."""
        if incoming is not None:
            await self.store.add_incoming(chat_id, incoming[0], incoming[1])
        state = await self.store.load_state(chat_id)
        result = await self.engine.handle(state, event, buyer)
        reply = self.render(result)
        for effect in result.effects:
            if isinstance(effect, Action):
                reply.outgoing += await self.actions.run(chat_id, effect, reply.lang)
        reply.message_ids = await self.store.save_turn(chat_id, result.state, reply.outgoing, result.events,
                                                       receipt=receipt, followups=followups_of(result.effects))
        return reply

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str:
        return self.renderer.text(msgid, lang, params, count)

    def language(self, state: ConversationState | None, buyer: Buyer) -> str:
        """The buyer's language outside a turn: the conversation's, else their client's, else the default."""
        if state is not None and state.lang:
            return state.lang
        return choose_language(None, buyer.language_code, None, self.settings.default_lang)

    def render(self, result: TurnResult) -> Reply:
        """Group effects into messages: each Say is a message; Choices attach to the last one."""
        lang = result.state.lang or self.settings.default_lang
        out: list[Outgoing] = []
        for effect in result.effects:
            kind = type(effect)
            if kind is Say:
                out.append(Outgoing("say", self.renderer.say(effect, lang), {"msg": effect.msg}))
            elif kind is Choices:
                buttons = self.renderer.buttons(effect, lang)
                node = result.state.at.node if result.state.at else ""
                if out and out[-1].kind == "say" and "buttons" not in out[-1].meta:
                    last = out.pop()
                    out.append(Outgoing("say", last.text, {**last.meta, "buttons": buttons, "node": node}))
                else:
                    out.append(Outgoing("say", self.renderer.text("common.choose", lang), {"buttons": buttons, "node": node}))
            elif kind is Handoff:
                out.append(Outgoing("handoff", "", {"reason": effect.reason, "flow": effect.flow_id}))
            # Ask, End, SetLanguage, Action: nothing to show (actions are run by App.handle)
        return Reply(out, result.effects, lang)

    async def close(self) -> None:
        await self.orders.close()
        await self.store.close()


def load_registry(settings: Settings, catalogs: Catalogs) -> FlowRegistry:
    return FlowRegistry(load_flows(settings.flows_dir, catalogs))


def default_orders(settings: Settings) -> OrderProvider:
    if settings.order_provider == "ozon":
        from bot.orders.ozon.provider import OzonOrderProvider

        if not settings.ozon_client_id or settings.ozon_api_key is None:
            raise SystemExit("ORDER_PROVIDER=ozon needs OZON_CLIENT_ID and OZON_API_KEY (environment or .env)")
        return OzonOrderProvider(settings.ozon_client_id, settings.ozon_api_key.get_secret_value(),
                                 base_url=settings.ozon_base_url, cache_ttl=settings.ozon_cache_ttl,
                                 fbs_get_rps=settings.ozon_fbs_get_rps, allow_cancel=settings.ozon_allow_cancel)
    from bot.orders.demo import DemoOrderProvider

    return DemoOrderProvider(settings.demo_orders_path)


def build_app(settings: Settings | None = None, *, orders: OrderProvider | None = None,
              store: ConversationStore | None = None, catalogs: Catalogs | None = None,
              registry: FlowRegistry | None = None, clock: Clock | None = None) -> App:
    settings = settings or Settings()
    catalogs = catalogs or Catalogs.load(settings.locales_dir)
    registry = registry or load_registry(settings, catalogs)
    orders = orders or default_orders(settings)
    if store is None:
        from bot.store.sqlite import SqliteStore

        store = SqliteStore(settings.store_path)
    lookup = Lookup(orders, max_lookups=settings.lookups_per_hour, owner_attempts=settings.owner_attempts)
    engine = Engine(registry, orders, catalogs, clock=clock, default_lang=settings.default_lang, lookup=lookup)
    return App(settings, engine, store, orders, catalogs, registry)
