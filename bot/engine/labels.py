"""Button labels in every language, folded, for matching what a buyer typed against the buttons.

One `Labels` belongs to one content snapshot (its catalogs): a reload builds a new one, so no
cache ever outlives the texts it was made from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.engine.keywords import fold
from bot.engine.ports import Messages


class Labels:
    def __init__(self, messages: Messages) -> None:
        self.messages = messages
        self._folded: dict[str, frozenset[str]] = {}
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
