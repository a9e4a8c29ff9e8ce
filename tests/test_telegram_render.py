"""HTML escaping, splitting at 4096, callback data within 64 bytes."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.conversation.io import Reply
from bot.store.base import Outgoing
from bot.telegram.delivery import RetryPolicy, send_rendered
from bot.telegram.keyboards import MAX_CALLBACK_BYTES, STALE_NODE, decode, encode, resolve_node
from bot.telegram.render import MAX_MESSAGE, render_reply, split_html
from tests.fake_telegram import TOKEN, FakeTelegram


def test_dynamic_text_is_escaped():
    reply = Reply([Outgoing("say", "Чехол <Pro> & плёнка", {"buttons": [["a", "1 < 2 & 3"]], "node": "n"})],
                  [], "ru", [1])
    [msg] = render_reply(reply)
    assert msg.chunks == ["Чехол &lt;Pro&gt; &amp; плёнка"]
    assert msg.markup.inline_keyboard[0][0].text == "1 < 2 & 3"  # button labels are plain text


def test_long_text_splits_under_4096_at_boundaries():
    text = ("Строка <b> & текст. " * 40 + "\n") * 30
    chunks = split_html(text)
    assert len(chunks) > 1 and all(len(c) <= MAX_MESSAGE for c in chunks)
    assert all(not c.endswith("&amp") and "&amp;" in c for c in chunks)
    import html
    assert "".join(html.unescape(c) for c in chunks).split() == text.split()  # nothing lost
    one_word = "&" * 10_000
    parts = split_html(one_word)
    assert all(len(p) <= MAX_MESSAGE for p in parts) and sum(p.count("&amp;") for p in parts) == 10_000


@given(st.text(min_size=1, max_size=12_000))
@hsettings(max_examples=60, deadline=None)
def test_split_property(text):
    chunks = split_html(text)
    assert all(0 < len(c) <= MAX_MESSAGE for c in chunks)


@given(st.text(min_size=0, max_size=200), st.text(min_size=1, max_size=40))
@hsettings(max_examples=200, deadline=None)
def test_callback_data_fits_and_round_trips(node, option):
    data = encode(node, option)
    assert 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES
    cb = decode(data)
    assert cb is not None
    assert resolve_node(cb, node) == node or (node == "" and resolve_node(cb, node) == STALE_NODE)
    if not cb.hashed:
        assert cb.option_id == option
    else:  # a hash stands for the current node only; the engine compares plain node ids itself
        assert resolve_node(cb, node + "x") == STALE_NODE


async def test_split_message_sent_as_several_with_keyboard_last():
    long = "Товар <x> & " * 800  # ~9,600 characters before escaping
    reply = Reply([Outgoing("say", long, {"buttons": [["ok", "OK"]], "node": "n"})], [], "ru", [])

    async def go():
        async with FakeTelegram() as fake:
            from telegram import Bot
            async with Bot(TOKEN, base_url=fake.api_base) as bot:
                ok = await send_rendered(bot, None, 5, render_reply(reply), RetryPolicy())
            sent = fake.sent(5)
            assert ok and len(sent) >= 3
            assert all(len(c.params["text"]) <= MAX_MESSAGE for c in sent)
            assert [bool(c.params.get("reply_markup")) for c in sent] == [False] * (len(sent) - 1) + [True]
            assert fake.unexpected == []
    await asyncio.wait_for(go(), 10)
