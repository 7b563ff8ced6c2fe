"""YAML loading that remembers where every value came from.

Mappings load as :class:`YMap` and sequences as :class:`YList`; both are the plain built-in
containers plus the position of the container, of each key and of each value, so that any
mistake found later can be reported as ``file:line:column``.
"""

from __future__ import annotations

from typing import Any

import yaml

from archcalc import limits
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

    loader = Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_extent(root, filename)
        return loader.construct_document(root)
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
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _size(node: yaml.Node, size: dict[int, int]) -> int:
    return 1 if isinstance(node, yaml.ScalarNode) else size[id(node)]


def _height(node: yaml.Node, height: dict[int, int]) -> int:
    return 1 if isinstance(node, yaml.ScalarNode) else height[id(node)]


def _check_extent(root: yaml.Node, filename: str) -> None:
    """Refuse a document whose values, with every alias expanded into a copy of its anchor, are
    too many or nest too deeply (the limits in archcalc.limits). Measured on the composed nodes,
    where an alias is one more reference to its anchor's node, before any value is built: an
    alias bomb costs one visit per distinct node here, not one per copy."""
    if isinstance(root, yaml.ScalarNode):
        return
    most_nodes, most_depth = limits.YAML_NODES.value, limits.DEPTH.value
    size: dict[int, int] = {}  # id(collection) → expanded values, capped at most_nodes + 1
    height: dict[int, int] = {}  # id(collection) → expanded levels
    open_ids: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: deep documents must not exhaust Python's stack
        node, finished = stack.pop()
        key = id(node)
        kids = _children(node)
        if finished:
            size[key] = min(1 + sum(_size(k, size) for k in kids), most_nodes + 1)
            height[key] = 1 + max((_height(k, height) for k in kids), default=0)
            open_ids.discard(key)
            continue
        if key in size:
            continue
        open_ids.add(key)
        stack.append((node, True))
        for kid in kids:
            if isinstance(kid, yaml.ScalarNode) or id(kid) in size:
                continue
            if id(kid) in open_ids:
                raise _Fail(
                    _pos(filename, kid),
                    "an alias refers to the collection that contains it",
                    "a YAML alias (*name) may only repeat a value defined before and outside it",
                )
            stack.append((kid, False))
    key = id(root)
    if height[key] > most_depth:
        node, level = root, 1
        while level <= most_depth:  # down the deepest path to the first level too many
            node = max(_children(node), key=lambda k: _height(k, height))
            level += 1
        raise _Fail(
            _pos(filename, node),
            f"the spec is nested more than {most_depth} levels deep here",
            "flatten the nesting (a block can be used many times instead of written out "
            "inside itself); " + limits.DEPTH.hint(),
        )
    if size[key] > most_nodes:
        node = root
        while True:  # the innermost collection that alone expands past the limit
            over = [k for k in _children(node) if _size(k, size) > most_nodes]
            if not over:
                break
            node = over[0]
        raise _Fail(
            _pos(filename, node),
            f"this value holds more than {most_nodes:,} YAML values, counting each alias "
            "('*name') as a copy of its anchor's value",
            "a spec is far smaller: use blocks and 'repeat:' for repeated layers; "
            + limits.YAML_NODES.hint(),
        )


class _Fail(Exception):
    def __init__(self, pos: Pos, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.hint = hint
