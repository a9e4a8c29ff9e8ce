"""Where the mirror reads postings from: the `PostingSource` protocol and its Seller API implementation.

`OzonSource` reads through an `OzonOrderProvider`, so every call shares its rate caps, retries and
circuit breaker:
- `changed`: `/v4/posting/fbs/list` filtered by `last_changed_status_date` (cursor paging);
- `listed`: `/v4/posting/fbs/list` and `/v3/posting/fbo/list` by creation period (FBO has no
  status-change filter and no push notifications: the periodic sweep is how FBO stays fresh);
- `returns`: `/v1/returns/list` filtered by `visual_status_change_moment` (paged by `last_id`): the
  shop's returns that moved in a period, in one call per 500, never one call per posting;
- `get`: the provider's targeted read (`/v3/posting/fbs/get`, then `/v2/posting/fbo/get`);
- `order`: the postings of one order number from the two list methods (2 calls, whatever the
  number of postings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order, ReturnInfo
from bot.orders.numbers import OrderRef
from bot.orders.ozon import mapping
from bot.orders.ozon.errors import OzonError
from bot.orders.ozon.provider import FBO_LIST, FBS_LIST, RETURNS_LIST, OzonOrderProvider

PAGE = 1000  # postings per list page (the methods' maximum)
RETURNS_PAGE = 500
MAX_PAGES = 200  # a guard against a cursor that never ends
LIST_WITH = {"analytics_data": True, "financial_data": True}
YEAR = timedelta(days=364)  # list periods must stay within one year


@runtime_checkable
class PostingSource(Protocol):
    async def changed(self, since: datetime, until: datetime) -> list[Order]:
        """FBS/rFBS postings whose status changed in [since, until]."""
        ...

    async def listed(self, since: datetime, until: datetime) -> list[Order]:
        """Every posting (FBS, rFBS, FBO) created in [since, until]."""
        ...

    async def returns(self, since: datetime, until: datetime) -> dict[str, list[ReturnInfo]]:
        """Returns whose state changed in [since, until], by posting number."""
        ...

    async def get(self, posting_number: str) -> Order | None: ...

    async def order(self, order_number: str) -> list[Order]: ...

    async def close(self) -> None: ...


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _postings(data: dict[str, Any]) -> list[dict[str, Any]]:
    postings = data.get("postings")
    if postings is None:
        result = data.get("result")
        postings = result.get("postings") if isinstance(result, dict) else None
    return [p for p in postings if isinstance(p, dict) and p.get("posting_number")] if isinstance(postings, list) \
        else []


def _has_next(data: dict[str, Any]) -> tuple[bool, str]:
    body = data if "has_next" in data or "cursor" in data else (data.get("result") or {})
    cursor = str(body.get("cursor") or "")
    return bool(body.get("has_next")) and bool(cursor), cursor


class OzonSource:
    def __init__(self, provider: OzonOrderProvider) -> None:
        self.provider = provider

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.provider.call(path, body)
        except OzonError as exc:
            raise OrderBackendUnavailable(f"Ozon Seller API {path}: {exc}") from exc

    async def _pages(self, path: str, body: dict[str, Any], to_order: Callable[[dict[str, Any]], Order]) -> list[Order]:
        out: list[Order] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            data = await self._call(path, body | ({"cursor": cursor} if cursor else {}))
            out += [self.provider.adjust(to_order(p)) for p in _postings(data)]
            more, cursor = _has_next(data)
            if not more:
                break
        return out

    async def changed(self, since: datetime, until: datetime) -> list[Order]:
        upto = until + timedelta(milliseconds=1)  # timestamps are sent to the millisecond: keep `until` in
        body = {"filter": {"since": utc(until - YEAR), "to": utc(upto),
                           "last_changed_status_date": {"from": utc(since), "to": utc(upto)}},
                "limit": PAGE, "sort_dir": "ASC", "with": LIST_WITH}
        return await self._pages(FBS_LIST, body, mapping.fbs_order)

    async def listed(self, since: datetime, until: datetime) -> list[Order]:
        since = max(since, until - YEAR)
        body = {"filter": {"since": utc(since), "to": utc(until)}, "limit": PAGE, "sort_dir": "ASC", "with": LIST_WITH}
        fbs = await self._pages(FBS_LIST, body, mapping.fbs_order)
        fbo = await self._pages(FBO_LIST, body, mapping.fbo_order)
        return fbs + fbo

    async def returns(self, since: datetime, until: datetime) -> dict[str, list[ReturnInfo]]:
        out: dict[str, list[ReturnInfo]] = {}
        last_id = 0
        for _ in range(MAX_PAGES):
            moment = {"time_from": utc(since), "time_to": utc(until + timedelta(milliseconds=1))}
            body = {"filter": {"visual_status_change_moment": moment},
                    "limit": RETURNS_PAGE, "last_id": last_id}
            data = await self._call(RETURNS_LIST, body)
            items = [r for r in data.get("returns") or [] if isinstance(r, dict)]
            for item in items:
                info = mapping.return_info(item)
                number = str(item.get("posting_number") or "")
                if info is not None and number:
                    out.setdefault(number, []).append(info)
                    last_id = max(last_id, info.id)
            if not data.get("has_next") or not items:
                break
        return out

    async def get(self, posting_number: str) -> Order | None:
        found = await self.provider.find(OrderRef(posting_number.rsplit("-", 1)[0], posting_number))
        return found[0] if found else None

    async def order(self, order_number: str) -> list[Order]:
        until = datetime.now(UTC)
        body = {"filter": {"since": utc(until - YEAR), "to": utc(until), "order_numbers": [order_number]},
                "limit": 100, "with": LIST_WITH}
        fbs = await self._pages(FBS_LIST, body, mapping.fbs_order)
        seen = {o.posting_number for o in fbs}
        fbo = [o for o in await self._pages(FBO_LIST, body, mapping.fbo_order) if o.posting_number not in seen]
        return fbs + fbo

    async def close(self) -> None:
        await self.provider.close()
