"""PTB's HTTP transport on aiohttp: one shared ClientSession for getUpdates and every other call.

About an order of magnitude less overhead per call than httpx on a local Bot API (see
bench/telegram.py); selected with TELEGRAM_TRANSPORT=aiohttp (the default).

Timeouts: read, connect and pool as PTB's; the write timeout bounds uploads only. aiohttp has no
write timeout, and its read timeout starts once the body is sent, so an upload to a peer that stopped
reading would wait forever: an upload gets an overall deadline of pool + connect + write + read
(20 s of write time by default, PTB's `media_write_timeout`). A JSON call's body fits the socket
buffers at once, and a deadline's timer costs ~10 us of CPU a call (measured against a local
server), so JSON calls get none and the write timeout passed with them is not used.

Per call it does as little as it can: JSON bodies are encoded once, by pydantic-core, from PTB's
parameters as one JSON object (PTB's own `json_payload` JSON-encodes each parameter into a string
and then the whole again, with every non-ASCII character escaped; the Bot API takes both forms, and
PTB documents encoding `parameters` directly for a custom JSON library); URLs and timeouts are built
once; the session keeps no cookies (the Bot API sets none). Responses are decoded by pydantic-core
too (`parse_json_payload`, the hook PTB offers for a custom JSON library; about twice json.loads).

`call()` is the bot's own hot path (replies, answerCallbackQuery): one JSON body, encoded once, and
an answer nobody reads left unparsed. PTB's `Bot` glue around every call (a `RequestParameter` per
argument, defaults, warnings) cost about a third of a send (py-spy, bench/telegram.py). A refusal
goes through PTB's own response checking, so it raises exactly what `Bot` methods raise.
"""

from __future__ import annotations

from typing import Any, cast

import aiohttp
from pydantic_core import from_json, to_json
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


def _given(value: object, default: float | None) -> float | None:
    """A timeout passed to one call, or this request's own when the call left it unset."""
    return default if value is BaseRequest.DEFAULT_NONE else cast("float | None", value)


class _Answered(BaseRequest):
    """A response already received, checked by PTB's `BaseRequest.post` (its code -> exception map)."""

    def __init__(self, code: int, payload: bytes) -> None:
        self.code, self.payload = code, payload

    parse_json_payload = staticmethod(lambda payload: AiohttpRequest.parse_json_payload(payload))

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        return self.code, self.payload


class AiohttpRequest(BaseRequest):
    def __init__(self, shared: SharedSession | None = None, *, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 20.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        self._shared = shared or SharedSession()
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[object, ...], aiohttp.ClientTimeout] = {}
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

    def timeout(self, read_timeout: object = BaseRequest.DEFAULT_NONE, write_timeout: object = BaseRequest.DEFAULT_NONE,
                connect_timeout: object = BaseRequest.DEFAULT_NONE, pool_timeout: object = BaseRequest.DEFAULT_NONE,
                *, upload: bool = False) -> aiohttp.ClientTimeout:
        """The aiohttp timeouts of one call (None: no bound); an upload's include its overall deadline."""
        key = (read_timeout, write_timeout if upload else None, connect_timeout, pool_timeout, upload)
        cached = self._timeouts.get(key)
        if cached is not None:
            return cached
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        waiting = None if pool is None or connect is None else pool + connect  # pool wait + connecting
        total = None
        if upload and waiting is not None and write is not None and read is not None:
            total = waiting + write + read
        timeout = aiohttp.ClientTimeout(total=total, connect=waiting, sock_connect=connect, sock_read=read)
        if len(self._timeouts) < 64:
            self._timeouts[key] = timeout
        return timeout

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        timeout = self.timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, upload=bool(files))
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
        return await self._send(method, url, data, headers, timeout)

    async def call(self, url: str, parameters: dict[str, Any]) -> None:
        """POST one Bot API method with JSON `parameters` (plain JSON values); the answer is not
        parsed. Raises what a `Bot` method raises: RetryAfter, Forbidden, BadRequest, TimedOut,
        NetworkError..."""
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        try:
            code, payload = await self._send("POST", url, to_json(parameters), JSON_HEADERS, self.timeout())
        except TelegramError:
            raise
        except Exception as exc:  # as PTB's own wrapper does
            raise NetworkError(f"Unknown error in HTTP implementation: {exc!r}") from exc
        if not 200 <= code <= 299:
            await _Answered(code, payload).post(url)  # raises PTB's exception for this answer
            raise NetworkError(f"Unexpected answer ({code})")  # pragma: no cover - post() raised

    async def _send(self, method: str, url: str, data: aiohttp.FormData | bytes | None, headers: dict[str, str] | None,
                    limits: aiohttp.ClientTimeout) -> tuple[int, bytes]:
        assert self._session is not None
        target = self._urls.get(url)
        if target is None:
            target = URL(url)
            if len(self._urls) < URL_CACHE and "/file/" not in target.path:
                self._urls[url] = target
        try:
            async with self._session.request(method, target, data=data, headers=headers, timeout=limits) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut("Timed out") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(str(exc) or type(exc).__name__) from exc
