"""The terminal path end to end: real flows, catalogs, demo orders and SQLite store."""

from tests.conftest import ChatDriver


async def test_start_shows_menu_in_russian(chat: ChatDriver):
    await chat.send("/start")
    assert "Здравствуйте" in chat.text
    assert any("оператор" in b for b in chat.buttons)


async def test_owner_check_then_status(app, demo_order):
    order = demo_order["packaging_on_time"]
    chat = ChatDriver(app, "b2", language_code="zh-hans")
    await chat.send(order.order_number)
    assert "后 4 位" in chat.text
    await chat.send("0000" if order.phone_last4 != "0000" else "1111")
    assert "2" in chat.text  # attempts left
    await chat.send(order.phone_last4)
    assert order.posting_number in chat.text


async def test_terminal_agent_mode_relays_and_hands_back(app):
    import io

    from bot.console import ConsoleChat

    out = io.StringIO()
    console = ConsoleChat(app, user="agent-test", lang="ru", out=out, agent=True)
    await console.send("/agent")
    assert "agent mode" in out.getvalue() and "в очереди" in out.getvalue()
    before = out.getvalue()
    await console.send("алло, есть кто?")
    assert out.getvalue() == before, "the bot stays silent while the agent owns the chat"
    await console.send(">> Здравствуйте, я оператор")
    await console.send(">> /close")
    transcript = await app.store.transcript(console.chat_id)
    assert [e.direction for e in transcript if e.text == "Здравствуйте, я оператор"] == ["agent"]
    assert app.text("common.bot_resumed", "ru") in out.getvalue()
    await console.send("/menu")
    assert out.getvalue().count("bot>") > before.count("bot>") + 1, "the bot answers again"


async def test_terminal_without_agents_says_nobody_can_join(app):
    import io

    from bot.console import ConsoleChat

    out = io.StringIO()
    await ConsoleChat(app, user="no-agent", lang="ru", out=out).send("/agent")
    state = await app.store.load_state("console:no-agent")
    assert state is not None and any(step.startswith("no_agent:") for step in state.path)
