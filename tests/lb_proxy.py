"""A small round-robin load balancer on loopback: one webhook address in front of several bot
processes, as a deployment's load balancer is.

Each POST goes to the next backend; a backend that refuses the connection (its process is dead)
is skipped for the next one, as a load balancer's health check would; a backend that dies during
the request gives 502, and Telegram (the fake) posts the update again later.

    proxy = await RoundRobin([port1, port2, port3]).start()
    proxy.url("/tg/hook")      # the webhook URL every bot process registers
    proxy.served               # Counter: port -> requests answered
    proxy.in_flight            # Counter: port -> requests being handled now (a kill then is mid-turn)
"""

from __future__ import annotations

import itertools
from collections import Counter

from aiohttp import ClientConnectorError, ClientSession, ClientTimeout, web


class RoundRobin:
    def __init__(self, ports: list[int], *, timeout: float = 30.0) -> None:
        self.ports = list(ports)
        self.timeout = timeout
        self.served: Counter[int] = Counter()
        self.in_flight: Counter[int] = Counter()  # port -> requests forwarded and not yet answered
        self._next = itertools.cycle(range(len(self.ports)))
        self._client: ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> RoundRobin:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._client = ClientSession(timeout=ClientTimeout(total=self.timeout))
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        for _ in range(len(self.ports)):
            port = self.ports[next(self._next)]
            self.in_flight[port] += 1
            try:
                async with self._client.request(request.method, f"http://127.0.0.1:{port}{request.path_qs}",
                                                data=body, headers=headers) as resp:
                    payload = await resp.read()
                    self.served[port] += 1
                    return web.Response(status=resp.status, body=payload)
            except ClientConnectorError:
                continue  # not listening (dead or starting): the next one
            except Exception:  # noqa: BLE001 - died mid-request: the sender tries again later
                return web.Response(status=502, text="backend failed")
            finally:
                self.in_flight[port] -= 1
        return web.Response(status=503, text="no backend")

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
