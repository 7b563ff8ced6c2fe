"""Folding an imported model's flat layer list back into the structure its names show, for
`archcalc import`: module paths (``layer1.0.conv1``) become nested sequences, a merge whose
branches start at one tensor becomes a ``residual`` or ``parallel`` block, and groups that are
the same but for a few attribute values (``layer2.1``, ``layer3.1``) become one entry under
``blocks:`` with those values as arguments, called with ``repeat:`` where they follow each other.

The result is checked, not trusted: the written spec is built and its graph matched node by node
against the flat one (ops, attributes, wiring). Anything that does not match falls back to the
flat spec, so the folded spec always computes exactly what the model does; so does a folded spec
longer than the flat one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from archcalc.graph import INPUT
from archcalc.interop.model import ImportedModel, LayerSpec, _value, to_yaml
from archcalc.shapes import format_shape

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
_MERGES = ("add", "concat")


@dataclass(eq=False)
class _Item:
    """A layer, or a group of consecutive layers sharing a module path prefix."""

    local: str  # its name in the sequence that holds it
    layer: LayerSpec | None = None
    children: list[_Item] = field(default_factory=list)
    path: tuple[str, ...] = ()  # a group's module path
    inputs: list[str] = field(default_factory=list)  # flat layer names feeding it
    output: str = ""  # the flat layer giving its output
    entries: list[_Entry] = field(default_factory=list)  # a group's body, once compiled

    def layers(self) -> list[LayerSpec]:
        if self.layer is not None:
            return [self.layer]
        return [leaf for child in self.children for leaf in child.layers()]


@dataclass(eq=False)
class _Entry:
    """One line (or nested block) of the written spec."""

    kind: str  # "layer", "group", "residual", "parallel"
    item: _Item | None = None  # layer, group
    refs: list[str] | None = None  # a layer's explicit inputs (None: the entry before)
    branches: list[list[_Entry]] = field(default_factory=list)  # residual: body, shortcut
    merge: str = ""


def _plain(word: str) -> bool:
    return word.isdecimal() or (word[:1] != "-" and word.replace("-", "_").isidentifier())


# -- grouping by module path -----------------------------------------------------------------


def _group(layers: list[LayerSpec], depth: int) -> list[_Item]:
    """Items for layers sharing a path prefix of length ``depth``: runs of layers sharing the
    next segment become groups; a segment whose layers are not consecutive stays flat."""
    runs: list[tuple[str | None, list[LayerSpec]]] = []
    for layer in layers:
        key = layer.path[depth] if len(layer.path) > depth else None
        if runs and key is not None and runs[-1][0] == key:
            runs[-1][1].append(layer)
        else:
            runs.append((key, [layer]))
    seen: dict[str | None, int] = {}
    for key, _ in runs:
        seen[key] = seen.get(key, 0) + 1
    items: list[_Item] = []
    for key, run in runs:
        if key is None or seen[key] > 1 or len(run) == 1:
            for layer in run:
                rest = layer.path[depth:] or (layer.op,)
                items.append(_Item("_".join(rest), layer, inputs=layer.inputs, output=layer.name))
        else:
            children = _group(run, depth + 1)
            items.append(_Item(key, children=children, path=run[0].path[: depth + 1]))
    return _unique(items)


def _unique(items: list[_Item]) -> list[_Item]:
    """Local names made plain words, unique within their sequence."""
    used = {INPUT}
    for item in items:
        base = _UNSAFE.sub("_", item.local).strip("_")
        if not _plain(base):
            op = item.layer.op if item.layer is not None else "group"
            base = f"{op}_{base}" if base else op
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        item.local = name
    return items


def _wire(items: list[_Item], consumers: dict[str, list[str]]) -> list[_Item]:
    """Each group's one input and output; a group entered from several places, or read from
    inside by later layers, is dissolved into its parent (its items renamed group_item)."""
    out: list[_Item] = []
    for item in items:
        if item.layer is not None:
            out.append(item)
            continue
        item.children = _wire(item.children, consumers)
        names = {layer.name for layer in item.layers()}
        sources = {s for layer in item.layers() for s in layer.inputs if s not in names}
        item.output = item.layers()[-1].name
        leaks = any(user not in names for name in names - {item.output} for user in consumers[name])
        if len(sources) == 1 and not leaks:
            item.inputs = list(sources)
            out.append(item)
        else:
            for child in item.children:
                child.local = f"{item.local}_{child.local}"
            out.extend(item.children)
    return _unique(out)


# -- sequences, residual and parallel blocks ------------------------------------------------------


def _compile(items: list[_Item], start: str, consumers: dict[str, list[str]]) -> list[_Entry]:
    """The entries of a sequence fed by ``start``: a merge at the end of branches that all start
    at one tensor becomes a residual or parallel block; everything else is a layer or group."""
    for item in items:
        if item.layer is None:
            item.entries = _compile(item.children, item.inputs[0], consumers)
    pieces: list[_Entry] = []
    rest = list(items)
    while rest:
        folded = _fold_merge(rest, start, consumers)
        if folded is None:
            last = rest.pop()
            pieces.append(_Entry("layer" if last.layer is not None else "group", last))
        else:
            rest, entry = folded
            pieces.append(entry)
    pieces.reverse()
    return pieces


def _fold_merge(
    items: list[_Item], start: str, consumers: dict[str, list[str]]
) -> tuple[list[_Item], _Entry] | None:
    merge = items[-1]
    layer = merge.layer
    if layer is None or layer.op not in _MERGES or len(layer.inputs) < 2:
        return None
    index = {item.output: i for i, item in enumerate(items)}
    walks = []
    for x in layer.inputs:
        walk = [x]
        while walk[-1] in index and walk[-1] != start:
            feeder = items[index[walk[-1]]]
            if len(feeder.inputs) != 1 or index[walk[-1]] >= len(items) - 1:
                break
            walk.append(feeder.inputs[0])
        walks.append(walk)
    common = [x for x in walks[0] if all(x in w for w in walks[1:])]
    if not common:
        return None
    root = common[0]
    if root != start and root not in index:
        return None
    chains = [w[: w.index(root)] for w in walks]
    members = [items[index[x]] for chain in chains for x in chain]
    first = 0 if root == start else index[root] + 1
    if len(set(map(id, members))) != len(members) or {id(m) for m in members} != {
        id(m) for m in items[first:-1]
    }:
        return None
    owner = {layer.name: item for item in items for layer in item.layers()}
    for chain in chains:  # each branch is a chain: every link read only by the next one
        readers = [merge, *[items[index[y]] for y in chain]]
        for x, reader in zip(chain, readers):
            if any(owner.get(user) is not reader for user in consumers[x]):
                return None
    branches = [
        [
            _Entry("layer" if items[index[x]].layer is not None else "group", items[index[x]])
            for x in reversed(chain)
        ]
        for chain in chains
    ]
    if layer.op == "add" and len(branches) == 2:
        body, shortcut = sorted(branches, key=len, reverse=True)
        if not body:
            return None
        entry = _Entry("residual", merge, branches=[body, shortcut], merge="add")
    else:
        entry = _Entry("parallel", merge, branches=branches, merge=layer.op)
    return items[:first], entry


# -- names for explicit inputs ------------------------------------------------------------------


class _Scope:
    def __init__(self, prefix: str | None, parent: _Scope | None) -> None:
        self.prefix = prefix  # the qualified prefix; None where the builder makes one up
        self.parent = parent
        self.names: dict[str, str] = {}  # local → the flat layer it gives

    def child(self, local: str) -> _Scope:
        prefix = None if self.prefix is None else f"{self.prefix}{local}."
        return _Scope(prefix, self)


class _NoName(Exception):
    pass


def _register(entries: list[_Entry], scope: _Scope) -> None:
    """The names each entry puts in ``scope``, as the spec builder will register them."""
    for entry in entries:
        if entry.kind in ("layer", "group"):
            assert entry.item is not None
            scope.names[entry.item.local] = entry.item.output
        elif entry.kind == "residual":
            _register(entry.branches[0], scope)


def _refer(target: str, scope: _Scope, homes: dict[str, tuple[_Scope, str]]) -> str:
    if target == INPUT:
        return INPUT
    if target not in homes:
        raise _NoName(target)
    home, local = homes[target]
    look: _Scope | None = scope
    while look is not None:
        if local in look.names:
            if look is home:
                return local
            break
        look = look.parent
    if home.prefix is None or not home.prefix:
        raise _NoName(target)
    return home.prefix + local


def _resolve_refs(
    entries: list[_Entry], start: str, scope: _Scope, homes: dict[str, tuple[_Scope, str]]
) -> None:
    """Fill in each layer's explicit inputs where it does not read the entry before it."""
    _register(entries, scope)
    for entry in entries:
        if entry.kind in ("layer", "group"):
            assert entry.item is not None
            homes[entry.item.output] = (scope, entry.item.local)
    previous = start
    for entry in entries:
        item = entry.item
        assert item is not None
        if entry.kind == "layer":
            assert item.layer is not None
            if item.layer.inputs != [previous]:
                entry.refs = [_refer(t, scope, homes) for t in item.layer.inputs]
        elif entry.kind == "group":
            inner = scope.child(item.local)
            _resolve_refs(item.entries, item.inputs[0], inner, homes)
        else:  # a residual's body is named in this scope; other branches in their own
            for k, branch in enumerate(entry.branches):
                inner = scope if entry.kind == "residual" and k == 0 else _Scope(None, scope)
                _resolve_refs(branch, previous, inner, homes)
        previous = item.output


# -- blocks: groups that are the same but for attribute values -----------------------------------


def _slots(layer: LayerSpec) -> list[tuple[str, str, bool]]:
    """The layer's attribute values as (key, value as JSON, written): every attribute of its op,
    an omitted one at its default, so that ``stride: 2`` and no stride differ only in value."""
    from archcalc.ops import REGISTRY

    out = []
    for key, attr in REGISTRY[layer.op].attrs.items():
        if key in layer.attrs:
            out.append((key, json.dumps(layer.attrs[key]), True))
        elif attr.default is None or isinstance(attr.default, (bool, int, float, str)):
            out.append((key, json.dumps(attr.default), False))
        else:  # a default that depends on other values (a pool's stride): no value to pass
            out.append((key, "", False))
    return out


def _shape(entries: list[_Entry], values: list[Any]) -> tuple[Any, ...]:
    """A group's structure with every attribute value taken out (into ``values``)."""
    out: list[Any] = []
    for entry in entries:
        item = entry.item
        assert item is not None
        if entry.kind == "layer":
            assert item.layer is not None
            slots = _slots(item.layer)
            keys = tuple((key, value == "") for key, value, _ in slots)
            values.extend(value for _, value, _ in slots)
            refs = tuple(entry.refs) if entry.refs is not None else None
            out.append(("layer", item.layer.op, item.local, keys, refs))
        elif entry.kind == "group":
            out.append(("group", item.local, _shape(item.entries, values)))
        else:
            out.append((entry.kind, entry.merge, tuple(_shape(b, values) for b in entry.branches)))
    return tuple(out)


@dataclass
class _Block:
    name: str
    first: _Item  # written out as the definition
    args: dict[int, str]  # slot → argument name
    instances: list[_Item]


def _find_blocks(top: list[_Entry]) -> dict[int, tuple[_Block, list[str]]]:
    """Groups whose structure repeats (three layers or more): each becomes a call of a block,
    wherever it is, a block's definition included (by id of the group: its block, its values)."""
    groups: list[_Item] = []  # every group, outermost first

    def collect(entries: list[_Entry]) -> None:
        for entry in entries:
            if entry.kind == "group":
                assert entry.item is not None
                groups.append(entry.item)
                collect(entry.item.entries)
            for branch in entry.branches:
                collect(branch)

    collect(top)
    values: dict[int, list[str]] = {}
    by_shape: dict[tuple[Any, ...], list[_Item]] = {}
    for group in groups:
        values[id(group)] = []
        shape = _shape(group.entries, values[id(group)])
        by_shape.setdefault(shape, []).append(group)
    chosen: dict[int, tuple[_Block, list[str]]] = {}
    names: set[str] = set()
    for instances in by_shape.values():
        if len(instances) < 2 or len(instances[0].layers()) < 3:
            continue
        block = _make_block(instances, values, names, _has_shortcut(instances[0].entries))
        for g in instances:
            chosen[id(g)] = (block, values[id(g)])
    return chosen


def _has_shortcut(entries: list[_Entry]) -> bool:
    """A residual with a projection at the block's own level (ResNet's downsampling block)."""
    return any(e.kind == "residual" and bool(e.branches[1]) for e in entries)


def _make_block(
    instances: list[_Item], values: dict[int, list[str]], names: set[str], shortcut: bool
) -> _Block:
    from archcalc.ops import ALIASES

    columns = list(zip(*(values[id(g)] for g in instances)))
    slot_keys = _slot_keys(instances[0].entries)
    args: dict[int, str] = {}
    by_column: dict[tuple[Any, ...], str] = {}
    used: set[str] = set()
    for i, column in enumerate(columns):
        if len(set(column)) == 1:
            continue
        if column in by_column:  # the same values in every instance: one argument
            args[i] = by_column[column]
            continue
        local, key = slot_keys[i]
        arg = _UNSAFE.sub("_", key if key not in used else f"{local}_{key}")
        n = 1
        while arg in used or not arg.isidentifier():
            n += 1
            arg = f"{key}_{n}"
        used.add(arg)
        args[i] = by_column[column] = arg
    # named after its instances: layer1.0 → layer_block, layer1 → layer
    stems: dict[str, int] = {}
    for g in instances:
        numbered = g.path[-1].isdecimal() and len(g.path) > 1
        stem = re.sub(r"[\d_]+$", "", g.path[-2] if numbered else g.path[-1])
        if numbered and stem:  # layer1.0 → layer_block; a numbered part of a block: block_unit
            stem = f"{stem}_unit" if stem.endswith("block") else f"{stem}_block"
        stems[stem] = stems.get(stem, 0) + 1
    common = max(stems, key=lambda s: (bool(s), stems[s]))
    base = _UNSAFE.sub("_", common).strip("_") or "block"
    if not base[0].isalpha():
        base = f"block_{base}"
    if base.lower() in ALIASES or base in ("residual", "parallel", "sequential", "repeat"):
        base = f"{base}_block"
    name = f"{base}_down" if shortcut else base
    n = 1
    while name in names:
        n += 1
        name = f"{base}_{n}"
    names.add(name)
    return _Block(name, instances[0], args, instances)


def _slot_keys(entries: list[_Entry]) -> list[tuple[str, str]]:
    """(layer, attribute) for each value slot, in the order _shape takes them out."""
    out: list[tuple[str, str]] = []
    for entry in entries:
        item = entry.item
        assert item is not None
        if entry.kind == "layer":
            assert item.layer is not None
            out.extend((item.local, key) for key, _, _ in _slots(item.layer))
        elif entry.kind == "group":
            out.extend(_slot_keys(item.entries))
        else:
            for branch in entry.branches:
                out.extend(_slot_keys(branch))
    return out


# -- writing ----------------------------------------------------------------------------------


class _Writer:
    def __init__(self, chosen: dict[int, tuple[_Block, list[Any]]]) -> None:
        self.chosen = chosen
        self.used: list[_Block] = []  # blocks called so far, in order
        self.slot = 0  # the next value slot, while writing a block's definition
        self.args: dict[int, str] | None = None

    def attrs(self, layer: LayerSpec, extra: dict[str, Any]) -> str:
        parts = [f"{k}: {_value(v)}" for k, v in extra.items()]
        for key, _, written in _slots(layer):
            if self.args is not None and self.slot in self.args:
                parts.append(f"{key}: ${self.args[self.slot]}")
            elif written:
                parts.append(f"{key}: {_value(layer.attrs[key])}")
            self.slot += 1
        return "{" + ", ".join(parts) + "}"

    def entries(self, entries: list[_Entry], indent: str) -> list[str]:
        lines: list[str] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            item = entry.item
            assert item is not None
            if entry.kind == "layer":
                assert item.layer is not None
                extra: dict[str, Any] = {"name": item.local}
                if entry.refs is not None:
                    extra["inputs"] = entry.refs if len(entry.refs) > 1 else entry.refs[0]
                lines.append(f"{indent}- {item.layer.op}: {self.attrs(item.layer, extra)}")
            elif entry.kind == "group" and id(item) in self.chosen:
                block, _ = self.chosen[id(item)]
                if block not in self.used:
                    self.used.append(block)
                call = self.call(item)
                run = self._run(entries, i, call)
                args = "{" + ", ".join(f"{k}: {v}" for k, v in call.items()) + "}"
                if run > 1:
                    lines.append(f"{indent}- repeat: {run}")
                    lines.append(f"{indent}  {block.name}: {args}")
                else:
                    lines.append(f"{indent}- {block.name}: {args}")
                for k in range(run):  # the slots of every call, in a definition
                    other = entries[i + k].item
                    assert other is not None
                    self.slot += len(self.chosen[id(other)][1])
                i += run
                continue
            elif entry.kind == "group":
                lines.append(f"{indent}- sequential:")
                lines.append(f"{indent}    name: {item.local}")
                lines.append(f"{indent}    layers:")
                lines.extend(self.entries(item.entries, indent + "      "))
            elif entry.kind == "residual":
                body, shortcut = entry.branches
                lines.append(f"{indent}- residual:")
                lines.append(f"{indent}    body:")
                lines.extend(self.entries(body, indent + "      "))
                if shortcut:
                    lines.append(f"{indent}    shortcut:")
                    lines.extend(self.entries(shortcut, indent + "      "))
            else:
                lines.append(f"{indent}- parallel:")
                if entry.merge != "concat":
                    lines.append(f"{indent}    merge: {entry.merge}")
                lines.append(f"{indent}    branches:")
                for branch in entry.branches:
                    if not branch:
                        lines.append(f"{indent}      - []")
                        continue
                    inner = self.entries(branch, indent + "        ")
                    lines.append(f"{indent}      - {inner[0].lstrip()}")
                    lines.extend(inner[1:])
            i += 1
        return lines

    def call(self, item: _Item) -> dict[str, str]:
        """A block call's name and arguments; inside a definition an argument that is one of
        the definition's own is passed on as ``$arg``."""
        block, values = self.chosen[id(item)]
        call = {"name": item.local}
        for slot, arg in _first_slots(block):
            outer = self.slot + slot
            if self.args is not None and outer in self.args:
                call[arg] = f"${self.args[outer]}"
            else:
                call[arg] = _value(json.loads(values[slot]))
        return call

    def _run(self, entries: list[_Entry], i: int, call: dict[str, str]) -> int:
        """How many calls from ``i`` on make the same call, named n, n + 1, ... (a numeric
        name counts on under repeat)."""
        first = entries[i].item
        assert first is not None
        if not first.local.isdecimal():
            return 1
        run, slot = 1, self.slot + len(self.chosen[id(first)][1])
        while i + run < len(entries):
            nxt = entries[i + run].item
            if entries[i + run].kind != "group" or nxt is None or id(nxt) not in self.chosen:
                break
            saved, self.slot = self.slot, slot
            other = self.call(nxt)
            self.slot = saved
            expected = {**call, "name": str(int(first.local) + run)}
            if other != expected or self.chosen[id(nxt)][0] is not self.chosen[id(first)][0]:
                break
            slot += len(self.chosen[id(nxt)][1])
            run += 1
        return run

    def block(self, block: _Block) -> list[str]:
        saved = self.args, self.slot
        self.args, self.slot = block.args, 0
        try:
            lines = self.entries(block.first.entries, "      ")
        finally:
            self.args, self.slot = saved
        arg_list = ", ".join(f"{a}: null" for _, a in _first_slots(block))
        shown = ", ".join(".".join(g.path) for g in block.instances[:3])
        more = ", ..." if len(block.instances) > 3 else ""
        head = [f"  {block.name}:  # {len(block.instances)} uses: {shown}{more}"]
        if arg_list:
            head.append(f"    args: {{{arg_list}}}")
        return [*head, "    layers:", *lines]


def _first_slots(block: _Block) -> list[tuple[int, str]]:
    """Each argument once, with the first slot that carries it."""
    seen: dict[str, int] = {}
    for slot, arg in sorted(block.args.items()):
        seen.setdefault(arg, slot)
    return [(slot, arg) for arg, slot in seen.items()]


# -- the whole thing --------------------------------------------------------------------------


def fold(model: ImportedModel, name: str, source: str) -> tuple[str, dict[str, str]] | None:
    """The folded spec text and each flat layer's name in it, or None when the model's names
    show no structure, folding would make the spec longer, or the folded spec would not match
    the model."""
    if not any(len(layer.path) > 1 for layer in model.layers):
        return None
    consumers: dict[str, list[str]] = {layer.name: [] for layer in model.layers}
    consumers[INPUT] = []
    for layer in model.layers:
        for source_name in layer.inputs:
            consumers[source_name].append(layer.name)
    consumers[model.layers[-1].name].append("")  # the model's output is read from outside
    items = _wire(_group(model.layers, 0), consumers)
    top = _compile(items, INPUT, consumers)
    try:
        _resolve_refs(top, INPUT, _Scope("", None), {})
    except _NoName:
        return None
    chosen = _find_blocks(top)
    writer = _Writer(chosen)
    safe = _UNSAFE.sub("_", name).strip("_") or "imported"
    lines = [
        f"name: {safe}",
        f"source: {json.dumps(source)}",
        f"input: {format_shape(model.input_shape)}",
    ]
    body = writer.entries(top, "  ")
    definitions: list[str] = []
    done = 0
    while done < len(writer.used):  # writing a definition may call further blocks
        definitions.extend(writer.block(writer.used[done]))
        done += 1
    if definitions:
        lines += ["blocks:", *definitions]
    lines += ["layers:", *body]
    text = "\n".join(lines) + "\n"
    flat = to_yaml(model, name, source)
    if text.count("\n") > flat.count("\n"):  # nothing repeats enough to pay for the nesting
        return None
    names = _match(flat, text)
    return None if names is None else (text, names)


def _match(flat_text: str, text: str) -> dict[str, str] | None:
    """Each flat layer's name in the folded spec, when the two graphs are the same: the same
    ops with the same attributes, wired the same way (add and mul in either order)."""
    from archcalc.diagnostics import SpecError
    from archcalc.spec import load

    flat = load("flat.yaml", flat_text).graph
    try:
        folded = load("folded.yaml", text).graph
    except SpecError:
        return None
    if len(flat.nodes) != len(folded.nodes) or flat.input_shape != folded.input_shape:
        return None
    names: dict[str, str] = {INPUT: INPUT}

    def same(a: str, b: str) -> bool:
        if a in names:
            return names[a] == b
        if a == INPUT or b == INPUT or b in names.values():
            return False
        x, y = flat.node(a), folded.node(b)
        if x.op.name != y.op.name or x.attrs != y.attrs or len(x.inputs) != len(y.inputs):
            return False
        names[a] = b
        orders = [y.inputs]
        if x.op.name in ("add", "mul") and len(y.inputs) == 2:
            orders.append(y.inputs[::-1])
        for order in orders:
            saved = dict(names)
            if all(same(i, j) for i, j in zip(x.inputs, order)):
                return True
            names.clear()
            names.update(saved)
        del names[a]
        return False

    if not same(flat.nodes[-1].name, folded.nodes[-1].name) or len(names) != len(flat.nodes) + 1:
        return None
    del names[INPUT]
    return names
