"""Inline keyboards and their callback data: "c|<node>|<option>" in at most 64 bytes.

When a node id is too long, it travels as a short hash ("h|<hash>|<option>"); the handler
compares it with the hash of the buyer's current node. A press from an older message thus
carries a node that no longer matches, and the engine re-shows the current step.

Keyboards are built once per (node, buttons) and shared: a node's keyboard in a language is the
same for every buyer, and building PTB's objects (and PTB serialising them for every send) cost
more than the rest of rendering a reply (bench/telegram.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MAX_CALLBACK_BYTES = 64
KEYBOARD_CACHE = 1024  # distinct (node, buttons) kept built; dynamic labels (order lists) come and go
STALE_NODE = "\x00stale"  # a node no state ever has: the engine treats the press as stale


@dataclass(frozen=True, slots=True)
class Callback:
    node: str  # the node id, or its hash when `hashed`
    option_id: str
    hashed: bool = False


def node_hash(node: str) -> str:
    return base64.urlsafe_b64encode(hashlib.blake2s(node.encode(), digest_size=6).digest()).decode()


def _fit(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def encode(node: str, option_id: str) -> str:
    data = f"c|{node}|{option_id}"
    if len(data.encode()) <= MAX_CALLBACK_BYTES and "|" not in node:
        return data
    prefix = f"h|{node_hash(node)}|"
    return prefix + _fit(option_id, MAX_CALLBACK_BYTES - len(prefix))


def decode(data: str | None) -> Callback | None:
    if not data:
        return None
    kind, sep, rest = data.partition("|")
    node, sep2, option = rest.partition("|")
    if not sep or not sep2 or kind not in ("c", "h"):
        return None
    return Callback(node, option, kind == "h")


def resolve_node(callback: Callback, current_node: str) -> str:
    """The node to put in Press: the current one when the hash matches, else a stale marker."""
    if not callback.hashed:
        return callback.node
    return current_node if current_node and node_hash(current_node) == callback.node else STALE_NODE


class Keyboard(InlineKeyboardMarkup):
    """An InlineKeyboardMarkup that knows its Bot API form: PTB calls `to_dict()` on every send, and
    its generic walk over the buttons costs as much as building them. The form is PTB's own
    `to_dict()`, taken once; each call returns a fresh copy, so a caller may change it freely."""

    __slots__ = ("_wire",)

    def __init__(self, rows: list[list[InlineKeyboardButton]]) -> None:
        super().__init__(rows)
        wire = super().to_dict()
        self._wire = wire if set(wire) == {"inline_keyboard"} else None  # anything else: PTB's own path

    def wire(self) -> dict[str, Any]:
        """The Bot API form itself, not a copy: for a caller that only encodes it (never change it)."""
        return self._wire if self._wire is not None else super().to_dict()

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        if self._wire is None or not recursive:
            return super().to_dict(recursive)
        return {"inline_keyboard": [[dict(button) for button in row] for row in self._wire["inline_keyboard"]]}


_keyboards: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Keyboard] = OrderedDict()


def keyboard(buttons: list[list[str]], node: str) -> InlineKeyboardMarkup:
    """One button per row: labels are whole phrases in Chinese or Russian. Built once per
    (node, buttons) and shared (PTB's objects are immutable)."""
    key = (node, tuple((option_id, label) for option_id, label in buttons))
    built = _keyboards.get(key)
    if built is None:
        built = _keyboards[key] = Keyboard([[InlineKeyboardButton(label, callback_data=encode(node, option_id))]
                                            for option_id, label in key[1]])
        if len(_keyboards) > KEYBOARD_CACHE:
            _keyboards.popitem(last=False)
    else:
        _keyboards.move_to_end(key)
    return built
