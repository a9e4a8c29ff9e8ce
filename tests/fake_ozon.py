"""A fake Ozon Seller API: a real aiohttp app on 127.0.0.1, port 0, with scriptable faults.

Seed it with `Order`s (turned into the documented JSON shapes) or raw posting dicts; script faults
per path (`fail(path, fault, ...)`, replayed in order) or for every call (`fail_all`). Every
request is recorded with its arrival time, so tests can count calls and requests per second.

`caps={path: n}` and `global_cap=n` make it enforce rate limits as Ozon counts them: by arrival, in
strict 1-second windows; a request over a cap gets 429 (code 8) and is recorded in `rejected`. The
list methods page with a cursor (`page_size`) and filter by `last_changed_status_date` (each
posting's `changed_at`, set by `add`/`move`); `/v1/returns/list` filters by
`visual_status_change_moment` and pages by `last_id`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from bot.orders.model import Money, Order, Product, ReturnInfo, Scheme
from bot.orders.ozon import OzonOrderProvider

CLIENT_ID = "1001"
API_KEY = "test-key-0000"
FBS_GET, FBO_GET = "/v3/posting/fbs/get", "/v2/posting/fbo/get"
FBS_LIST, FBO_LIST = "/v4/posting/fbs/list", "/v3/posting/fbo/list"
RETURNS, ROLES = "/v1/returns/list", "/v1/roles"
CANCEL, CANCEL_REASONS = "/v2/posting/fbs/cancel", "/v2/posting/fbs/cancel-reason/list"
BAD_KEY = {"code": 5, "message": "Invalid Api-Key, please check the key and try again", "details": []}


@dataclass
class Fault:
    """One scripted reply. `status=None` means: wait `delay`, then answer normally."""

    status: int | None = 500
    body: Any = field(default_factory=lambda: {"code": 13, "message": "Internal error", "details": []})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None

    def response(self) -> web.Response:
        if self.raw is not None:
            return web.Response(status=self.status or 200, body=self.raw, headers=self.headers,
                                content_type="application/json")
        return web.json_response(self.body, status=self.status or 200, headers=self.headers)


def server_error(status: int = 500) -> Fault:
    return Fault(status)


def rate_limited(retry_after: float | None = None) -> Fault:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return Fault(429, {"code": 8, "message": "You have reached request rate limit per second", "details": []}, headers)


def circle_open(retry_after: float | None = None) -> Fault:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return Fault(403, {"code": 7, "message": "Circle is open", "details": []}, headers)


def not_found() -> Fault:
    return Fault(404, {"code": 5, "message": "Posting not found", "details": []})


def bad_key() -> Fault:
    return Fault(404, BAD_KEY)


def deactivated() -> Fault:
    return Fault(403, {"code": 7, "message": "Api-key is deactivated, use another one or generate a new one"})


def missing_role() -> Fault:
    return Fault(403, {"code": 7, "message": "Api-Key is missing a required role for a method"})


def malformed() -> Fault:
    return Fault(200, raw=b'{"result": {"posting_number": ')


def slow(seconds: float) -> Fault:
    return Fault(None, delay=seconds)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def _products(order: Order) -> tuple[list[dict], list[dict]]:
    products, financial = [], []
    for p in order.products:
        products.append({"name": p.name, "sku": p.sku, "offer_id": p.offer_id, "quantity": p.quantity,
                         "price": f"{p.price.amount:.4f}", "currency_code": p.price.currency,
                         "is_marketplace_buyout": False})
        financial.append({"product_id": p.sku, "quantity": p.quantity, "price": float(p.price.amount * 2),
                          "customer_price": float(p.price.amount), "customer_currency_code": p.price.currency,
                          "old_price": float(p.price.amount * 3), "payout": 777.77, "commission_amount": 123.45,
                          "commission_percent": 15, "commissions_currency_code": "RUB", "actions": []})
    return products, financial


def posting_json(order: Order) -> dict[str, Any]:
    """The `/v3/posting/fbs/get` (or, for FBO, `/v2/posting/fbo/get`) result for an `Order`."""
    products, financial = _products(order)
    c = order.cancellation
    common = {"posting_number": order.posting_number, "order_number": order.order_number, "order_id": 438764970,
              "status": order.status, "substatus": order.substatus, "in_process_at": _iso(order.in_process_at),
              "products": products, "financial_data": {"cluster_from": "Москва", "cluster_to": order.city,
                                                       "products": financial}}
    if order.scheme is Scheme.FBO:
        return common | {
            "created_at": _iso(order.created_at), "cancel_reason_id": (c.reason_id or 0) if c else 0,
            "fact_delivery_date": _iso(order.delivering_date),
            "analytics_data": {"city": order.city, "delivery_type": order.delivery_method, "is_premium": False,
                               "payment_type_group_name": "Карты оплаты", "warehouse_id": 15431806189000,
                               "warehouse_name": "ХОРУГВИНО_РФЦ", "is_legal": False,
                               "client_delivery_date_begin": _iso(order.delivery_date_begin),
                               "client_delivery_date_end": _iso(order.delivery_date_end)},
            "additional_data": [], "legal_info": {"company_name": "", "inn": "", "kpp": ""}}
    phone = (f"+7 ({order.phone_digits[:3]}) {order.phone_digits[3:6]}-{order.phone_digits[6:]}" if order.phone_digits
             else f"+7 (916) 555-{order.phone_last4}" if order.phone_last4 else "")
    return common | {
        "previous_substatus": "", "shipment_date": _iso(order.shipment_date),
        "delivering_date": _iso(order.delivering_date), "tracking_number": order.tracking_number,
        "tpl_integration_type": order.tpl_integration_type
        or ("non_integrated" if order.scheme is Scheme.RFBS else "ozon"),
        "delivery_method": {"id": 21321684811000, "name": order.delivery_method, "warehouse_id": 21321684811000,
                            "warehouse": "Склад на Ленина", "tpl_provider_id": 24, "tpl_provider": "Ozon Логистика"},
        "cancellation": {"cancel_reason_id": (c.reason_id or 0) if c else 0, "cancel_reason": c.reason if c else "",
                         "cancellation_type": {"buyer": "client"}.get(c.initiator, c.initiator.value) if c else "",
                         "cancelled_after_ship": c.cancelled_after_ship if c else False,
                         "affect_cancellation_rating": False, "cancellation_initiator": ""},
        "analytics_data": {"city": order.city, "delivery_date_begin": _iso(order.delivery_date_begin),
                           "delivery_date_end": _iso(order.delivery_date_end), "delivery_type": "PVZ",
                           "is_premium": False, "payment_type_group_name": "Карты оплаты", "warehouse": "Склад",
                           "warehouse_id": 21321684811000, "tpl_provider": "Ozon Логистика", "tpl_provider_id": 24},
        "customer": None,
        "addressee": {"name": "Покупатель", "phone": phone} if phone else None,
        "related_postings": {"related_posting_numbers": order.related_postings},
        "tariffication": [{"current_tariff_rate": 0, "current_tariff_type": "", "current_tariff_charge": "0",
                           "current_tariff_charge_currency_code": "RUB", "next_tariff_rate": 5,
                           "next_tariff_type": "", "next_tariff_charge": "",
                           "next_tariff_starts_at": _iso(order.shipment_date),
                           "next_tariff_charge_currency_code": "RUB"}],
        "available_actions": ["cancel"], "is_express": False, "is_multibox": False, "multi_box_qty": 1,
    }


def return_json(posting_number: str, r: ReturnInfo) -> dict[str, Any]:
    return {"id": r.id, "posting_number": posting_number, "order_number": posting_number.rsplit("-", 1)[0],
            "type": r.type, "schema": "Fbs", "return_reason_name": r.reason, "order_id": 438764970,
            "logistic": {"return_date": _iso(r.created_at), "barcode": "ii5275210303"},
            "visual": {"status": {"id": 3, "display_name": r.status, "sys_name": r.status},
                       "change_moment": _iso(r.created_at)},
            "product": {"sku": 1, "offer_id": "ART", "name": "x", "quantity": 1,
                        "price": {"price": 100, "currency_code": "RUB"}}}


@dataclass
class Call:
    at: float
    path: str
    body: Any


class FakeOzon:
    """Use as `async with FakeOzon() as fake:`; point a provider at `fake.url`."""

    def __init__(self, *, latency: float = 0.0, client_id: str = CLIENT_ID, api_key: str = API_KEY,
                 caps: dict[str, int] | None = None, global_cap: int | None = None, page_size: int = 1000) -> None:
        self.latency, self.client_id, self.api_key = latency, client_id, api_key
        self.caps, self.global_cap, self.page_size = dict(caps or {}), global_cap, page_size
        self.rejected: list[Call] = []
        self._windows: dict[tuple[str, int], int] = {}
        self.changed_at: dict[str, datetime] = {}
        self.postings: dict[str, tuple[Scheme, dict[str, Any]]] = {}
        self.returns: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.cancelled: list[dict[str, Any]] = []
        self.buyer_reason = True  # whether the reason list offers a buyer-side reason (type_id "buyer")
        self._script: dict[str, deque[Fault]] = {}
        self._outage: Fault | None = None
        self._outage_until: float | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- seeding and scripting ---------------------------------------------------------------------

    def add(self, order: Order, *, changed_at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
        data = posting_json(order) | overrides
        self.add_raw(order.scheme, data, changed_at)
        self.returns[order.posting_number] = [return_json(order.posting_number, r) for r in order.returns]
        return data

    def add_raw(self, scheme: Scheme, posting: dict[str, Any], changed_at: datetime | None = None) -> None:
        self.postings[posting["posting_number"]] = (scheme, posting)
        self.changed_at[posting["posting_number"]] = changed_at or datetime.now(UTC)

    def move(self, posting_number: str, changed_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Change a posting's fields (its status: the status change moment is now, or `changed_at`)."""
        posting = self.postings[posting_number][1]
        posting.update(fields)
        if "status" in fields or "substatus" in fields:
            self.changed_at[posting_number] = changed_at or datetime.now(UTC)
        return posting

    def over_cap(self, path: str, at: float) -> bool:
        """Count one arrival; True when it is over a cap in its strict 1-second window."""
        window = int(at)
        over = False
        for key, cap in ((path, self.caps.get(path)), ("*", self.global_cap)):
            if cap is None:
                continue
            n = self._windows[(key, window)] = self._windows.get((key, window), 0) + 1
            over = over or n > cap
        return over

    def fail(self, path: str, *faults: Fault) -> None:
        """Answer the next calls to `path` ("*" = any path) with these faults, in order."""
        self._script.setdefault(path, deque()).extend(faults)

    def fail_all(self, fault: Fault | None, seconds: float | None = None) -> None:
        """Answer every call with `fault` (for `seconds`, or until `fail_all(None)`)."""
        self._outage = fault
        self._outage_until = time.monotonic() + seconds if seconds is not None else None

    def count(self, path: str | None = None) -> int:
        return sum(1 for c in self.calls if path is None or c.path == path)

    def max_rps(self, path: str | None = None) -> int:
        """The most requests that arrived within any one-second window."""
        times = sorted(c.at for c in self.calls if path is None or c.path == path)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= 1.0:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # --- server ------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeOzon:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _fault(self, path: str) -> Fault | None:
        for key in (path, "*"):
            if self._script.get(key):
                return self._script[key].popleft()
        if self._outage is not None and (self._outage_until is None or time.monotonic() < self._outage_until):
            return self._outage
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        call = Call(time.monotonic(), request.path, body)
        self.calls.append(call)
        if self.over_cap(request.path, call.at):
            self.rejected.append(call)
            return rate_limited().response()
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._fault(request.path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return fault.response()
        if request.headers.get("Client-Id") != self.client_id or request.headers.get("Api-Key") != self.api_key:
            return web.json_response(BAD_KEY, status=404)
        route = {FBS_GET: self._fbs_get, FBO_GET: self._fbo_get, FBS_LIST: self._fbs_list, FBO_LIST: self._fbo_list,
                 RETURNS: self._returns, ROLES: self._roles, CANCEL: self._cancel,
                 CANCEL_REASONS: self._cancel_reasons}.get(request.path)
        if route is None or not isinstance(body, dict):
            return web.json_response({"code": 5, "message": "Not Found", "details": []}, status=404)
        status, payload = route(body)
        return web.json_response(payload, status=status)

    def _get(self, body: dict, fbo: bool) -> tuple[int, dict]:
        scheme, posting = self.postings.get(body.get("posting_number"), (None, None))
        if posting is None or (scheme is Scheme.FBO) != fbo:
            return 404, {"code": 5, "message": "Posting not found", "details": []}
        return 200, {"result": posting}

    def _fbs_get(self, body: dict) -> tuple[int, dict]:
        return self._get(body, fbo=False)

    def _fbo_get(self, body: dict) -> tuple[int, dict]:
        return self._get(body, fbo=True)

    def _list(self, body: dict, fbo: bool) -> tuple[int, dict]:
        f = body.get("filter") or {}
        try:
            since, to = datetime.fromisoformat(f["since"]), datetime.fromisoformat(f["to"])
        except (KeyError, TypeError, ValueError):
            return 400, {"code": 3, "message": "filter.since and filter.to are required", "details": []}
        if (to - since).days > 366:
            return 400, {"code": 3, "message": "PERIOD_IS_TOO_LONG", "details": []}
        wanted = set(f.get("order_numbers") or [])  # none: every posting of the period
        changed = f.get("last_changed_status_date") or {}
        lo = datetime.fromisoformat(changed["from"]) if changed.get("from") else None
        hi = datetime.fromisoformat(changed["to"]) if changed.get("to") else None
        found = [p for s, p in self.postings.values()
                 if (s is Scheme.FBO) == fbo and (not wanted or p["order_number"] in wanted)
                 and (lo is None or lo <= self.changed_at[p["posting_number"]])
                 and (hi is None or self.changed_at[p["posting_number"]] <= hi)]
        limit = min(int(body.get("limit") or 1000), 1000, self.page_size)
        start = int(body.get("cursor") or 0)
        page, more = found[start:start + limit], start + limit < len(found)
        return 200, {"postings": page, "has_next": more, "cursor": str(start + limit) if more else ""}

    def _fbs_list(self, body: dict) -> tuple[int, dict]:
        return self._list(body, fbo=False)

    def _fbo_list(self, body: dict) -> tuple[int, dict]:
        return self._list(body, fbo=True)

    def _returns(self, body: dict) -> tuple[int, dict]:
        f = body.get("filter") or {}
        wanted = f.get("posting_numbers") or []
        if wanted:
            return 200, {"returns": [r for n in wanted for r in self.returns.get(n, [])], "has_next": False}
        moment = f.get("visual_status_change_moment") or {}
        lo, hi = datetime.fromisoformat(moment["time_from"]), datetime.fromisoformat(moment["time_to"])
        last_id, limit = int(body.get("last_id") or 0), min(int(body.get("limit") or 500), 500)
        found = sorted((r for items in self.returns.values() for r in items
                        if r["id"] > last_id and r["visual"]["change_moment"]
                        and lo <= datetime.fromisoformat(r["visual"]["change_moment"]) <= hi),
                       key=lambda r: r["id"])
        return 200, {"returns": found[:limit], "has_next": len(found) > limit}

    def _roles(self, body: dict) -> tuple[int, dict]:
        return 200, {"roles": [{"name": "Posting FBS", "methods": [FBS_GET, FBS_LIST]},
                               {"name": "Returns", "methods": [RETURNS]}], "expires_at": "2027-03-01T00:00:00Z"}

    def _cancel(self, body: dict) -> tuple[int, dict]:
        scheme, posting = self.postings.get(body.get("posting_number"), (None, None))
        if posting is None or scheme is Scheme.FBO:
            return 404, {"code": 5, "message": "POSTING_NOT_FOUND", "details": []}
        self.cancelled.append(body)
        posting.update(status="cancelled", substatus="posting_canceled",
                       cancellation={"cancel_reason_id": body.get("cancel_reason_id"), "cancel_reason": "",
                                     "cancellation_type": "seller", "cancelled_after_ship": False})
        return 200, {"result": True}

    def _cancel_reasons(self, body: dict) -> tuple[int, dict]:
        # The ids and titles of buyer-side reasons in this list are not documented (reference, section
        # 5): 506 "found it cheaper" stands in for whichever one Ozon offers.
        buyer = [{"id": 506, "title": "Покупатель передумал", "type_id": "buyer",
                  "is_available_for_cancellation": True}]
        return 200, {"result": (buyer if self.buyer_reason else []) + [
            {"id": 352, "title": "Товар закончился на складе продавца", "type_id": "seller",
             "is_available_for_cancellation": True},
            {"id": 401, "title": "Продавец отклонил арбитраж", "type_id": "seller",
             "is_available_for_cancellation": False},
            {"id": 402, "title": "Другое (вина продавца)", "type_id": "seller", "is_available_for_cancellation": True},
        ]}


def sample(posting: str = "12345678-0001-1", **fields: Any) -> Order:
    """A plausible delivered-soon FBS posting; override any Order field."""
    now = datetime.now(UTC)
    base: dict[str, Any] = dict(
        posting_number=posting, order_number=posting.rsplit("-", 1)[0], status="delivering",
        substatus="posting_on_way_to_city", created_at=now - timedelta(days=3), in_process_at=now - timedelta(days=3),
        delivery_date_begin=now + timedelta(days=1), delivery_date_end=now + timedelta(days=2),
        tracking_number="0112233445566", delivery_method="Ozon Логистика, Москва", city="Москва",
        tpl_integration_type="non_integrated" if fields.get("scheme") is Scheme.RFBS else "ozon",
        products=[Product(name="Чайник", sku=1500000010, offer_id="ART-1", quantity=2,
                          price=Money(amount=Decimal("2490.00"), currency="RUB"))],
        phone_last4="4321", phone_digits="9165554321")
    return Order(**(base | fields))


class RecordedSleep:
    """An injectable `sleep` that records each requested delay and waits only a token amount."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0.001)


def provider_for(fake: FakeOzon, **kwargs: Any) -> OzonOrderProvider:
    """An OzonOrderProvider on the fake, with fast backoff and a roomy fbs/get cap unless told otherwise."""
    kwargs.setdefault("sleep", RecordedSleep())
    kwargs.setdefault("fbs_get_rps", 20.0)
    kwargs.setdefault("timeout", 2.0)
    return OzonOrderProvider(kwargs.pop("client_id", fake.client_id), kwargs.pop("api_key", fake.api_key),
                             base_url=fake.url, **kwargs)
