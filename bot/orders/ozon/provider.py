"""`OzonOrderProvider`: the `OrderProvider` on the Ozon Seller API.

A posting number is read with `/v3/posting/fbs/get` (FBS and rFBS), falling back to
`/v2/posting/fbo/get`; an order number is first turned into postings with `/v4/posting/fbs/list`
and `/v3/posting/fbo/list`. Delivered and cancelled postings get their returns from
`/v1/returns/list`. Results are cached per posting for `cache_ttl` seconds, concurrent lookups of
one number share a call, and calls are rate-capped, retried with backoff and guarded by a circuit
breaker. During an outage a cached copy is served as is: its `fetched_at` shows how old it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order, ReturnInfo, Scheme
from bot.orders.numbers import OrderRef
from bot.orders.ozon import mapping
from bot.orders.ozon.breaker import CircuitBreaker
from bot.orders.ozon.cache import Coalescer, TTLCache
from bot.orders.ozon.client import DEFAULT_BASE_URL, OzonClient
from bot.orders.ozon.errors import (
    CancelDisabled,
    CircuitOpen,
    OzonAuthError,
    OzonError,
    OzonNotFound,
    OzonRateLimited,
    OzonTransientError,
)
from bot.orders.ozon.ratelimit import RateLimits
from bot.retry import RetryPolicy, retry_call

log = logging.getLogger(__name__)

FBS_GET = "/v3/posting/fbs/get"
FBO_GET = "/v2/posting/fbo/get"
FBS_LIST = "/v4/posting/fbs/list"
FBO_LIST = "/v3/posting/fbo/list"
RETURNS_LIST = "/v1/returns/list"
ROLES = "/v1/roles"
FBS_CANCEL = "/v2/posting/fbs/cancel"
CANCEL_REASONS = "/v2/posting/fbs/cancel-reason/list"

# 0.5 s doubling to 8 s, each wait between half and all of its step; a Retry-After over 10 s fails at once
# (a 'Circle is open' lock lasts minutes, longer than a buyer waits). 5 tries: the first and 4 retries.
OZON_RETRY = RetryPolicy(attempts=5, base=0.5, cap=8.0, jitter=0.5, max_retry_after=10.0)
RETURN_STATUSES = frozenset({"delivered", "cancelled"})  # returns exist only after delivery or refusal
AUTH_LOG_PERIOD = 600.0  # seconds between two loud log lines about a rejected key
CANCEL_REASONS_TTL = 3600.0
PRODUCTS_TTL = 3600.0  # the shop's product names (decoys for the ownership question) are listed again hourly
PRODUCTS_DAYS = 30  # ... from the postings of this many days
MAX_SEEN_PRODUCTS = 2000
_UNAVAILABLE = (OzonTransientError, OzonRateLimited, CircuitOpen)  # a cached copy may stand in


def _retry_after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, OzonRateLimited) else None


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OzonOrderProvider:
    def __init__(self, client_id: str, api_key: str, *, base_url: str = DEFAULT_BASE_URL,
                 session: aiohttp.ClientSession | None = None, cache_ttl: float = 30.0, fbs_get_rps: float = 2.0,
                 global_rps: float = 50.0, max_retries: int | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 10.0, breaker_threshold: int = 5, breaker_reset: float = 30.0,
                 allow_cancel: bool = False, cross_border: bool = False, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, read_returns: bool = True) -> None:
        self.client = OzonClient(client_id, api_key, base_url=base_url, session=session, timeout=timeout,
                                 limits=RateLimits(global_rps, {FBS_GET: fbs_get_rps}))
        self.retry = retry or OZON_RETRY
        if max_retries is not None:  # retries after the first try
            self.retry = replace(self.retry, attempts=max_retries + 1)
        self.allow_cancel = allow_cancel
        self.cross_border = cross_border  # STORE_CROSS_BORDER: the shop's rFBS postings come from abroad
        # Under the order mirror, returns come from its periodic /v1/returns/list sync (one call per 500
        # returns that moved), not from one call per delivered or cancelled posting read.
        self.read_returns = read_returns
        self.breaker = CircuitBreaker(breaker_threshold, breaker_reset, clock=clock)
        self._cache: TTLCache[Any] = TTLCache(cache_ttl, clock=clock)
        self._reasons: TTLCache[list[mapping.CancelReason]] = TTLCache(CANCEL_REASONS_TTL, clock=clock)
        self._products: TTLCache[list[str]] = TTLCache(PRODUCTS_TTL, clock=clock)
        self._seen_products: dict[str, None] = {}  # names of products in postings read, oldest first
        self._inflight = Coalescer()
        self._clock, self._sleep = clock, sleep
        self._auth_logged_at: float | None = None

    # --- OrderProvider ---------------------------------------------------------------------------

    async def find(self, ref: OrderRef) -> list[Order]:
        try:
            if ref.posting_number:
                return await self._posting(ref.posting_number)
            return await self._order(ref.order_number)
        except OzonAuthError as exc:
            self._alarm(exc)
            raise OrderBackendUnavailable("Ozon Seller API rejected the credentials") from exc
        except OzonError as exc:
            raise OrderBackendUnavailable(f"Ozon Seller API cannot answer: {exc}") from exc

    async def close(self) -> None:
        await self.client.close()

    # --- Key check and cancelling ------------------------------------------------------------------

    async def roles(self) -> mapping.KeyRoles:
        """The key's roles and expiry (`/v1/roles`). Raises the specific `OzonError`s."""
        return mapping.key_roles(await self._call(ROLES, {}))

    async def cancel_reasons(self) -> list[mapping.CancelReason]:
        """FBS cancellation reasons, cached for an hour."""
        cached = self._reasons.get("all")
        if cached is not None:
            return cached
        return await self._inflight.run(("reasons",), self._load_reasons)

    async def product_names(self) -> list[str]:
        """What the shop sells, for the decoys of the ownership question (orders without a phone):
        the products of the FBS and FBO postings of the last 30 days (two list calls, hourly) and of
        every posting read. An API failure leaves only the latter: fewer decoys, never an error."""
        listed = self._products.get("all")
        if listed is None:
            try:
                listed = await self._inflight.run(("products",), self._load_products)
            except OzonError as exc:
                log.info("listing recent postings for product names failed: %s", exc)
                listed = []
        return sorted(set(listed) | set(self._seen_products))

    async def _load_products(self) -> list[str]:
        now = datetime.now(UTC)
        body = {"filter": {"since": _utc(now - timedelta(days=PRODUCTS_DAYS)), "to": _utc(now)}, "limit": 1000,
                "with": {}}
        fbs, fbo = await asyncio.gather(self._call(FBS_LIST, body), self._call(FBO_LIST, body))
        names = sorted(set(mapping.listed_product_names(fbs)) | set(mapping.listed_product_names(fbo)))
        self._products.put("all", names)
        return names

    async def cancel_posting(self, posting_number: str, reason_id: int, message: str = "") -> bool:
        """Cancel an FBS/rFBS posting as the seller. Off unless the provider was built with allow_cancel=True."""
        if not self.allow_cancel:
            raise CancelDisabled("cancelling through the Seller API is disabled")
        body = {"posting_number": posting_number, "cancel_reason_id": reason_id, "cancel_reason_message": message}
        data = await self._call(FBS_CANCEL, body, idempotent=False)
        self._cache.drop(("posting", posting_number))
        return data.get("result") is True

    # --- Lookups --------------------------------------------------------------------------------------

    async def _posting(self, number: str, scheme: Scheme | None = None) -> list[Order]:
        key = ("posting", number)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            return await self._inflight.run(key, lambda: self._load_posting(number, scheme))
        except _UNAVAILABLE:
            stale = self._cache.get(key, stale=True)
            if stale:
                return stale
            raise

    async def _load_posting(self, number: str, scheme: Scheme | None) -> list[Order]:
        fetched_at = datetime.now(UTC)
        order = None
        if scheme is not Scheme.FBO:
            body: dict[str, Any] = {"posting_number": number, "with": {"analytics_data": True, "financial_data": True,
                                                                      "related_postings": True}}
            order = await self._get(FBS_GET, body, mapping.fbs_order)
        if (order is None and scheme is None) or scheme is Scheme.FBO:
            body = {"posting_number": number, "translit": False,
                    "with": {"analytics_data": True, "financial_data": True}}
            order = await self._get(FBO_GET, body, mapping.fbo_order)
        found = []
        if order is not None:
            for product in order.products:
                self._seen_products[product.name] = None
            while len(self._seen_products) > MAX_SEEN_PRODUCTS:
                del self._seen_products[next(iter(self._seen_products))]
            update: dict[str, Any] = {"fetched_at": fetched_at}
            if self.read_returns:
                update["returns"] = await self._returns(number) if order.status in RETURN_STATUSES else []
            found = [self.adjust(order).model_copy(update=update)]
        self._cache.put(("posting", number), found)
        return found

    async def _get(self, path: str, body: dict[str, Any], to_order: Callable[[dict[str, Any]], Order]) -> Order | None:
        try:
            data = await self._call(path, body)
        except OzonNotFound:
            return None
        result = data.get("result")
        return to_order(result) if isinstance(result, dict) and result.get("posting_number") else None

    async def _returns(self, number: str) -> list[ReturnInfo]:
        body = {"filter": {"posting_numbers": [number]}, "limit": 500, "last_id": 0}
        return mapping.returns_of(await self._call(RETURNS_LIST, body))

    async def _order(self, number: str) -> list[Order]:
        key = ("order", number)
        postings: list[tuple[str, Scheme]] | None = self._cache.get(key)
        if postings is None:
            loaded: list[tuple[str, Scheme]]
            try:
                loaded = await self._inflight.run(key, lambda: self._list_order(number))
            except _UNAVAILABLE:
                stale = self._cache.get(key, stale=True)
                if not stale:
                    raise
                loaded = stale
            postings = loaded
        found = await asyncio.gather(*(self._posting(n, s) for n, s in postings))
        return sorted((o for orders in found for o in orders), key=lambda o: o.posting_number)

    async def _list_order(self, number: str) -> list[tuple[str, Scheme]]:
        now = datetime.now(UTC)
        body = {"filter": {"since": _utc(now - timedelta(days=365)), "to": _utc(now), "order_numbers": [number]},
                "limit": 100, "with": {}}
        fbs, fbo = await asyncio.gather(self._list(FBS_LIST, body), self._list(FBO_LIST, body))
        postings = [(n, Scheme.FBS) for n in fbs] + [(n, Scheme.FBO) for n in fbo if n not in fbs]
        self._cache.put(("order", number), postings)
        return postings

    async def _list(self, path: str, body: dict[str, Any]) -> list[str]:
        try:
            return mapping.listed_postings(await self._call(path, body))
        except OzonNotFound:
            return []

    async def _load_reasons(self) -> list[mapping.CancelReason]:
        reasons = mapping.cancel_reasons(await self._call(CANCEL_REASONS, {}))
        self._reasons.put("all", reasons)
        return reasons

    def adjust(self, order: Order) -> Order:
        """What the API does not say about a posting but the shop's settings do (STORE_CROSS_BORDER)."""
        if self.cross_border and order.scheme is Scheme.RFBS and not order.cross_border:
            return order.model_copy(update={"cross_border": True})
        return order

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One idempotent Seller API call with this provider's caps, retries and breaker (the order
        mirror's list calls). Raises the specific `OzonError`s."""
        return await self._call(path, body)

    # --- One call: breaker, retries, backoff ---------------------------------------------------------

    async def _call(self, path: str, body: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        """POST with retries: refused calls (429, 'Circle is open') always, failed ones only when idempotent."""
        def retryable(exc: Exception) -> bool:
            return isinstance(exc, OzonRateLimited) or (idempotent and isinstance(exc, OzonTransientError))

        def on_retry(exc: Exception, attempt: int, delay: float) -> None:
            if isinstance(exc, OzonRateLimited):
                self.client.limits.pause(path, delay)
            log.info("Ozon %s: %s; retry %d in %.2f s", path, exc, attempt + 1, delay)

        return await retry_call(lambda: self._attempt(path, body), self.retry, retryable=retryable,
                                retry_after=_retry_after, on_retry=on_retry, sleep=self._sleep)

    async def _attempt(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.breaker.check()
        try:
            data = await self.client.post(path, body)
        except OzonRateLimited as exc:
            (self.breaker.failure if exc.circle_open else self.breaker.success)()
            raise
        except OzonTransientError:
            self.breaker.failure()
            raise
        except OzonError:
            self.breaker.success()  # the server answered; the answer is for the caller to judge
            raise
        except BaseException:
            self.breaker.abandon()
            raise
        self.breaker.success()
        return data

    def _alarm(self, exc: OzonAuthError) -> None:
        now = self._clock()
        if self._auth_logged_at is None or now - self._auth_logged_at >= AUTH_LOG_PERIOD:
            self._auth_logged_at = now
            log.error("OZON SELLER API REJECTS THE KEY for Client-Id %s (%s). Order lookups fail until "
                      "OZON_API_KEY is fixed: it may be wrong, expired, deactivated, IP-restricted or lack the "
                      "'Posting FBS' role.", self.client.client_id, exc)
