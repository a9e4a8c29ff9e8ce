"""Parameter values that render specially: a message key, a duration, a day."""

from __future__ import annotations

from datetime import datetime


class Duration(int):
    """A number of hours, rendered in the unit a person would use: hours under two days, then days."""

    __slots__ = ()


class MsgKey(str):
    """`MsgKey("status.delivering")` renders as the translated text of that message."""

    __slots__ = ()


class Day(datetime):
    """A moment shown as its date only (in the buyer's clock): delivery windows are days, not times."""

    __slots__ = ()

    @classmethod
    def of(cls, moment: datetime | None) -> Day | None:
        if moment is None:
            return None
        # the same fields: a third of fromtimestamp(moment.timestamp(), moment.tzinfo)'s cost, and
        # conditions read delivery windows several times a turn (bench/engine.py)
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                   moment.microsecond, moment.tzinfo, fold=moment.fold)
