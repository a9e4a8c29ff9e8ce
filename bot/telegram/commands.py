"""Buyer commands: how Telegram messages map to engine events, and the per-language command menus."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Bot, BotCommand

from bot.engine.events import Command, Event, Start

# Buyers' commands, in the order of Telegram's command menu; each one's description is the catalog
# message `command.<name>` in every language of locales/ (setMyCommands language_code).
COMMANDS = ("start", "menu", "lang", "order", "agent", "history", "help", "bot", "stop")
Text = Callable[[str, str], str]  # (msgid, lang) -> text


def parse_command(text: str) -> tuple[str, str] | None:
    """'/order@my_bot 123' -> ('order', '123'); None when the text is not a command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, arg = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name:
        return None
    return name, arg.strip()


def command_event(name: str, arg: str, verify_link=None) -> Event:
    """/start (with an optional signed deep-link payload) -> Start; anything else -> Command."""
    if name == "start":
        link = verify_link(arg) if (arg and verify_link is not None) else None
        if link is None:  # no link, or not one we signed: a plain /start
            return Start()
        return Start(verified_posting=link.posting, link_id=link.link_id, link_expired=link.expired)
    return Command(name, arg)


async def set_commands(bot: Bot, text: Text, languages: tuple[str, ...], default_lang: str) -> None:
    """The command menu in each catalog's language; clients in other languages see the default one."""
    for lang in languages:
        await bot.set_my_commands(menu(text, lang), language_code=lang)
    await bot.set_my_commands(menu(text, default_lang))


def menu(text: Text, lang: str) -> list[BotCommand]:
    return [BotCommand(name, text(f"command.{name}", lang)[:256]) for name in COMMANDS]
