"""An order as the JSON snapshot a conversation keeps, both ways, cached.

A conversation's state holds the order being discussed as JSON (`ConversationState.order`). The
same few orders are written and read turn after turn and across conversations, so both
directions are memoised: orders are frozen values, and a cached entry keeps its order alive, so
an `id()` can never be reused while it is a key.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import ValidationError

from bot.orders.model import Order

_SIZE = 2048
_parsed: OrderedDict[str, Order] = OrderedDict()
_dumped: OrderedDict[int, tuple[Order, str]] = OrderedDict()


def dump_order(order: Order) -> str:
    """The snapshot of `order` (pydantic JSON)."""
    hit = _dumped.get(id(order))
    if hit is not None and hit[0] is order:
        return hit[1]
    text = order.model_dump_json()
    _remember(order, text)
    return text


def load_order(snapshot: str | None) -> Order | None:
    """The order a snapshot holds; None for no snapshot or one that no longer validates (a
    snapshot written by an older version of the model)."""
    if not snapshot:
        return None
    order = _parsed.get(snapshot)
    if order is None:
        try:
            order = Order.model_validate_json(snapshot)
        except ValidationError:
            return None
        _remember(order, snapshot)
    return order


def _remember(order: Order, text: str) -> None:
    _parsed[text] = order
    _dumped[id(order)] = (order, text)
    if len(_parsed) > _SIZE:
        _parsed.popitem(last=False)
    if len(_dumped) > _SIZE:
        _dumped.popitem(last=False)
