"""Button labels in every language, folded, for matching what a buyer typed against the buttons.

One `Labels` belongs to one content snapshot (its catalogs): a reload builds a new one, so no
cache ever outlives the texts it was made from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.engine.keywords import fold
from bot.engine.ports import Messages
from bot.engine.understanding import normalize, pick


class Labels:
    def __init__(self, messages: Messages, synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        self.messages = messages
        self.synonyms = synonyms or {}
        self._folded: dict[str, frozenset[str]] = {}
        self._variants: dict[str, tuple[str, ...]] = {}
        self._picked: dict[tuple[str, tuple[str, ...]], int | None] = {}
        # id(node) -> (node, folded label -> option), for choices whose options never vary
        self._index: dict[int, tuple[Any, dict[str, Any]]] = {}

    def of(self, msgid: str) -> frozenset[str]:
        """The message's text in every language, folded."""
        labels = self._folded.get(msgid)
        if labels is None:
            texts = (self.messages.template(msgid, lang) for lang in self.messages.languages)
            labels = self._folded[msgid] = frozenset(fold(t) for t in texts if t)
        return labels

    def index(self, owner: Any, options: Sequence[Any]) -> dict[str, Any]:
        """folded label -> option (the first option wins), built once per `owner` (a node whose
        options never vary); each option has `label.msg`."""
        hit = self._index.get(id(owner))
        if hit is None or hit[0] is not owner:
            table = {label: o for o in reversed(options) for label in self.of(o.label.msg)}
            hit = self._index[id(owner)] = (owner, table)
        return hit[1]

    def variants(self, msgid: str) -> tuple[str, ...]:
        """The label in every language plus the words buyers type for it (flows/nlu/buttons.yaml), normalised."""
        found = self._variants.get(msgid)
        if found is None:
            words = list(self.of(msgid)) + list(self.synonyms.get(msgid, ()))
            found = self._variants[msgid] = tuple(dict.fromkeys(v for w in words if (v := normalize(w))))
        return found

    def pick(self, text: str, options: Sequence[Iterable[str]]) -> int | None:
        """The index of the option a typed answer means (ordinal, label, synonym, typo), or None."""
        return pick(text, [list(o) for o in options])

    def pick_msg(self, text: str, msgids: Sequence[str]) -> int | None:
        """Like `pick`, for buttons given by their label message ids (remembered: buyers repeat themselves)."""
        key = (text, tuple(msgids))
        if key in self._picked:
            return self._picked[key]
        found = pick(text, [self.variants(m) for m in msgids], normalized=True)
        if len(self._picked) >= 4096:
            self._picked.clear()
        self._picked[key] = found
        return found
