"""Trigger keywords: which flow a buyer's free text asks for."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Flows whose keywords yield to any other flow's in the same text, weakest last: "where is my order"
# is the generic question (a request to cancel or return in the same message is what the buyer
# wants done), and the main menu's keywords are greetings.
YIELDING_FLOWS = ("order_status", "main_menu")


def fold(text: str) -> str:
    """Case- and width-insensitive form of text for matching keywords and labels."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _has_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


@dataclass(frozen=True, slots=True)
class Keyword:
    """A trigger keyword, folded. Chinese keywords match anywhere (no spaces between words); others
    only at a word's start, so a stem such as 'отмен' matches 'отменить' but 'брак' does not match
    'абракадабра'."""

    text: str
    flow_id: str
    anywhere: bool

    @classmethod
    def of(cls, keyword: str, flow_id: str) -> Keyword:
        return cls(fold(keyword), flow_id, _has_han(keyword))

    def found_in(self, folded: str) -> bool:
        kw = self.text
        i = folded.find(kw)
        if self.anywhere:
            return i >= 0
        while i > 0:
            before = folded[i - 1]
            if not (before.isalnum() or before == "_"):
                return True
            i = folded.find(kw, i + 1)
        return i == 0


def _tier(flow_id: str) -> int:
    return YIELDING_FLOWS.index(flow_id) + 1 if flow_id in YIELDING_FLOWS else 0


class KeywordIndex:
    """The keywords of a flow set in priority order: a specific request beats the generic status
    question, which beats a greeting (YIELDING_FLOWS); then longer keywords beat shorter ones. So
    "здравствуйте, хочу отменить" and "где мой заказ? хочу вернуть" mean cancel and return.

    Indexed by first character: a text is checked only against keywords starting with one of its
    characters (a dozen of ~110), each with `str.find`.
    """

    def __init__(self, keywords: list[Keyword]) -> None:
        self.ranked = sorted(keywords, key=lambda k: (_tier(k.flow_id), -len(k.text)))
        self._by_first: dict[str, list[tuple[int, Keyword]]] = {}
        for rank, kw in enumerate(self.ranked):
            if kw.text:
                self._by_first.setdefault(kw.text[0], []).append((rank, kw))

    def match(self, text: str) -> str | None:
        """The flow id of the best keyword in `text`, or None."""
        return self.find(text)[0]

    def find(self, text: str) -> tuple[str | None, frozenset[str]]:
        """The flow id of the best keyword in `text` (or None), and the flows of every keyword in it."""
        folded = fold(text)
        best = len(self.ranked)
        flows: set[str] = set()
        for ch in set(folded):
            for rank, kw in self._by_first.get(ch, ()):
                if kw.text in folded and kw.found_in(folded):
                    flows.add(kw.flow_id)
                    best = min(best, rank)
        return (self.ranked[best].flow_id if best < len(self.ranked) else None), frozenset(flows)
