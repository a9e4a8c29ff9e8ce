"""Property: whatever a buyer sends, in any order, the engine answers and never raises."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.app import build_app
from bot.engine.events import Command, Media, Press, Start, Text
from bot.orders.demo import DemoOrderProvider, seed
from bot.store.memory import MemoryStore
from tests.conftest import NOW, FixedClock

NUMBERS = ["46208137-0007", "46208274-0014-1", "99999999-0000", "46212384-0224"]
texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["1", "2", "3", "0000", "1379", "取消", "отмена", "возврат", "оператор", "", " ", "🙂", "{x}",
                     "%s"]),
    st.sampled_from(NUMBERS),
)
events = st.one_of(
    texts.map(Text),
    st.sampled_from(["1", "2", "3", "skip", "x" * 70, "zh", "ru", "agent"]).flatmap(
        lambda oid: st.sampled_from(["", "menu", "pick", "find", "nowhere"]).map(lambda node: Press(oid, node))),
    st.sampled_from(["menu", "lang", "order", "agent", "help", "nope", "cancel", "return"]).flatmap(
        lambda name: st.sampled_from(["", "46208137-0007", "garbage"]).map(lambda arg: Command(name, arg))),
    st.just(Start()),
    st.sampled_from(["photo", "video", "document"]).map(lambda k: Media(k, "file-1", 2048)),  # type: ignore[arg-type]
)


def test_random_event_sequences_always_get_an_answer(tmp_path_factory, catalogs):
    data = tmp_path_factory.mktemp("prop")
    seed(data / "orders.sqlite3", now=NOW)
    from bot.settings import Settings

    app = build_app(Settings(data_dir=data, _env_file=None),  # type: ignore[call-arg]
                    catalogs=catalogs, clock=FixedClock(),
                    orders=DemoOrderProvider(data / "orders.sqlite3"), store=MemoryStore())
    counter = iter(range(10**9))

    @hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(events, min_size=1, max_size=12), st.sampled_from(["", "ru", "zh-CN", "en"]))
    def run(sequence, language_code):
        from bot.engine.events import Buyer

        chat_id = f"p{next(counter)}"
        buyer = Buyer(chat_id, language_code)

        async def go():
            for event in sequence:
                reply = await app.handle(chat_id, event, buyer)
                kinds = [o.kind for o in reply.outgoing]
                assert any(k in ("say", "handoff") for k in kinds), (event, reply.outgoing)
                assert all(o.text or o.kind == "handoff" for o in reply.outgoing)
                assert not any("Traceback" in o.text for o in reply.outgoing)

        asyncio.run(asyncio.wait_for(go(), 20))

    run()
