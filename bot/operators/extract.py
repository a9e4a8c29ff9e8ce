"""Babel extractors: every message id a flow uses, and the ids the Python code says by itself.

Registered in pyproject.toml as the `ozonbot_flows` extractor; `babel.cfg` maps it onto
`flows/**.yaml` and maps `extract_code` (by its dotted name, `bot.operators.extract.extract_code`) onto `bot/**.py`, so

    pybabel extract -F babel.cfg -o locales/messages.pot .

lists every message with a translator comment saying where it is shown (flow, node, field).
Message ids are keys (`cancel_order.shipped`), so msgid is the key and msgid_plural repeats it for
messages with a `count`, exactly as the catalogs in `locales/` are written.

`extract_code` matters for `pybabel update`: without it the messages the engine says outside any
flow (ENGINE_MESSAGES, `status.<status>` labels, ...) would be marked obsolete in the catalogs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from bot.engine.builtin_messages import ENGINE_MESSAGES
from bot.engine.loader import parse_flow_file
from bot.engine.validators import _all_messages
from bot.engine.yaml_positions import YamlSyntaxError, load_with_positions, position_of
from bot.i18n.catalogs import CatalogError, Catalogs

Extracted = tuple[int, str, Any, list[str]]

_MESSAGE_FIELDS = ("title", "say", "label", "invalid")


def _decode(fileobj: BinaryIO, options: dict[str, Any]) -> str:
    data = fileobj.read()
    if isinstance(data, bytes):
        return data.decode(options.get("encoding", "utf-8"))
    return data


def extract_flows(fileobj: BinaryIO, keywords: Collection[str], comment_tags: Collection[str],
                  options: dict[str, Any]) -> Iterator[Extracted]:
    """Yield (lineno, funcname, message, comments) for every message id in one flow file.

    `gettext` for plain messages, `ngettext` with (id, id) for messages shown with a `count`.
    The comment says where the message is shown: `flow cancel_order, node shipped_options (say)`.
    """
    text = _decode(fileobj, options)
    name = getattr(fileobj, "name", "flow.yaml")
    src, _problems = parse_flow_file(Path(str(name)), text, str(name))
    if src is not None:
        for path, nid, msg in _all_messages(src):
            line, _ = position_of(src.positions, (*path, "<value>"))
            where = "title" if not nid else f"node {nid} ({'.'.join(str(p) for p in path[2:])})"
            yield _message(line, msg.msg, msg.count is not None, [f"flow {src.flow.id}, {where}"])
        return
    # The file does not validate (an operator is mid-edit): still extract what looks like messages,
    # so `make i18n` never drops translations because of one typo.
    try:
        data, positions, _ = load_with_positions(text)
    except YamlSyntaxError:
        return
    flow_id = str(data.get("id", "")) if isinstance(data, dict) else ""
    for path, value in _walk(data, ()):
        msgid, plural = _message_of(path, value)
        if msgid:
            line, _ = position_of(positions, path)
            yield _message(line, msgid, plural, [f"flow {flow_id}, {'.'.join(str(p) for p in path)} (unchecked)"])


def _message(line: int, msgid: str, plural: bool, comments: list[str]) -> Extracted:
    if plural:
        return line, "ngettext", (msgid, msgid), comments
    return line, "gettext", msgid, comments


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), v
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def _message_of(path: tuple, value: Any) -> tuple[str, bool]:
    if not path or path[-1] not in _MESSAGE_FIELDS:
        return "", False
    if path[-1] == "title" and len(path) != 1:
        return "", False
    if isinstance(value, str) and _KEY.fullmatch(value):
        return value, False
    if isinstance(value, dict) and isinstance(value.get("msg"), str):
        return value["msg"], "count" in value
    return "", False


# ---- messages the code says by itself ----------------------------------------------------------
_KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
_LITERAL = re.compile(r"""(?<![\w.])["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)["']""")
_FSTRING_PREFIX = re.compile(r"""\bf["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\.)\{""")


def _known_ids(options: dict[str, Any]) -> dict[str, bool]:
    """Message ids in the current catalogs -> plural? (from `locales_dir`, default ./locales)."""
    root = Path(options.get("locales_dir", "locales"))
    try:
        catalogs = Catalogs.load(root)
    except CatalogError:
        return {}
    out: dict[str, bool] = {}
    for lang in catalogs.languages:
        for msgid in catalogs.ids(lang):
            info = catalogs.info(msgid, lang)
            out[msgid] = out.get(msgid, False) or bool(info and info.plural)
    return out


def extract_code(fileobj: BinaryIO, keywords: Collection[str], comment_tags: Collection[str],
                 options: dict[str, Any]) -> Iterator[Extracted]:
    """Message ids used by Python code: the engine's built-in messages, string literals that are
    catalog ids (`Say("lookup.ask_number")`), and whole families built with f-strings
    (`MsgKey(f"status.{status}")` keeps every `status.*` id of the catalogs).
    """
    text = _decode(fileobj, options)
    known = _known_ids(options)
    name = Path(str(getattr(fileobj, "name", "code.py"))).as_posix()
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _LITERAL.finditer(line):
            msgid = m.group(1)
            builtin = msgid in ENGINE_MESSAGES and name.endswith("builtin_messages.py")
            if msgid in seen or not (msgid in known or builtin):
                continue
            seen.add(msgid)
            yield _message(lineno, msgid, known.get(msgid, False), [])
        for m in _FSTRING_PREFIX.finditer(line):
            prefix = m.group(1)
            for msgid in sorted(k for k in known if k.startswith(prefix) and k not in seen):
                seen.add(msgid)
                yield _message(lineno, msgid, known[msgid], [f"said by the code: {prefix}* ({Path(name).name})"])
