"""`ozonbot db migrate --to postgresql://...` moves an embedded deployment: what the SQLite file
held reads back the same through the PostgreSQL backends, new rows get new ids, and a database that
already holds rows is refused untouched."""

from __future__ import annotations

import asyncio

from bot.cli import main
from bot.engine.state import ConversationState, Position
from bot.handoff.records import TO_TOPIC, Topic
from bot.handoff.records_pg import PgHandoffRecords
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.notify.records_pg import PgNotifyRecords
from bot.notify.records_sqlite import SqliteNotifyRecords
from bot.orders.mirror.store import MirrorRow
from bot.store.base import InboxItem, Outgoing
from bot.store.mirror_pg import PgMirrorStore
from bot.store.mirror_sqlite import SqliteMirrorStore
from bot.store.postgres import PgStore
from bot.store.sqlite import SqliteStore
from tests.fake_ozon import sample


async def _embedded(path) -> None:
    store, records = SqliteStore(path), SqliteHandoffRecords(path)
    state = ConversationState(lang="ru", at=Position("cancel_order", "v1", "pick"), vars={"order_number": "1-2"})
    first = await store.add_incoming("c1", "text", "где заказ?")
    ids = await store.save_turn("c1", state, [Outgoing("say", "Выберите", {"buttons": [["a", "Да"]]})],
                                [("flow_started", {"flow": "cancel_order"})])
    await store.mark_delivery(ids[0], True)
    await store.mark_delivery(first, False, "forbidden")  # the error column too
    await store.record_action("c1", "urge_seller", {"posting": "1-2-3"})
    await store.inbox_add([InboxItem("tg:1", "c1", '{"update_id": 1}', 1.0), InboxItem("tg:2", "c1", "{}", 2.0)])
    await store.inbox_finish("tg:1")
    await store.owner_wrong("1-2", "c9", 5.0, lock_after=1, since=0.0)
    await store.claim_link("link-a", "c1", 6.0)
    await records.save_topic(Topic("c1", 77, "🟡 Анна", "Анна", "anna", "ru", "1-2"), 3.0, created=True)
    session = await records.add_session("c1", "cancel_order", "pick", "asked", 3.0)
    await records.enqueue("in:1", "c1", TO_TOPIC, "send", {"text": "привет"}, 4.0, session_id=session)
    await records.mark_sent((await records.relay("in:1")).id, -100, 555, 4.5)
    await records.enqueue("in:2", "c1", TO_TOPIC, "send", {"text": "ещё"}, 4.6, session_id=session)
    notice = await records.add_notice("c1", "urge_seller", {"posting": "1-2-3"}, 4.7)
    await records.set_outcome(notice, "done", "", "alice", 4.8)
    await records.add_note("c1", session, 42, "alice", "звонила", 4.9)
    await records.block("c5", "bob", 5.0)
    await store.close()
    await records.close()
    mirror = SqliteMirrorStore(path)  # the order mirror's tables live in the same file
    await mirror.commit([MirrorRow(sample("12345678-0001-1"), 100.0, 50.0)], [])
    await mirror.set_mark("fbs", "2026-11-20T09:00:00Z")
    await mirror.put_push("push-1", "TYPE_NEW_POSTING", '{"posting_number": "12345678-0001-1"}', 7.0)
    await mirror.close()
    notify = SqliteNotifyRecords(path)  # the proactive messages' tables too
    for chat in ("c2", "c1"):  # made at one moment: listed in the order they were made
        await notify.watch(chat, "12345678-0001-1", "12345678-0001", "ru", 8.0)
    await notify.advance("c1", "12345678-0001-1", 3, 8.5)
    sent = await notify.enqueue("c1:12345678-0001-1:3", 1001, {"text": "Заказ в пути", "buttons": [[["A", "a"]]]},
                                8.5)
    mid_send = await notify.enqueue("c2:12345678-0001-1:3", 1002, {"text": "在路上"}, 8.6)
    await notify.enqueue("digest:-100:1", -100, {"text": "<b>digest</b>", "parse_mode": "HTML"}, 8.7, thread_id=7)
    assert sent and mid_send and await notify.claim(sent) and await notify.claim(mid_send)
    await notify.mark_sent(sent, 4242, 9.0)  # the other one: the process stopped mid-send
    await notify.close()


async def _notify_snapshot(notify) -> tuple:
    return (await notify.watchers("12345678-0001-1"), await notify.watches("c1"), await notify.outbox(),
            await notify.counts(), await notify.last_sent(0.0, 99.0), await notify.due(99.0))


async def _mirror_snapshot(mirror) -> tuple:
    return ((await mirror.get(["12345678-0001-1"]))["12345678-0001-1"], await mirror.get_mark("fbs"),
            await mirror.pending_pushes(), await mirror.count())


async def _snapshot(store, records) -> dict:
    return {
        "state": (await store.load_state("c1")).to_json(),
        "transcript": [(e.id, e.direction, e.kind, e.text, e.meta, e.delivered) for e in await store.transcript("c1")],
        "actions": [(a["id"], a["name"], a["args"]) for a in await store.actions()],
        "analytics": [(e.chat_id, e.name, e.data) for e in await store.analytics()],
        "inbox": [(p.key, p.status, p.reply_ids) for p in await store.inbox_pending()],
        "tg:1": await store.inbox_status("tg:1"),
        "owner": await store.owner_record("1-2", "c9", 0.0),
        "link": await store.claim_link("link-a", "someone-else", 9.0),
        "topic": await records.topic_by_thread(77),
        "sessions": await records.sessions(),
        "relays": [(r.id, r.key, r.status, r.payload, r.dest_message_id) for r in await records.relays()],
        "notices": await records.notices(),
        "notes": await records.notes("c1"),
        "blocked": await records.is_blocked("c5"),
    }


async def test_db_migrate_copies_an_embedded_deployment(tmp_path, pg_url, monkeypatch, capsys):
    data = tmp_path / "data"
    await _embedded(data / "conversations.sqlite3")
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    before = await _snapshot(SqliteStore(data / "conversations.sqlite3"),
                             SqliteHandoffRecords(data / "conversations.sqlite3"))

    assert await asyncio.to_thread(main, ["db", "migrate", "--to", pg_url]) == 0  # the CLI runs its own loop
    out = capsys.readouterr().out
    assert "messages: 2 rows" in out and "handoff_relays: 2 rows" in out

    store, records = PgStore(pg_url), PgHandoffRecords(pg_url)
    after = await _snapshot(store, records)
    assert after == before
    sqlite_mirror, pg_mirror = SqliteMirrorStore(data / "conversations.sqlite3"), PgMirrorStore(pg_url)
    assert await _mirror_snapshot(pg_mirror) == await _mirror_snapshot(sqlite_mirror)
    await sqlite_mirror.close()
    await pg_mirror.close()
    sqlite_notify, pg_notify = SqliteNotifyRecords(data / "conversations.sqlite3"), PgNotifyRecords(pg_url)
    copied = await _notify_snapshot(pg_notify)
    assert copied == await _notify_snapshot(sqlite_notify)
    assert [w.chat_id for w in copied[0]] == ["c2", "c1"] and copied[1][0].last_rank == 3
    assert copied[3] == {"pending": 1, "sending": 1, "sent": 1, "failed": 0}
    assert await pg_notify.enqueue("c1:12345678-0001-1:3", 1001, {"text": "again"}, 10.0) is None, "keys copied"
    assert await pg_notify.enqueue("new", 1001, {"text": "t"}, 10.0) > max(o.id for o in copied[2])
    assert await pg_notify.recover() == 1, "caught mid-send before the move: no live sender holds it"
    await sqlite_notify.close()
    await pg_notify.close()
    last = max(e.id for e in await store.transcript("c1"))
    ids = await store.save_turn("c1", ConversationState(lang="ru"), [Outgoing("say", "new")], [])
    assert ids[0] > last, "new rows get ids after the copied ones"
    assert await records.enqueue("in:3", "c1", TO_TOPIC, "send", {}, 10.0) > max(r[0] for r in after["relays"])
    await store.close()
    await records.close()

    # a second copy into the same (now filled) database is refused, and changes nothing
    assert await asyncio.to_thread(main, ["db", "migrate", "--to", pg_url]) == 1
    assert "already holds rows" in capsys.readouterr().err
    store = PgStore(pg_url)
    assert [e.text for e in await store.transcript("c1")][-1] == "new"
    await store.close()


def test_db_migrate_refuses_what_it_cannot_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "empty"))
    assert main(["db", "migrate", "--to", "sqlite:///x"]) == 2
    assert "postgresql://" in capsys.readouterr().err
    assert main(["db", "migrate", "--to", "postgresql://u@/db?host=/nonexistent&port=1"]) == 1
    assert "does not exist" in capsys.readouterr().err
