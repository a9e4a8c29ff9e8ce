"""Running the Ozon chat adapter inside `ozonbot run` (OZON_CHAT=true).

    async with ozon_chat(app, settings, handoff) as adapter:   # None when OZON_CHAT is off
        ...   # pushes come through the order mirror's endpoint; polling runs in the background

At start-up it says what the key may do (read, write: the Premium Plus/Pro subscription), replays
what a crash left unanswered, registers its push handlers with the order mirror (whose endpoint,
`POST /ozon/push/<secret>`, stores each push before calling them), then polls /v3/chat/list every
OZON_CHAT_POLL_SECONDS (0: push only).
The chat calls share the order provider's rate caps when ORDER_PROVIDER=ozon (one Client-Id, one
50 requests/s budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bot.conversation.ports import HandoffPort, NoHandoff
from bot.conversation.ratelimit import RateLimiter
from bot.orders.ozon.client import OzonClient
from bot.orders.ozon.errors import OzonError
from bot.orders.ozon.ratelimit import RateLimits
from bot.ozonchat import agents
from bot.ozonchat.access import probe
from bot.ozonchat.adapter import CHAT_CLOSED, NEW_MESSAGE, UPDATE_MESSAGE, OzonChatAdapter
from bot.ozonchat.api import OzonChatApi
from bot.settings import Settings

log = logging.getLogger(__name__)
PushHandler = Callable[[dict[str, Any]], Awaitable[None]]
DRAIN_SECONDS = 10.0


class OzonChatSetupError(RuntimeError):
    """OZON_CHAT=true but the adapter cannot start: the message says what to fix."""


def chat_api(app: Any, settings: Settings) -> OzonChatApi:
    if not settings.ozon_client_id or settings.ozon_api_key is None:
        raise OzonChatSetupError("OZON_CHAT=true needs OZON_CLIENT_ID and OZON_API_KEY (environment or .env)")
    shared = getattr(getattr(app.orders, "client", None), "limits", None)  # the order provider's caps
    limits = shared if isinstance(shared, RateLimits) else RateLimits(50.0)
    return OzonChatApi(OzonClient(settings.ozon_client_id, settings.ozon_api_key.get_secret_value(),
                                  base_url=settings.ozon_base_url, limits=limits))


def push_handlers(adapter: OzonChatAdapter) -> dict[str, PushHandler]:
    """message_type -> handler, for the push endpoint (`POST /ozon/push/<secret>`)."""
    return {NEW_MESSAGE: adapter.handle_push, UPDATE_MESSAGE: adapter.handle_push, CHAT_CLOSED: adapter.handle_push}


@contextlib.asynccontextmanager
async def ozon_chat(app: Any, settings: Settings, handoff: HandoffPort | None = None, *,
                    api: OzonChatApi | None = None, say: Callable[[str], None] = print,
                    leader: Callable[[], bool] | None = None) -> AsyncIterator[OzonChatAdapter | None]:
    """Ozon chat while the block runs (None when OZON_CHAT is off). `leader`: several processes
    share the database; only the leader polls (see `OzonChatAdapter.poll_forever`)."""
    if not settings.ozon_chat:
        yield None
        return
    handoff = handoff or NoHandoff()
    api = api or chat_api(app, settings)
    try:
        access = await probe(api)
    except OzonError as exc:
        await api.close()
        raise OzonChatSetupError(f"Ozon chat: the Seller API cannot be asked ({exc})") from exc
    say(access.summary)
    if not access.can_read:
        await api.close()
        raise OzonChatSetupError(access.summary)
    if access.can_write is False and not handoff.available:
        say("Ozon chat: without agents (AGENTS_CHAT_ID) nobody answers these chats; messages are only recorded")
    adapter = OzonChatAdapter(app, api, handoff=handoff, writable=access.can_write is not False,
                              note=agents.topic_note(handoff),
                              limiter=RateLimiter(settings.buyer_messages_per_minute),
                              lease=settings.database_lease_seconds)
    agents.attach(handoff, adapter.channel, adapter.conversation.start_flow)
    register = getattr(app.orders, "on_push", None)  # the order mirror's push endpoint (OZON_PUSH_SECRET)
    if register is not None:
        for kind, handler in push_handlers(adapter).items():
            register(kind, handler)
    stop = asyncio.Event()
    poller: asyncio.Task[None] | None = None
    try:
        await adapter.recover()
        if settings.ozon_chat_poll_seconds > 0:
            poller = asyncio.create_task(adapter.poll_forever(settings.ozon_chat_poll_seconds, stop, leader=leader),
                                         name="ozonchat-poll")
        yield adapter
    finally:
        stop.set()
        if poller is not None:
            await poller
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(adapter.drain(), DRAIN_SECONDS)
        await adapter.close()
        await api.close()


async def run_alone(settings: Settings) -> int:
    """`ozonbot run` without a Telegram token and OZON_CHAT=true: Ozon chat only, no agents (with the
    order mirror's sync and push endpoint when the mirror is on, as `ozonbot run` with Telegram)."""
    from bot.app import build_app
    from bot.push.service import service_for
    from bot.runtime import stop_on_signals, tune_gc

    app = build_app(settings)
    mirror = service_for(app.orders, settings)
    try:
        tune_gc()
        stop = asyncio.Event()
        stop_on_signals(stop)
        if mirror is not None:
            await mirror.start()
        async with ozon_chat(app, settings):
            print("Ozon chat is running (no TELEGRAM_BOT_TOKEN: no agents' group). Ctrl-C stops it.", flush=True)
            app.start_retention()
            await stop.wait()
    finally:
        if mirror is not None:
            await mirror.stop()
        await app.close()
    return 0
