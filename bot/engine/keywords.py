"""Trigger keywords: which flow a buyer's free text asks for."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GREETING_FLOW = "main_menu"  # its keywords are greetings: any topic keyword in the same text wins


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
    def of(cls, keyword: str, flow_id: str) -> "Keyword":
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


class KeywordIndex:
    """The keywords of a flow set in priority order: a topic beats a greeting (the main menu's
    keywords come last), then longer keywords beat shorter ones, so "здравствуйте, хочу отменить"
    means cancel.

    Indexed by first character: a text is checked only against keywords starting with one of its
    characters (a dozen of ~110), each with `str.find`.
    """

    def __init__(self, keywords: list[Keyword]) -> None:
        self.ranked = sorted(keywords, key=lambda k: (k.flow_id == GREETING_FLOW, -len(k.text)))
        self._by_first: dict[str, list[tuple[int, Keyword]]] = {}
        for rank, kw in enumerate(self.ranked):
            if kw.text:
                self._by_first.setdefault(kw.text[0], []).append((rank, kw))

    def match(self, text: str) -> str | None:
        """The flow id of the best keyword in `text`, or None."""
        folded = fold(text)
        best = len(self.ranked)
        for ch in set(folded):
            for rank, kw in self._by_first.get(ch, ()):  # in rank order
                if rank >= best:
                    break
                if kw.text in folded and kw.found_in(folded):
                    best = rank
        return self.ranked[best].flow_id if best < len(self.ranked) else None
