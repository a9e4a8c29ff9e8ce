"""Recognising Ozon order and posting numbers in what buyers type.

A posting looks like `57195475-0050-3`, an order like `57195475-0050`. Buyers type them with
spaces, en/em dashes, underscores or none at all between the groups; we normalise all of these.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Separators a buyer may type between groups (at least one, so a bare run of digits such as a
# phone or another marketplace's number is not taken for an order): dashes, spaces, underscores, dots.
_SEP = r"[\s\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D_.]{1,3}"
_NUMBER = re.compile(
    rf"(?<![0-9])([0-9]{{5,12}}){_SEP}([0-9]{{4}})(?:{_SEP}([0-9]{{1,3}}))?(?![0-9])",
)


@dataclass(frozen=True, slots=True)
class OrderRef:
    """A normalised number: `order_number` always, `posting_number` when the buyer gave one."""

    order_number: str
    posting_number: str | None = None

    @property
    def text(self) -> str:
        return self.posting_number or self.order_number


def find_order_number(text: str) -> OrderRef | None:
    """Return the first order or posting number in free text, or None."""
    # NFKC turns full-width digits and dashes (typed with a Chinese IME) into ASCII ones.
    m = _NUMBER.search(unicodedata.normalize("NFKC", (text or "")[:4096]))
    return _ref(m) if m else None


@lru_cache(maxsize=4096)  # a conversation re-reads the number it remembered several times a turn
def parse_order_number(text: str) -> OrderRef | None:
    """Return the number when the whole text is one number (spaces and dashes allowed)."""
    stripped = unicodedata.normalize("NFKC", (text or "").strip()[:80])
    if not stripped or len(stripped) > 40:
        return None
    m = _NUMBER.fullmatch(stripped)
    return _ref(m) if m else None


def _ref(m: re.Match[str]) -> OrderRef:
    head, mid, tail = m.groups()
    order = f"{head}-{mid}"
    return OrderRef(order_number=order, posting_number=f"{order}-{tail}" if tail else None)
