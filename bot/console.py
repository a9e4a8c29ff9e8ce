"""The terminal chat: the same engine and store as Telegram, with buttons shown numbered.

Interactive on a TTY; otherwise it reads one buyer line per stdin line and prints replies (one
JSON object per bot message with --json), so tests and scripts can drive it.
"""

from __future__ import annotations

import json
import sys
from typing import IO

from bot.app import App, Reply
from bot.engine.events import Buyer, Command, Event, Media, Press, Start, Text

HELP_LINE = "(/menu, /lang, /order NUMBER, /agent, /help; ':photo NAME' sends a photo; Ctrl-D quits)"


def event_from_line(text: str) -> Event:
    """A typed line as a buyer's event: `/start`, `/command arg`, `:photo NAME` (also video,
    document), or plain text. Used by the terminal chat and the operators' conversation tests."""
    stripped = text.strip()
    if stripped.startswith("/"):
        name, _, arg = stripped[1:].partition(" ")
        name = name.split("@")[0].lower()
        return Start() if name == "start" else Command(name, arg.strip())
    if stripped.startswith(":") and stripped[1:].split(" ")[0] in ("photo", "video", "document"):
        kind, _, name = stripped[1:].partition(" ")
        return Media(kind, file_id=name or f"console-{kind}", size=1024, mime_type="image/jpeg")  # type: ignore[arg-type]
    return Text(text)


class ConsoleChat:
    def __init__(self, app: App, *, user: str = "console", lang: str = "", json_mode: bool = False,
                 out: IO[str] | None = None) -> None:
        self.app = app
        self.chat_id = f"console:{user}"
        self.buyer = Buyer(id=self.chat_id, language_code=lang, name=user)
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.buttons: list[list[str]] = []
        self.node = ""

    def event_for(self, line: str) -> Event:
        """A line as an event; a button's number presses that button of the last reply."""
        text = line.rstrip("\n")
        stripped = text.strip()
        if stripped.isdigit() and self.buttons and 1 <= int(stripped) <= len(self.buttons):
            return Press(self.buttons[int(stripped) - 1][0], self.node)
        return event_from_line(text)

    async def send(self, line: str) -> Reply:
        event = self.event_for(line)
        kind = type(event).__name__.lower()
        reply = await self.app.handle(self.chat_id, event, self.buyer, incoming=(kind, line.strip()))
        self.show(reply)
        return reply

    def show(self, reply: Reply) -> None:
        self.buttons, self.node = [], ""  # numbers pick buttons of the newest reply only
        for msg in reply.outgoing:
            buttons = msg.meta.get("buttons")
            if buttons is not None:
                self.buttons, self.node = buttons, msg.meta.get("node", "")
            if self.json_mode:
                self.out.write(json.dumps({"kind": msg.kind, "text": msg.text, "buttons": [b[1] for b in buttons or []],
                                           **({"reason": msg.meta["reason"]} if msg.kind == "handoff" else {})},
                                          ensure_ascii=False) + "\n")
                continue
            if msg.kind == "handoff":
                notice = self.app.renderer.text("handoff.console_notice", reply.lang, {"reason": msg.meta.get("reason", "")})
                self.out.write(f"  ── {notice} ──\n")
                continue
            self.out.write(f"bot> {msg.text}\n")
            for i, (_, label) in enumerate(buttons or [], 1):
                self.out.write(f"     [{i}] {label}\n")
        self.out.flush()

    async def run(self, stdin: IO[str] | None = None) -> None:
        stdin = stdin or sys.stdin
        interactive = stdin.isatty()
        if interactive:
            self.out.write(HELP_LINE + "\n")
            await self.send("/start")
        while True:
            if interactive:
                self.out.write("you> ")
                self.out.flush()
            line = stdin.readline()
            if not line:
                break
            if not interactive and not self.json_mode:
                self.out.write(f"you> {line.rstrip()}\n")
            await self.send(line)
