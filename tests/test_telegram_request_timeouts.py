"""bot/telegram/request_aiohttp.py: every PTB timeout is used, the write timeout included."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import pytest
from telegram.error import TimedOut
from telegram.request import BaseRequest

from bot.telegram.request_aiohttp import AiohttpRequest, SharedSession


def test_unset_timeouts_are_the_request_s_own():
    r = AiohttpRequest(read_timeout=4.0, write_timeout=3.0, connect_timeout=2.0, pool_timeout=1.0)
    t = r.timeout()
    assert (t.sock_read, t.sock_connect, t.connect, t.total) == (4.0, 2.0, 3.0, None)  # a JSON call: no deadline
    assert r.timeout(upload=True).total == 1.0 + 2.0 + 3.0 + 4.0
    assert AiohttpRequest().timeout(upload=True).total == 1.0 + 5.0 + 20.0 + 5.0  # 20 s to write an upload


def test_a_call_s_timeouts_win_and_none_means_unbounded():
    r = AiohttpRequest()
    t = r.timeout(read_timeout=40.0, write_timeout=1.0, connect_timeout=BaseRequest.DEFAULT_NONE, pool_timeout=0.5,
                  upload=True)
    assert (t.sock_read, t.sock_connect, t.connect, t.total) == (40.0, 5.0, 5.5, 46.5)
    assert r.timeout(read_timeout=None, upload=True).total is None
    assert r.timeout(write_timeout=None, upload=True).total is None


async def test_an_upload_the_server_never_reads_ends_with_timed_out():
    """aiohttp starts its read timeout only after the body is sent: the write timeout must bound it."""
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # accepted sockets inherit a tiny buffer
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(never_read, sock=listener)
    port = listener.getsockname()[1]
    request = AiohttpRequest(SharedSession(), read_timeout=0.3, write_timeout=0.3, connect_timeout=0.2,
                             pool_timeout=0.2)
    await request.initialize()
    body = SimpleNamespace(multipart_data={"document": ("big.bin", b"x" * (32 << 20), "application/octet-stream")},
                           json_parameters={"chat_id": "1"}, parameters={"chat_id": 1})
    started = time.monotonic()
    try:
        with pytest.raises(TimedOut):
            await asyncio.wait_for(request.do_request(f"http://127.0.0.1:{port}/botX/sendDocument", "POST", body,
                                                      write_timeout=0.3), 10)
    finally:
        await request.shutdown()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 3
