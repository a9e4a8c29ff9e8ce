"""HTTP transport to the Seller API: one shared aiohttp session, auth headers, rate caps.

It makes exactly one attempt per call; `check_response` decides what the reply means and the
provider decides whether to retry.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.orders.ozon.errors import OzonTransientError, check_response
from bot.orders.ozon.ratelimit import RateLimits

DEFAULT_BASE_URL = "https://api-seller.ozon.ru"


class OzonClient:
    def __init__(self, client_id: str, api_key: str, *, base_url: str = DEFAULT_BASE_URL,
                 session: aiohttp.ClientSession | None = None, timeout: float = 10.0,
                 limits: RateLimits | None = None) -> None:
        self.client_id = str(client_id)
        self._headers = {"Client-Id": self.client_id, "Api-Key": api_key, "Content-Type": "application/json"}
        self.base_url = base_url.rstrip("/")
        self._session, self._owns_session = session, session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.limits = limits or RateLimits(50.0)

    def __repr__(self) -> str:  # never show the key
        return f"OzonClient(client_id={self.client_id!r}, base_url={self.base_url!r})"

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.limits.acquire(path)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(self.base_url + path, json=body, headers=self._headers,
                                          timeout=self._timeout) as resp:
                raw = await resp.read()
                return check_response(resp.status, resp.headers, raw)
        except TimeoutError as exc:
            raise OzonTransientError(f"{path}: no reply within {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise OzonTransientError(f"{path}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
