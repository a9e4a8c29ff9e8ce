"""Parse YAML into plain Python values while remembering where every key and value stands."""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[Any, ...]
# libyaml's parser (shipped in PyYAML's wheels) is ~10x faster than the pure-Python one, with the same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class DuplicateKey(ValueError):
    def __init__(self, key: str, line: int, column: int) -> None:
        super().__init__(f"duplicate key '{key}'")
        self.key, self.line, self.column = key, line, column


def load_with_positions(text: str) -> tuple[Any, dict[Path, tuple[int, int]], list[DuplicateKey]]:
    """Return (data, positions, duplicate keys). Positions map a path to a 1-based (line, column)."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(f"YAML syntax error: {problem}", line, col) from None
    positions: dict[Path, tuple[int, int]] = {}
    duplicates: list[DuplicateKey] = []
    if root is None:
        return None, positions, duplicates
    data = _convert(root, (), positions, duplicates, yaml.SafeLoader(""))
    return data, positions, duplicates


def _convert(node: yaml.Node, path: Path, positions: dict, duplicates: list, loader: yaml.SafeLoader) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in out:
                duplicates.append(DuplicateKey(key, key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            out[key] = _convert(value_node, (*path, key), positions, duplicates, loader)
            # a key's own position wins for the mapping entry, so errors point at the key line
            positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            positions[(*path, key, "<value>")] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), positions, duplicates, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def position_of(positions: dict[Path, tuple[int, int]], path: Path) -> tuple[int, int]:
    """The position of the longest known prefix of `path` (pydantic adds names YAML lacks)."""
    path = tuple(path)
    while path:
        if path in positions:
            return positions[path]
        # skip segments YAML never had (discriminator tags such as 'say' in ('nodes','a','say','next'))
        for i in range(len(path) - 1, 0, -1):
            candidate = path[:i] + path[i + 1 :]
            if candidate in positions:
                return positions[candidate]
        path = path[:-1]
    return positions.get((), (1, 1))
