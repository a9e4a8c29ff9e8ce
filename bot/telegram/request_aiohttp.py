"""PTB's HTTP transport on aiohttp: one shared ClientSession for getUpdates and every other call.

About an order of magnitude less overhead per call than httpx on a local Bot API (see
bench/telegram.py); selected with TELEGRAM_TRANSPORT=aiohttp (the default).

Per call it does as little as it can: JSON bodies are encoded once, by pydantic-core, from PTB's
parameters as one JSON object (PTB's own `json_payload` JSON-encodes each parameter into a string
and then the whole again, with every non-ASCII character escaped; the Bot API takes both forms, and
PTB documents encoding `parameters` directly for a custom JSON library); URLs and timeouts are built
once; the session keeps no cookies (the Bot API sets none). Responses are decoded by pydantic-core
too (`parse_json_payload`, the hook PTB offers for a custom JSON library; about twice json.loads).
"""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic_core import from_json, to_json
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

JSON_HEADERS = {"Content-Type": "application/json"}
URL_CACHE = 256  # the Bot API's endpoints; file downloads (one URL each) are not kept


class SharedSession:
    """One aiohttp ClientSession shared by several requests; closed when the last one shuts down."""

    def __init__(self, pool_size: int = 256) -> None:
        self.pool_size = pool_size
        self.session: aiohttp.ClientSession | None = None
        self.users = 0

    async def acquire(self) -> aiohttp.ClientSession:
        self.users += 1
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, ttl_dns_cache=300)
            self.session = aiohttp.ClientSession(connector=connector, raise_for_status=False,
                                                 cookie_jar=aiohttp.DummyCookieJar(),
                                                 headers={"User-Agent": BaseRequest.USER_AGENT})
        return self.session

    async def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0 and self.session is not None:
            await self.session.close()
            self.session = None


class AiohttpRequest(BaseRequest):
    def __init__(self, shared: SharedSession | None = None, *, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        self._shared = shared or SharedSession()
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict:
        """As PTB's, with pydantic-core's parser: invalid UTF-8 replaced, invalid JSON a TelegramError."""
        try:
            return from_json(payload.decode("utf-8", "replace"))
        except ValueError as exc:
            raise TelegramError("Invalid server response") from exc

    async def initialize(self) -> None:
        if self._session is None:
            self._session = await self._shared.acquire()

    async def shutdown(self) -> None:
        if self._session is not None:
            self._session = None
            await self._shared.release()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE, pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        files = request_data.multipart_data if request_data else None
        headers = None
        data: aiohttp.FormData | bytes | None = None
        if files:
            form = aiohttp.FormData()
            for key, value in (request_data.json_parameters if request_data else {}).items():
                form.add_field(key, value)
            for key, (filename, content, mimetype) in files.items():
                form.add_field(key, content, filename=filename, content_type=mimetype)
            data = form
        elif request_data is not None and request_data.parameters:
            data = to_json(request_data.parameters)
            headers = JSON_HEADERS
        timeout = self._timeouts.get((read, connect, pool))
        if timeout is None:
            waiting = None if pool is None or connect is None else pool + connect  # pool wait + connecting
            timeout = self._timeouts[(read, connect, pool)] = aiohttp.ClientTimeout(
                total=None, connect=waiting, sock_connect=connect, sock_read=read)
        target = self._urls.get(url)
        if target is None:
            target = URL(url)
            if len(self._urls) < URL_CACHE and "/file/" not in target.path:
                self._urls[url] = target
        try:
            async with self._session.request(method, target, data=data, headers=headers, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except asyncio.TimeoutError as exc:
            raise TimedOut("Timed out") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(str(exc) or type(exc).__name__) from exc
