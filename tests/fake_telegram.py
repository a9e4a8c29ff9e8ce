"""A fake Telegram Bot API: a real aiohttp web.Application on 127.0.0.1, port 0.

It answers the methods the bot uses with the Bot API's shapes, records every call, replays
scripted failures, feeds getUpdates from a queue (long-poll semantics) or POSTs updates to a
registered webhook, and offers helpers to inject buyer updates and await the bot's replies.

Extending it (forum topics, copyMessage, ...): subclass and add `api_<methodName>` coroutines, or
call `fake.register("createForumTopic", handler)` with `async def handler(params, call) -> result`.
Raise `ApiError(code, description, parameters)` from a handler to answer with an error. Any method
with no handler is recorded in `fake.unexpected` and answered 404, so tests can fail on it.

    fake = FakeTelegram()
    await fake.start()                  # fake.api_base -> "http://127.0.0.1:PORT/bot"
    fake.text(42, "/start")             # queue an update from chat 42
    calls = await fake.wait_sent(42, 1) # the first sendMessage to chat 42
    fake.fail("sendMessage", 429, retry_after=1)
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

TOKEN = "123456:TEST-token-for-the-fake"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Ozon Help", "username": "ozon_help_test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

# Parameters the Bot API takes as integers (form-encoded requests carry them as strings).
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "message_thread_id", "from_chat_id",
              "user_id", "max_connections", "reply_to_message_id", "cache_time"}


class ApiError(Exception):
    """Raise from a method handler to answer {"ok": false, ...} with this HTTP status."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


ERRORS = {
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    400: "Bad Request: message thread not found",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200  # what the fake answered
    done_at: float | None = None  # perf_counter when the answer was handed to the connection
    conn: int = 0  # which client connection carried it (for telling what a dead client never read)
    reset: bool = False  # the client's connection was reset after this answer: it died before reading it


@dataclass
class Failure:
    code: int
    description: str
    parameters: dict[str, Any] | None
    when: Callable[[dict[str, Any]], bool] | None


Handler = Callable[[dict[str, Any], Call], Awaitable[Any]]


def _coerce(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key in INT_FIELDS and value.lstrip("-").isdigit():
            return int(value)
        if value[:1] in "{[":
            try:
                return json.loads(value)
            except ValueError:
                return value
        if value in ("true", "false"):
            return value == "true"
    return value


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []  # answered calls, in the order they were answered
        self.requests: list[Call] = []  # the same calls, in the order they were received
        self.unexpected: list[Call] = []
        self.handlers: dict[str, Handler] = {}
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.pending: deque[dict[str, Any]] = deque()  # updates not yet confirmed by an offset
        self.served_at: dict[int, float] = {}  # update_id -> when getUpdates (or the webhook) served it
        self.deliveries: dict[int, int] = defaultdict(int)  # update_id -> times served (getUpdates or webhook POST)
        self.confirmed_at: dict[int, float] = {}  # update_id -> when an offset above it confirmed (dropped) it
        self.on_confirm: list[Callable[[list[int]], None]] = []  # told the update_ids each getUpdates confirms
        self.latency: dict[str, float] = {}  # method (lower case) -> seconds to wait before answering
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.documents: dict[int, bytes] = {}  # message_id -> content of a sent document
        self.record_calls = True  # False: keep no Call objects (benchmarks)
        self.on_send: Callable[[Call], None] | None = None  # a hook for benchmarks
        self._changed = asyncio.Condition()
        self._new_update = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._webhook_task: asyncio.Task | None = None
        self._webhook_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._last_on_conn: dict[int, Call] = {}
        self.port = 0
        self.closing = False
        for name in dir(self):
            if name.startswith("api_"):
                self.handlers[name[4:].lower()] = getattr(self, name)

    # ---- life ---------------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._serve)
        return app

    async def start(self) -> FakeTelegram:
        self._runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._watch_resets(self._runner.server)
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.closing = True
        if self._webhook_task:
            self._webhook_task.cancel()
        if self._client:
            await self._client.close()
        self._new_update.set()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        """For PTB's base_url / settings.telegram_api_base (the token is appended)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- extension points ---------------------------------------------------------------------
    def register(self, method: str, handler: Handler) -> None:
        self.handlers[method.lower()] = handler

    def fail(self, method: str, code: int, description: str | None = None, *, retry_after: int | None = None,
             times: int = 1, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next `times` calls of `method` (matching `when(params)`) answer this error."""
        params = {"retry_after": retry_after} if retry_after is not None else None
        text = description or ERRORS.get(code, "Error").format(retry_after=retry_after)
        for _ in range(times):
            self.failures[method.lower()].append(Failure(code, text, params, when))

    # ---- HTTP ---------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        files: dict[str, bytes] = {}
        raw: dict[str, Any] = {}
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.json() if request.can_read_body else {}
        elif ctype.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    raw[key] = f"attach://{key}"
                else:
                    raw[key] = value
        elif request.can_read_body:
            raw = dict(await request.post())
        raw.update(request.query)
        params = {k: _coerce(k, v) for k, v in raw.items()}
        for key, value in list(params.items()):  # "attach://name" -> the uploaded bytes' name
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                params[key] = {"attached": value[9:]}
        return params, files

    async def _serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, time.perf_counter(), files, conn=self._watch(request, method))
        if self.record_calls:
            self.requests.append(call)  # as received: a long poll shows here before it is answered
            self._notify()
        if request.match_info["token"] != self.token:
            return self._answer(call, ApiError(401, "Unauthorized"))
        key = method.lower()
        if self.latency.get(key):
            await asyncio.sleep(self.latency[key])
        handler = self.handlers.get(key)
        if handler is None:
            self.unexpected.append(call)
            return self._answer(call, ApiError(404, "Not Found: method not found"))
        failure = self._take_failure(key, params)
        if failure is not None:
            return self._answer(call, ApiError(failure.code, failure.description, failure.parameters))
        try:
            result = await handler(params, call)
        except ApiError as exc:
            return self._answer(call, exc)
        return self._answer(call, result)

    def _watch(self, request: web.Request, method: str) -> int:
        """Which client connection carries the request (see `_watch_resets`)."""
        return id(request.protocol)

    def _watch_resets(self, server: Any) -> None:
        """When a connection is reset (the client process died with our answer unread in its socket),
        mark the last call answered on it: `call.reset`."""
        lost = server.connection_lost

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            last = self._last_on_conn.pop(id(handler), None)
            if exc is not None and last is not None and last.done_at is not None:
                last.reset = True
            lost(handler, exc)

        server.connection_lost = connection_lost

    def _take_failure(self, key: str, params: dict[str, Any]) -> Failure | None:
        queue = self.failures.get(key)
        if not queue:
            return None
        for failure in queue:
            if failure.when is None or failure.when(params):
                queue.remove(failure)
                return failure
        return None

    def _answer(self, call: Call, result: Any) -> web.Response:
        if isinstance(result, ApiError):
            call.status = result.code
            body: dict[str, Any] = {"ok": False, "error_code": result.code, "description": result.description}
            if result.parameters:
                body["parameters"] = result.parameters
        else:
            body = {"ok": True, "result": result}
        call.done_at = time.perf_counter()
        if call.conn:
            self._last_on_conn[call.conn] = call
        if self.record_calls:  # benchmarks turn this off to keep memory flat
            self.calls.append(call)
        self._notify()
        if self.on_send is not None and call.status == 200:
            self.on_send(call)
        return web.Response(body=json.dumps(body, ensure_ascii=False).encode(), status=call.status,
                            content_type="application/json")

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()
        if self._changed._waiters:  # type: ignore[attr-defined]
            asyncio.get_running_loop().create_task(wake())

    # ---- methods ------------------------------------------------------------------------------
    async def api_getMe(self, params: dict[str, Any], call: Call) -> Any:
        return BOT_USER

    async def api_logOut(self, params: dict[str, Any], call: Call) -> Any:
        return True

    async def api_getUpdates(self, params: dict[str, Any], call: Call) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        confirmed = []
        while self.pending and self.pending[0]["update_id"] < offset:
            confirmed.append(self.pending.popleft()["update_id"])
        if confirmed:
            now = time.perf_counter()
            for update_id in confirmed:
                self.confirmed_at.setdefault(update_id, now)
            for hook in list(self.on_confirm):
                hook(confirmed)
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.closing:
                return []
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), left)
            except TimeoutError:
                return []
        batch = list(itertools.islice(self.pending, limit))
        now = time.perf_counter()
        for update in batch:
            self.served_at.setdefault(update["update_id"], now)
            self.deliveries[update["update_id"]] += 1
        return batch

    async def api_setWebhook(self, params: dict[str, Any], call: Call) -> Any:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        if self._webhook_task is None:
            self._webhook_task = asyncio.get_running_loop().create_task(self._post_updates())
        while self.pending:
            self._webhook_queue.put_nowait(self.pending.popleft())
        return True

    async def api_deleteWebhook(self, params: dict[str, Any], call: Call) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self.pending.clear()
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any], call: Call) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.pending)}

    async def api_setMyCommands(self, params: dict[str, Any], call: Call) -> Any:
        self.commands[params.get("language_code") or ""] = params["commands"]
        return True

    async def api_sendMessage(self, params: dict[str, Any], call: Call) -> Any:
        if len(params.get("text") or "") > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        if not (params.get("text") or "").strip():
            raise ApiError(400, "Bad Request: message text is empty")
        message = self._message(params["chat_id"], text=params["text"])
        if params.get("reply_markup"):
            self._check_markup(params["reply_markup"])
            if "inline_keyboard" in params["reply_markup"]:  # a sent Message carries only inline keyboards
                message["reply_markup"] = params["reply_markup"]
        return message

    async def api_sendDocument(self, params: dict[str, Any], call: Call) -> Any:
        message = self._message(params["chat_id"])
        doc = params.get("document")
        name = doc.get("attached") if isinstance(doc, dict) else None
        content = call.files.get(name or "", b"")
        self.documents[message["message_id"]] = content
        message["document"] = {"file_id": f"doc{message['message_id']}", "file_unique_id": f"u{message['message_id']}",
                               "file_name": "document.txt", "file_size": len(content)}
        if params.get("caption"):
            message["caption"] = params["caption"]
        return message

    async def api_editMessageText(self, params: dict[str, Any], call: Call) -> Any:
        message = self._message(params["chat_id"], text=params["text"], message_id=int(params["message_id"]))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def api_editMessageReplyMarkup(self, params: dict[str, Any], call: Call) -> Any:
        message = self._message(params["chat_id"], message_id=int(params["message_id"]), text="…")
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def api_answerCallbackQuery(self, params: dict[str, Any], call: Call) -> Any:
        return True

    async def api_sendChatAction(self, params: dict[str, Any], call: Call) -> Any:
        return True

    async def api_getFile(self, params: dict[str, Any], call: Call) -> Any:
        fid = params["file_id"]
        return {"file_id": fid, "file_unique_id": f"u{fid}", "file_size": 1024, "file_path": f"photos/{fid}.jpg"}

    def _message(self, chat_id: Any, text: str | None = None, message_id: int | None = None) -> dict[str, Any]:
        chat_id = int(chat_id)
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        out: dict[str, Any] = {"message_id": message_id or next(self._message_ids), "date": int(time.time()),
                               "chat": chat,
                               "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}}
        if text is not None:
            out["text"] = text
        return out

    @staticmethod
    def _check_markup(markup: dict[str, Any]) -> None:
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    # ---- injecting updates --------------------------------------------------------------------
    def user(self, chat_id: int, language_code: str = "ru") -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": f"Buyer{chat_id}", "language_code": language_code}

    def push(self, update: dict[str, Any]) -> int:
        """Queue a raw update (an `update_id` is assigned). Returns the update_id."""
        update = {"update_id": next(self._update_ids), **update}
        if self.webhook is not None:
            self._webhook_queue.put_nowait(update)
        else:
            self.pending.append(update)
            self._new_update.set()
        return update["update_id"]

    def message(self, chat_id: int, language_code: str = "ru", **content: Any) -> int:
        msg = {"message_id": next(self._message_ids), "date": int(time.time()),
               "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
               "from": self.user(abs(chat_id), language_code), **content}
        return self.push({"message": msg})

    def text(self, chat_id: int, text: str, language_code: str = "ru") -> int:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
        return self.message(chat_id, language_code, text=text, **({"entities": entities} if entities else {}))

    def command(self, chat_id: int, name: str, arg: str = "", language_code: str = "ru") -> int:
        return self.text(chat_id, f"/{name}" + (f" {arg}" if arg else ""), language_code)

    def press(self, chat_id: int, callback_data: str, message_id: int = 0, language_code: str = "ru") -> int:
        query = {"id": f"cq{next(self._update_ids)}", "from": self.user(chat_id, language_code),
                 "chat_instance": f"ci{chat_id}", "data": callback_data,
                 "message": {"message_id": message_id or 1, "date": int(time.time()),
                             "chat": {"id": chat_id, "type": "private"}, "text": "…"}}
        return self.push({"callback_query": query})

    def photo(self, chat_id: int, file_id: str = "photo", size: int = 50_000, language_code: str = "ru") -> int:
        sizes = [{"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-us", "width": 90, "height": 90,
                  "file_size": size // 20},
                 {"file_id": file_id, "file_unique_id": f"{file_id}-u", "width": 1280, "height": 960,
                  "file_size": size}]
        return self.message(chat_id, language_code, photo=sizes)

    def document(self, chat_id: int, file_id: str = "doc", size: int = 50_000, mime_type: str = "application/pdf",
                 language_code: str = "ru") -> int:
        doc = {"file_id": file_id, "file_unique_id": f"{file_id}-u", "file_name": "f", "mime_type": mime_type,
               "file_size": size}
        return self.message(chat_id, language_code, document=doc)

    def sticker(self, chat_id: int, language_code: str = "ru") -> int:
        sticker = {"file_id": "stk", "file_unique_id": "stku", "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False}
        return self.message(chat_id, language_code, sticker=sticker)

    async def _post_updates(self) -> None:
        """Deliver queued updates to the webhook one at a time, as Telegram does per bot."""
        self._client = ClientSession(timeout=ClientTimeout(total=10))
        while True:
            update = await self._webhook_queue.get()
            hook = self.webhook
            if hook is None:
                self.pending.append(update)
                continue
            headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook.get("secret_token") else {}
            self.served_at.setdefault(update["update_id"], time.perf_counter())
            try:
                async with self._client.post(hook["url"], json=update, headers=headers) as resp:
                    await resp.read()
            except Exception:  # noqa: BLE001 - a fake: a lost delivery shows up as a missing reply
                pass

    # ---- reading what the bot did -------------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        key = method.lower()
        return [c for c in self.calls if c.method.lower() == key and c.status == 200
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def sent(self, chat_id: int) -> list[Call]:
        """Successful sendMessage calls to `chat_id`, in order."""
        return self.calls_of("sendMessage", chat_id)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy (re-checked after every call); return its value.
        `predicate` may also return an awaitable (an `async def`, reading async records)."""
        async def check() -> Any:
            value = predicate()
            return await value if inspect.isawaitable(value) else value

        async def waiting() -> Any:
            async with self._changed:
                while not (value := await check()):
                    await self._changed.wait()
                return value
        return await asyncio.wait_for(waiting(), timeout)

    async def wait_sent(self, chat_id: int, count: int, timeout: float = 5.0) -> list[Call]:
        """Wait until `count` messages were sent to chat_id; return all sent to it so far."""
        return await self.wait_for(lambda: (lambda s: s if len(s) >= count else None)(self.sent(chat_id)), timeout)

    async def wait_method(self, method: str, count: int = 1, timeout: float = 5.0,
                          chat_id: int | None = None) -> list[Call]:
        def enough() -> list[Call] | None:
            calls = self.calls_of(method, chat_id)
            return calls if len(calls) >= count else None

        return await self.wait_for(enough, timeout)
