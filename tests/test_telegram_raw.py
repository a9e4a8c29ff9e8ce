"""Buyers' texts and presses read straight from the update's JSON (bot/telegram/raw.py) give the
service exactly what PTB's objects give (bot/telegram/inbound.py); every other shape is left to PTB."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from telegram import Bot, Update

from bot.telegram import raw
from bot.telegram.inbound import message_inbound, press_inbound
from bot.telegram.keyboards import encode, node_hash
from bot.telegram.ordering import chat_key
from tests.fake_telegram import TOKEN

BOT = Bot(TOKEN)
USER = {"id": 42, "is_bot": False, "first_name": "Анна", "language_code": "ru"}
CHAT = {"id": 42, "type": "private", "first_name": "Анна"}


def message(**content: Any) -> dict[str, Any]:
    return {"update_id": 7, "message": {"message_id": 3, "date": 1_700_000_000, "chat": CHAT, "from": USER, **content}}


def press(data: Any, **extra: Any) -> dict[str, Any]:
    query = {"id": "cq1", "from": USER, "chat_instance": "ci", "data": data,
             "message": {"message_id": 5, "date": 1_700_000_000, "chat": CHAT, "text": "…"}, **extra}
    return {"update_id": 8, "callback_query": query}


def verify(payload: str) -> None:
    return None


TEXTS = [
    message(text="где мой заказ"),
    message(text="/order 57195475-0050", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
    message(text="/start@my_bot abc"),
    message(text="57195475-0050-3", reply_to_message={"message_id": 2, "date": 1, "chat": CHAT, "text": "?"}),
    message(text="你好", **{"from": {**USER, "last_name": "Петрова", "language_code": "zh-hans"}}),
    message(text="hi", **{"from": {"id": 42, "is_bot": False, "first_name": "A"}}),  # no language code
]


@pytest.mark.parametrize("data", TEXTS, ids=lambda d: d["message"]["text"])
def test_a_text_reads_as_ptb_reads_it(data: dict[str, Any]) -> None:
    update = Update.de_json(copy.deepcopy(data), BOT)
    assert update is not None and update.message is not None
    fast = raw.read(data)
    assert fast is not None
    assert raw.text_inbound(fast, verify) == message_inbound(update, update.message, verify)
    assert chat_key(fast) == chat_key(update)
    assert fast.receipt == "tg:7"


@pytest.mark.parametrize("data, node_now", [
    (encode("menu", "status"), ""),
    (encode("a" * 70, "2"), "a" * 70),  # hashed, the buyer still there
    (encode("a" * 70, "2"), "elsewhere"),  # hashed, the buyer moved on: stale
    (f"h|{node_hash('x')}|1", ""),
    ("garbage", ""),
    ("c|only-one-bar", ""),
])
def test_a_press_reads_as_ptb_reads_it(data: str, node_now: str) -> None:
    update = Update.de_json(copy.deepcopy(press(data)), BOT)
    assert update is not None
    fast = raw.read(press(data))
    assert fast is not None
    assert fast.hashed_press == data.startswith("h|")
    assert raw.press_inbound(fast, node_now) == press_inbound(update, node_now)
    assert chat_key(fast) == chat_key(update)


GROUP = {"id": -100123, "type": "supergroup", "title": "agents"}
LEFT_TO_PTB = {
    "edit": {"update_id": 9, "edited_message": message(text="x", edit_date=2)["message"]},
    "edit date in a message": message(text="x", edit_date=2),
    "group text": {"update_id": 9, "message": {**message(text="x")["message"], "chat": GROUP}},
    "photo": message(photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]),
    "caption only": message(caption="x"),
    "empty text": message(text=""),
    "no sender": {"update_id": 9, "message": {"message_id": 3, "date": 1, "chat": CHAT, "text": "x"}},
    "two kinds": {**message(text="x"), "callback_query": press("c|a|b")["callback_query"]},
    "handoff button": press("ho:r:1:5"),
    "inline message press": {"update_id": 9, "callback_query": {
        "id": "cq", "from": USER, "chat_instance": "ci", "data": "c|a|b", "inline_message_id": "im"}},
    "game press": press(None, game_short_name="g"),
    "group press": {"update_id": 9, "callback_query": {**press("c|a|b")["callback_query"],
                                                       "message": {"message_id": 5, "date": 1, "chat": GROUP}}},
    "member update": {"update_id": 9, "my_chat_member": {"chat": CHAT}},
    "string id": {"update_id": "9", "message": message(text="x")["message"]},
    "chat id as text": {"update_id": 9, "message": {**message(text="x")["message"], "chat": {**CHAT, "id": "42"}}},
}


@pytest.mark.parametrize("name", LEFT_TO_PTB)
def test_other_shapes_are_left_to_ptb(name: str) -> None:
    assert raw.read(LEFT_TO_PTB[name]) is None
