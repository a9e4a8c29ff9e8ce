"""Keeps the order mirror running: the periodic sync, the push worker and, when the push endpoint
has no server to share (the Telegram webhook's), a small aiohttp server of its own.

`ozonbot run` starts it when the mirror is on; the push endpoint only when `OZON_PUSH_SECRET` is
set (polling alone works without it: the sync then is the only way news arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from importlib import metadata

from aiohttp import web

from bot.orders.errors import OrderBackendError
from bot.orders.mirror.mirror import Mirror
from bot.push.endpoint import PushEndpoint, parse_networks
from bot.settings import Settings

log = logging.getLogger(__name__)

EARLY_SYNC_DELAY = 2.0  # a push about an unknown posting syncs early, after this pause (more may come)
PUSH_IDLE = 5.0  # the push worker looks at the store at least this often (pushes stored by another process)
PUSH_KEEP_DAYS = 7.0  # processed pushes are kept this long (a resend within it is recognised)


def service_for(orders: object, settings: Settings) -> MirrorService | None:
    """The service that keeps `orders` fresh, when they are the order mirror."""
    return MirrorService.from_settings(orders, settings) if isinstance(orders, Mirror) else None


def endpoint_for(mirror: Mirror, settings: Settings) -> PushEndpoint | None:
    """The push endpoint when OZON_PUSH_SECRET is set. Raises ValueError for a bad OZON_PUSH_ALLOW_IPS."""
    if settings.ozon_push_secret is None:
        return None
    return PushEndpoint(mirror.store, settings.ozon_push_secret.get_secret_value(),
                        allow=parse_networks(settings.ozon_push_allow_ips),
                        trust_forwarded=settings.ozon_push_trust_forwarded, version=app_version())


def app_version() -> str:
    try:
        return metadata.version("ozonbot")
    except metadata.PackageNotFoundError:
        return "0"


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"OZON_PUSH_LISTEN must be host:port, got {text!r}")
    return host, int(port)


class MirrorService:
    def __init__(self, mirror: Mirror, *, sync_every: float = 60.0, endpoint: PushEndpoint | None = None,
                 listen: tuple[str, int] = ("127.0.0.1", 8081)) -> None:
        self.mirror, self.sync_every, self.endpoint, self.listen = mirror, sync_every, endpoint, listen
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None
        self.port = 0  # the own server's port, once started
        self.last_sync_error = ""
        self._shared = False  # the endpoint is served by another server (the Telegram webhook's)

    @classmethod
    def from_settings(cls, mirror: Mirror, settings: Settings) -> MirrorService:
        return cls(mirror, sync_every=settings.mirror_sync_seconds, endpoint=endpoint_for(mirror, settings),
                   listen=listen_address(settings.ozon_push_listen))

    def attach(self, app: web.Application) -> bool:
        """Serve the push endpoint on `app` (the Telegram webhook's server, before it starts)."""
        if self.endpoint is None:
            return False
        self.endpoint.attach(app)
        self._shared = True
        return True

    async def start(self) -> None:
        if self.endpoint is not None and not self._shared:
            app = web.Application(client_max_size=2 * 1024 * 1024)
            self.endpoint.attach(app)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, *self.listen)
            await site.start()
            self.port = self._runner.addresses[0][1]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sync_loop(), name="mirror-sync")]
        if self.endpoint is not None:
            self._tasks.append(loop.create_task(self._push_loop(), name="mirror-push"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _sync_loop(self) -> None:
        while True:
            try:
                report = await self.mirror.sync()
                self.last_sync_error = ""
                log.info("mirror sync (%s): %d postings read, %d changes %s", report.mode, report.read,
                         report.changes, report.kinds)
            except OrderBackendError as exc:
                self.last_sync_error = str(exc)
                log.warning("mirror sync failed, lookups fall back to targeted reads: %s", exc)
            except Exception:
                log.exception("mirror sync failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.mirror.sync_wanted.wait(), self.sync_every)
                await asyncio.sleep(EARLY_SYNC_DELAY)
            self.mirror.sync_wanted.clear()

    async def _push_loop(self) -> None:
        assert self.endpoint is not None
        purged_at = 0.0
        while True:
            self.endpoint.received.clear()
            try:
                while await self.mirror.process_pushes():
                    pass
                if time.time() - purged_at > 3600:
                    purged_at = time.time()
                    await self.mirror.store.purge_pushes(purged_at - PUSH_KEEP_DAYS * 86400)
            except Exception:
                log.exception("processing Ozon pushes failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.endpoint.received.wait(), PUSH_IDLE)
