"""YAML loading that remembers where every value came from.

Mappings load as :class:`YMap` and sequences as :class:`YList`; both are the plain built-in
containers plus the position of the container, of each key and of each value, so that any
mistake found later can be reported as ``file:line:column``.
"""

from __future__ import annotations

from typing import Any

import yaml

from archcalc.diagnostics import Diagnostic, Pos, SpecError

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict[Any, Any]):
    pos: Pos
    key_pos: dict[Any, Pos]
    value_pos: dict[Any, Pos]

    def where(self, key: Any) -> Pos:
        """Position of the value under ``key``, else of the key, else of the mapping."""
        return self.value_pos.get(key) or self.key_pos.get(key) or self.pos


class YList(list[Any]):
    pos: Pos
    item_pos: list[Pos]

    def where(self, index: int) -> Pos:
        return self.item_pos[index] if index < len(self.item_pos) else self.pos


def ymap(pos: Pos, items: dict[Any, Any] | None = None) -> YMap:
    """A YMap made in code (for example by block-argument substitution)."""
    m = YMap(items or {})
    m.pos = pos
    m.key_pos = {}
    m.value_pos = {k: pos for k in m}
    return m


def ylist(pos: Pos, items: list[Any], item_pos: list[Pos] | None = None) -> YList:
    out = YList(items)
    out.pos = pos
    out.item_pos = item_pos if item_pos is not None else [pos] * len(items)
    return out


def _pos(filename: str, node: yaml.Node) -> Pos:
    return Pos(filename, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, filename: str) -> Any:
    """Parse YAML text into YMap/YList/scalars, or raise :class:`SpecError` with a position."""

    class Loader(_BaseLoader):
        pass

    def construct_map(loader: Any, node: yaml.MappingNode) -> YMap:
        loader.flatten_mapping(node)
        out = YMap()
        out.pos = _pos(filename, node)
        out.key_pos = {}
        out.value_pos = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise _Fail(_pos(filename, key_node), "a mapping key must be a plain word")
            if key in out:
                raise _Fail(
                    _pos(filename, key_node),
                    f"duplicate key '{key}' (first given at line {out.key_pos[key].line})",
                    "each key may appear once in a mapping; to add several layers of the same "
                    "type, make each its own list item starting with '- '",
                )
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_pos[key] = _pos(filename, key_node)
            out.value_pos[key] = _pos(filename, value_node)
        return out

    def construct_seq(loader: Any, node: yaml.SequenceNode) -> YList:
        items = [loader.construct_object(child, deep=True) for child in node.value]
        return ylist(_pos(filename, node), items, [_pos(filename, child) for child in node.value])

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_map)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_seq)

    try:
        return yaml.load(text, Loader=Loader)
    except _Fail as fail:
        raise SpecError(
            [Diagnostic("error", "yaml", fail.message, fail.pos, hint=fail.hint)]
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else Pos(filename, 1, 1)
        problem = err.problem or err.context or "not valid YAML"
        context = f" ({err.context})" if err.context and err.problem else ""
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "yaml",
                    f"YAML syntax error: {problem}{context}",
                    pos,
                    hint="check the indentation and that every '[' or '{' is closed; "
                    "a layer list item starts with '- '",
                )
            ]
        ) from None
    except yaml.YAMLError as err:
        raise SpecError(
            [Diagnostic("error", "yaml", f"not a readable YAML file: {err}", Pos(filename, 1, 1))]
        ) from None


class _Fail(Exception):
    def __init__(self, pos: Pos, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.hint = hint
