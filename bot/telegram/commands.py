"""Buyer commands: how Telegram messages map to engine events, and the per-language command menus."""

from __future__ import annotations

from telegram import Bot, BotCommand

from bot.engine.events import Command, Event, Start

# Shown in Telegram's command menu, per the buyer's client language (setMyCommands language_code).
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "zh": {
        "start": "开始 / 主菜单",
        "menu": "主菜单",
        "lang": "切换语言 / Сменить язык",
        "order": "查询订单:/order 订单号",
        "agent": "联系人工客服",
        "history": "下载我的聊天记录",
        "help": "帮助",
        "bot": "结束人工对话,回到机器人",
    },
    "ru": {
        "start": "Начать / главное меню",
        "menu": "Главное меню",
        "lang": "Сменить язык / 切换语言",
        "order": "Статус заказа: /order НОМЕР",
        "agent": "Связаться с оператором",
        "history": "Скачать историю переписки",
        "help": "Помощь",
        "bot": "Вернуться к боту из очереди оператора",
    },
}
COMMANDS = tuple(DESCRIPTIONS["ru"])


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


async def set_commands(bot: Bot, default_lang: str) -> None:
    for lang, descriptions in DESCRIPTIONS.items():
        await bot.set_my_commands([BotCommand(n, d) for n, d in descriptions.items()], language_code=lang)
    # Clients in other languages see the default language's menu.
    await bot.set_my_commands([BotCommand(n, d) for n, d in DESCRIPTIONS[default_lang].items()])
