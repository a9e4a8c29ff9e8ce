"""The terminal chat: the same conversation service as Telegram, with buttons shown numbered.

Interactive on a TTY; otherwise it reads one buyer line per stdin line and prints replies (one
JSON object per bot message with --json), so tests and scripts can drive it. With `--agent` the
person at the terminal is also the support agent: after a handoff, lines starting with `>> ` go to
the buyer as the agent's, and `>> /close` hands the conversation back to the bot.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, Literal

from bot.app import App
from bot.conversation.io import Inbound, Reply
from bot.conversation.ports import HandoffPort
from bot.conversation.ratelimit import RateLimiter
from bot.conversation.service import Conversation
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer, Command, Event, Media, Press, Start, Text
from bot.engine.state import ConversationState

HELP_LINE = "(/menu, /lang, /order NUMBER, /agent, /help; ':photo NAME' sends a photo; Ctrl-D quits)"
AGENT_PREFIX = ">> "


_MEDIA_KINDS: dict[str, Literal["photo", "video", "document"]] = {"photo": "photo", "video": "video",
                                                                 "document": "document"}


def event_from_line(text: str) -> Event:
    """A typed line as a buyer's event: `/start`, `/command arg`, `:photo NAME` (also video,
    document), or plain text. Used by the terminal chat and the operators' conversation tests."""
    stripped = text.strip()
    if stripped.startswith("/"):
        name, _, arg = stripped[1:].partition(" ")
        name = name.split("@")[0].lower()
        return Start() if name == "start" else Command(name, arg.strip())
    if stripped.startswith(":"):
        word, _, name = stripped[1:].partition(" ")
        kind = _MEDIA_KINDS.get(word)
        if kind is not None:
            return Media(kind, file_id=name or f"console-{kind}", size=1024, mime_type="image/jpeg")
    return Text(text)


class ConsoleChat:
    """One buyer at the terminal; also the `Channel` the conversation service answers through."""

    def __init__(self, app: App, *, user: str = "console", lang: str = "", json_mode: bool = False,
                 out: IO[str] | None = None, handoff: HandoffPort | None = None, agent: bool = False) -> None:
        self.app = app
        self.chat_id = f"console:{user}"
        self.buyer = Buyer(id=self.chat_id, language_code=lang, name=user)
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.buttons: list[list[str]] = []
        self.node = ""
        if handoff is None and agent:
            handoff = LocalAgents(app, self)
        self.conversation = Conversation(app, self, handoff,
                                         limiter=RateLimiter(app.settings.buyer_messages_per_minute),
                                         budget=app.settings.lookup_budget_seconds)
        self._working_shown = False  # "the bot is typing" printed since the last bot message

    def event_for(self, line: str) -> Event:
        """A line as an event; a button's number presses that button of the last reply."""
        text = line.rstrip("\n")
        stripped = text.strip()
        if stripped.isdigit() and self.buttons and 1 <= int(stripped) <= len(self.buttons):
            return Press(self.buttons[int(stripped) - 1][0], self.node)
        return event_from_line(text)

    async def send(self, line: str) -> Reply | None:
        if line.startswith(AGENT_PREFIX) and isinstance(self.conversation.handoff, LocalAgents):
            await self.conversation.handoff.agent_says(self, line[len(AGENT_PREFIX):].strip())
            return None
        event = self.event_for(line)
        kind = type(event).__name__.lower()
        return await self.conversation.handle(Inbound(self.chat_id, self.buyer, event, kind, line.strip()))

    # ---- the Channel --------------------------------------------------------------------------
    async def deliver(self, conversation: str, reply: Reply) -> None:
        self._working_shown = False
        self.show(reply)
        for message_id in reply.message_ids:
            await self.app.store.mark_delivery(message_id, True)

    async def send_text(self, conversation: str, text: str) -> None:
        self._working_shown = False
        self.line(text)

    async def working(self, conversation: str) -> None:
        """The terminal's "typing": one line while a turn runs past its budget (JSON: {"kind": "working"})."""
        if self._working_shown:
            return
        self._working_shown = True
        if self.json_mode:
            self.out.write(json.dumps({"kind": "working", "text": "", "buttons": []}) + "\n")
            self.out.flush()
        else:
            state = await self.app.store.load_state(self.chat_id)
            self.notice(self.app.text("console.working", self.app.language(state, self.buyer)))

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        self.line(f"[{filename}]\n" + data.decode())

    # ---- printing -----------------------------------------------------------------------------
    def line(self, text: str, buttons: list[list[str]] | None = None, kind: str = "say") -> None:
        if self.json_mode:
            self.out.write(json.dumps({"kind": kind, "text": text, "buttons": [b[1] for b in buttons or []]},
                                      ensure_ascii=False) + "\n")
        else:
            self.out.write(f"bot> {text}\n")
            for i, (_, label) in enumerate(buttons or [], 1):
                self.out.write(f"     [{i}] {label}\n")
        self.out.flush()

    def notice(self, text: str) -> None:
        if not self.json_mode:
            self.out.write(f"  ── {text} ──\n")
            self.out.flush()

    def show(self, reply: Reply) -> None:
        self.buttons, self.node = [], ""  # numbers pick buttons of the newest reply only
        for msg in reply.outgoing:
            buttons = msg.meta.get("buttons")
            if buttons is not None:
                self.buttons, self.node = buttons, msg.meta.get("node", "")
            if msg.kind == "handoff":
                if not self.conversation.handoff.available:
                    continue  # the no_agent flow follows and says so
                if self.json_mode:
                    self.out.write(json.dumps({"kind": "handoff", "text": "", "buttons": [],
                                               "reason": msg.meta.get("reason", "")}) + "\n")
                else:
                    self.notice(self.app.text("handoff.console_notice", reply.lang,
                                              {"reason": msg.meta.get("reason", "")}))
                continue
            self.line(msg.text, buttons)

    async def run(self, stdin: IO[str] | None = None) -> None:
        stdin = stdin or sys.stdin
        interactive = stdin.isatty()
        if interactive:
            self.out.write(HELP_LINE + "\n")
            if isinstance(self.conversation.handoff, LocalAgents):
                self.out.write(f"(agent mode: after a handoff, '{AGENT_PREFIX}text' answers as the agent, "
                               f"'{AGENT_PREFIX}/close' hands back to the bot)\n")
            await self.send("/start")
        while True:
            if interactive:
                self.out.write("you> ")
                self.out.flush()
            # read in a thread: the event loop keeps serving meanwhile (the order mirror's sync and push
            # endpoint, retention, live reload)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not interactive and not self.json_mode:
                self.out.write(f"you> {line.rstrip()}\n")
            await self.send(line)


class LocalAgents:
    """The person at the terminal is the support agent (`ozonbot chat --agent`): a HandoffPort."""

    available = True

    def __init__(self, app: App, console: ConsoleChat) -> None:
        self.app = app
        self.console = console
        self.active: set[str] = set()

    async def is_active(self, conversation: str) -> bool:
        return conversation in self.active

    async def start(self, conversation: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        self.active.add(conversation)
        self.console.notice(f"agent mode: {handoff.reason or 'buyer asked'}; '{AGENT_PREFIX}text' answers, "
                            f"'{AGENT_PREFIX}/close' hands back")
        self.console.line(self.app.text("handoff.queued_first", state.lang or self.app.settings.default_lang))

    async def relay_from_buyer(self, conversation: str, inbound: Inbound) -> None:
        return None  # the agent reads the buyer's line on the same screen

    async def buyer_left(self, conversation: str) -> None:
        self.active.discard(conversation)

    async def notify_action(self, conversation: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        self.console.notice(f"to the shop's staff: {action.name} {dict(action.args)}")

    async def agent_says(self, console: ConsoleChat, text: str) -> None:
        c = console.chat_id
        if c not in self.active:
            console.notice("no buyer is waiting for an agent")
            return
        if text == "/close":
            self.active.discard(c)
            state = await self.app.store.load_state(c)
            console.line(self.app.text("common.bot_resumed", self.app.language(state, console.buyer)))
            return
        await self.app.store.add_agent_message(c, "text", text)
        console.out.write(f"agent> {text}\n")
        console.out.flush()
