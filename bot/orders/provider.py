"""The port through which the engine and the adapters read orders."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.orders.model import Order
from bot.orders.numbers import OrderRef


@runtime_checkable
class OrderProvider(Protocol):
    """Finds postings by a buyer's number.

    `find` returns every posting of an order number, or the one posting of a posting number;
    an empty list means not found. It raises `OrderBackendUnavailable` when it cannot answer.
    """

    async def find(self, ref: OrderRef) -> list[Order]: ...

    async def close(self) -> None: ...
