"""Spec (position-carrying YAML data) → layer graph.

The spec language, documented with examples in docs/spec-format.md:

- top level: ``name``, ``source``, ``description``, ``input``, ``strict``, ``blocks``, ``layers``;
- a layer is a bare word (``relu``) or a one-key mapping (``conv: {filters: 96, kernel: 11}``),
  with a scalar shorthand where an op has one (``dense: 4096``, ``dropout: 0.5``);
- composites: ``residual: {body, shortcut}`` (an ``add``), ``parallel: {branches}`` (a
  ``concat``), ``sequential: [...]``, calls of user ``blocks`` with ``$arg`` substitution, and
  ``repeat: N`` beside any layer;
- any layer may take ``name``, ``inputs`` (explicit predecessors, for arbitrary DAGs) and
  ``trainable: false``.

Mistakes are collected as diagnostics with positions; the build goes on past them so one run
reports them all, and the result is ``None`` only when nothing usable is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archcalc import limits
from archcalc.diagnostics import Diagnostic, Diagnostics, Pos, UsageError, did_you_mean
from archcalc.graph import INPUT, Graph, Node, Scope
from archcalc.ops import ALIASES, REGISTRY, Op
from archcalc.shapes import parse_shape
from archcalc.spec.yamlpos import YList, YMap, ylist, ymap

TOP_KEYS = ("name", "source", "description", "input", "strict", "blocks", "layers")
COMMON_KEYS = ("name", "inputs", "trainable", "frozen", "call")
CALLS = ("module", "functional")
COMPOSITES = ("residual", "parallel", "sequential")
_ARG = re.compile(r"\$([^\W\d]\w*)")


def _plain_word(name: str) -> bool:
    """A layer or block name: a letter (any script) or _ first, then letters, digits, _ or -;
    or a whole number, as torchvision numbers the blocks of a stage (layer1.0.conv1). Such
    names need no quoting in CSV and are safe inside quoted Graphviz identifiers."""
    return name.isdecimal() or (name[:1] != "-" and name.replace("-", "_").isidentifier())


@dataclass
class _Ref:
    name: str
    pos: Pos
    scope: _Namespace


@dataclass
class _Namespace:
    """Names visible at one level of nesting, and the counters for generated names."""

    prefix: str
    parent: _Namespace | None = None
    names: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()  # qualified names of the enclosing scopes, outermost first

    def qualify(self, local: str) -> str:
        return self.prefix + local

    def fresh(self, base: str) -> str:
        """conv1, conv2, ...; relu6_1 for a base ending in a digit (never 'relu61')."""
        sep = "_" if base[-1:].isdigit() else ""
        n = self.counters.get(base, 0)
        while True:
            n += 1
            if f"{base}{sep}{n}" not in self.names:
                self.counters[base] = n
                return f"{base}{sep}{n}"

    def resolve(self, name: str) -> str | None:
        scope: _Namespace | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def child(self, local: str) -> _Namespace:
        qualified = self.qualify(local)
        return _Namespace(qualified + ".", self, scopes=(*self.scopes, qualified))

    def within(self, scope: str) -> _Namespace:
        """The same names, inside one more scope: an unnamed residual block's layers are named
        as its block's own ('layer1.bottleneck1.conv1', not '...residual1.conv1')."""
        return _Namespace(
            self.prefix, self.parent, self.names, self.counters, (*self.scopes, scope)
        )


@dataclass
class _Block:
    name: str
    args: dict[str, Any]
    layers: YList
    pos: Pos


class _Builder:
    def __init__(self, filename: str, diags: Diagnostics) -> None:
        self.file = filename
        self.diags = diags
        self.nodes: list[Node] = []
        self.refs: dict[str, list[_Ref]] = {}
        self.scopes: dict[str, Scope] = {}
        self.blocks: dict[str, _Block] = {}
        self.calls: list[tuple[str, Pos]] = []  # block call stack, for notes and recursion
        self.qualified: set[str] = set()
        self.counting: set[str] = set()  # blocks being sized, against self-use

    # -- diagnostics -------------------------------------------------------------------------
    def error(self, code: str, message: str, pos: Pos, hint: str = "", layer: str = "") -> None:
        notes = [f"in block '{name}' called at {at}" for name, at in reversed(self.calls)]
        self.diags.append(Diagnostic("error", code, message, pos, layer, hint, notes))

    # -- top level ---------------------------------------------------------------------------
    def build(self, data: Any) -> Graph | None:
        top_pos = Pos(self.file, 1, 1)
        if data is None:
            self.error(
                "empty",
                "the spec is empty",
                top_pos,
                "a spec needs at least 'input:' and 'layers:'; see docs/spec-format.md",
            )
            return None
        if not isinstance(data, YMap):
            self.error(
                "not-a-spec",
                f"expected a mapping with 'input:' and 'layers:', found {_kind(data)}",
                getattr(data, "pos", top_pos),
                "start the file with 'input: 32x32x3' and a 'layers:' list",
            )
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.error(
                    "unknown-key",
                    f"unknown top-level key '{key}'",
                    data.key_pos[key],
                    _hint(str(key), TOP_KEYS, f"top-level keys are {', '.join(TOP_KEYS)}"),
                )
        name = data.get("name", "")
        if not isinstance(name, str):
            self.error("type", "'name' must be text", data.where("name"))
            name = ""
        strict = data.get("strict", False)
        if not isinstance(strict, bool):
            self.error("type", "'strict' must be true or false", data.where("strict"))
            strict = False

        input_shape: tuple[int, ...] = ()
        if "input" not in data:
            self.error(
                "missing-input",
                "the spec has no 'input:' shape",
                data.pos,
                "add a line such as 'input: 227x227x3' (H x W x C) or 'input: 16000x1' (length x channels)",
            )
        else:
            try:
                input_shape = parse_shape(data["input"])
            except UsageError as err:
                self.error("input", err.message, data.where("input"), err.hint)

        if "blocks" in data:
            self.define_blocks(data["blocks"], data.where("blocks"))
        layers = data.get("layers")
        if not isinstance(layers, YList) or not layers:
            self.error(
                "missing-layers",
                "the spec has no layers"
                if layers is None
                else f"'layers' must be a list, found {_kind(layers)}",
                data.where("layers") if "layers" in data else data.pos,
                "add 'layers:' followed by items such as '- conv: {filters: 10, kernel: 5}'",
            )
            return None

        try:  # before building anything: a repeat count alone may ask for billions of layers
            self.expanded_size(layers, {}, 2)
        except _TooLarge as large:
            self.error(large.code, large.message, large.pos, large.hint)
            return None
        top = _Namespace("")
        self.sequence(layers, top, INPUT)
        self.link()
        order = self.toposort()
        return Graph(
            name=name or self.file.rsplit("/", 1)[-1].rsplit(".", 1)[0],
            input_shape=input_shape,
            nodes=order,
            file=self.file,
            source=str(data.get("source", "") or ""),
            description=str(data.get("description", "") or ""),
            strict=strict,
            input_pos=data.where("input") if "input" in data else None,
            scopes=self.scopes,
        )

    def define_blocks(self, blocks: Any, pos: Pos) -> None:
        if not isinstance(blocks, YMap):
            self.error(
                "type",
                f"'blocks' must be a mapping of block names to definitions, found {_kind(blocks)}",
                pos,
            )
            return
        for name, body in blocks.items():
            at = blocks.key_pos[name]
            if not isinstance(name, str) or not _plain_word(name) or name.isdecimal():
                self.error("name", f"block name {name!r} is not a plain word", at)
                continue
            if name.lower() in ALIASES or name in COMPOSITES or name == "repeat":
                self.error(
                    "name",
                    f"block name '{name}' is already a layer type",
                    at,
                    "rename the block, e.g. 'my_" + name + "'",
                )
                continue
            args: Any = {}
            if isinstance(body, YList):
                layers = body
            elif isinstance(body, YMap):
                args = body.get("args", {}) or {}
                if not isinstance(args, YMap) and args != {}:
                    self.error(
                        "type",
                        "a block's 'args' must be a mapping of names to default values",
                        body.where("args"),
                        "write e.g. 'args: {width: 64, stride: 1}'; use null for an argument without default",
                    )
                    args = {}
                composite = [k for k in body if k in COMPOSITES]
                unknown = [k for k in body if k not in ("args", "layers", *COMPOSITES)]
                for key in unknown:
                    self.error(
                        "unknown-key",
                        f"unknown key '{key}' in block '{name}'",
                        body.key_pos[key],
                        _hint(
                            str(key),
                            ("args", "layers", *COMPOSITES),
                            "a block has 'args' and 'layers' (or one 'residual'/'parallel')",
                        ),
                    )
                if "layers" in body:
                    layers = body["layers"]
                elif len(composite) == 1:
                    key = composite[0]
                    item = YMap({key: body[key]})
                    item.pos, item.key_pos, item.value_pos = (
                        body.key_pos[key],
                        {key: body.key_pos[key]},
                        {key: body.value_pos[key]},
                    )
                    layers = ylist(body.pos, [item], [body.key_pos[key]])
                else:
                    self.error(
                        "missing-layers",
                        f"block '{name}' has no 'layers'",
                        at,
                        "give the block 'layers:' (a list), or a single 'residual:' or 'parallel:'",
                    )
                    continue
                if not isinstance(layers, YList):
                    self.error(
                        "type", f"block '{name}': 'layers' must be a list", body.where("layers")
                    )
                    continue
            else:
                self.error(
                    "type",
                    f"block '{name}' must be a mapping with 'args' and 'layers', or a list of layers",
                    blocks.where(name),
                )
                continue
            self.blocks[name] = _Block(name, dict(args), layers, at)

    # -- size before building -----------------------------------------------------------------
    def expanded_size(self, items: YList, args: dict[str, Any], level: int) -> int:
        """How many layers and blocks ``items`` makes once every ``repeat:`` and block call is
        expanded, without expanding: a repeated item is counted once and multiplied. Raises
        _TooLarge past the layer limit, or when block calls nest past the depth limit
        (``level`` counts YAML levels as if each called block were written out in place)."""
        if level > limits.DEPTH.value:
            raise _TooLarge(
                "too-deep",
                items.pos,
                f"with its blocks written out, the spec nests more than {limits.DEPTH.value} "
                "levels deep here",
                "blocks that call blocks nest too; flatten some of them, or " + limits.DEPTH.hint(),
            )
        most = limits.LAYERS.value
        total = 0
        for index, item in enumerate(items):
            total += self._item_size(item, items.where(index), args, level + 1)
            if total > most:
                raise _TooLarge(
                    "too-many-layers",
                    items.where(index),
                    f"the spec expands to more than {most:,} layers by this item",
                    "count the layers 'repeat:' and block calls make; " + limits.LAYERS.hint(),
                )
        return total

    def _item_size(self, item: Any, pos: Pos, args: dict[str, Any], level: int) -> int:
        if isinstance(item, str):
            return self._layer_size(item, None, args, level)
        if not isinstance(item, YMap):
            return 0
        words = [k for k in item if k != "repeat"]
        if len(words) != 1 or not isinstance(words[0], str):
            return 0  # a malformed item: build reports it
        times = _quiet_value(item.get("repeat", 1), args)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            times = 1  # build reports it
        one = self._layer_size(words[0], item[words[0]], args, level + 1)
        if one * times > limits.LAYERS.value:
            raise _TooLarge(
                "too-many-layers",
                item.where("repeat") if "repeat" in item else pos,
                f"'repeat: {times:,}' of {one:,} layer{'s' * (one != 1)} makes more than "
                f"{limits.LAYERS.value:,} layers",
                "use a smaller count; " + limits.LAYERS.hint(),
            )
        return one * times

    def _layer_size(self, word: str, value: Any, args: dict[str, Any], level: int) -> int:
        spec = value if isinstance(value, YMap) else None
        lists: list[Any] = []
        if word == "sequential":
            lists = [spec.get("layers") if spec is not None else value]
        elif word == "residual":
            lists = [spec.get("body"), spec.get("shortcut")] if spec is not None else [value]
        elif word == "parallel":
            branches = spec.get("branches") if spec is not None else value
            lists = list(branches) if isinstance(branches, YList) else []
        elif word in self.blocks and word not in self.counting:
            block = self.blocks[word]
            bound = dict(block.args)
            for key, val in (spec or {}).items():
                if key in bound:
                    bound[key] = _quiet_value(val, args)
            self.counting.add(word)  # a block that uses itself is reported by build
            try:
                return 1 + self.expanded_size(block.layers, bound, level + 1)
            finally:
                self.counting.discard(word)
        return 1 + sum(
            self.expanded_size(layers, args, level + 1)
            for layers in lists
            if isinstance(layers, YList)
        )

    # -- layers ------------------------------------------------------------------------------
    def sequence(self, items: YList, ns: _Namespace, prev: str) -> str:
        """Expand a list of layers, each fed by the one before; return the last node's name."""
        for index, item in enumerate(items):
            prev = self.item(item, items.where(index), ns, prev)
        return prev

    def item(self, item: Any, pos: Pos, ns: _Namespace, prev: str) -> str:
        if isinstance(item, str):
            return self.layer(item, None, pos, pos, ns, prev)
        if not isinstance(item, YMap) or not item:
            self.error(
                "layer",
                f"expected a layer (a word such as 'relu' or a mapping such as 'conv: {{filters: 64}}'), found {_kind(item)}",
                pos,
                "start each layer with '- ' followed by its type",
            )
            return prev
        keys = list(item)
        times = 1
        if "repeat" in item:
            keys.remove("repeat")
            times = item["repeat"]
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                self.error(
                    "type",
                    f"'repeat' must be a positive integer, found {_kind(times)}",
                    item.where("repeat"),
                )
                times = 1
        if len(keys) != 1:
            if not keys:
                self.error(
                    "layer",
                    "'repeat' needs a layer beside it",
                    item.pos,
                    "write e.g. '- repeat: 3' and on the next line, indented the same, 'bottleneck: {width: 64}'",
                )
                return prev
            self.error(
                "layer",
                f"a layer item has exactly one type key, found {len(keys)}: {', '.join(map(str, keys))}",
                item.key_pos[keys[1]],
                "put attributes such as name or stride inside the mapping: '- conv: {name: c1, filters: 8}'; start another layer with a new '- '",
            )
            return prev
        key = keys[0]
        if not isinstance(key, str):
            self.error("layer", f"a layer type must be a word, found {key!r}", item.key_pos[key])
            return prev
        for i in range(times):
            prev = self.layer(
                key, item[key], item.key_pos[key], item.where(key), ns, prev, repeat=(i + 1, times)
            )
        return prev

    def layer(
        self,
        word: str,
        value: Any,
        pos: Pos,
        value_pos: Pos,
        ns: _Namespace,
        prev: str,
        repeat: tuple[int, int] = (1, 1),
    ) -> str:
        if word in COMPOSITES:
            return self.composite(word, value, pos, value_pos, ns, prev, repeat)
        if word in self.blocks:
            return self.call(self.blocks[word], value, pos, value_pos, ns, prev, repeat)
        canonical = ALIASES.get(word.lower())
        if canonical is None:
            choices = {*ALIASES, *self.blocks, *COMPOSITES}
            self.error(
                "unknown-layer",
                f"unknown layer type '{word}'",
                pos,
                _hint(
                    word,
                    choices,
                    "see 'archcalc --help' or docs/spec-format.md for the layer types",
                ),
            )
            return prev
        return self.op_node(REGISTRY[canonical], value, pos, value_pos, ns, prev, repeat)

    def common(
        self, value: Any, ns: _Namespace, base: str, pos: Pos, repeat: tuple[int, int]
    ) -> tuple[str, str, list[_Ref] | None, bool] | None:
        """Read name, inputs and trainable from a layer's mapping; return (local, qualified, refs, trainable)."""
        name: str | None = None  # None: generate one from ``base``
        refs: list[_Ref] | None = None
        trainable = True
        if isinstance(value, YMap):
            if "name" in value:
                given = value["name"]
                if (
                    not isinstance(given, (str, int))
                    or isinstance(given, bool)
                    or not _plain_word(str(given))
                ):
                    self.error(
                        "name",
                        f"a layer name must be a plain word (a letter or _, then letters, digits, _ or -) or a whole number, found {_kind(given)}",
                        value.where("name"),
                    )
                else:
                    name = str(given)
                    if repeat[1] > 1:  # a number counts on (1, 2, 3), a word gets _1, _2, _3
                        name = (
                            str(int(name) + repeat[0] - 1)
                            if name.isdecimal()
                            else f"{name}_{repeat[0]}"
                        )
            if "inputs" in value:
                refs = self.refs_of(value["inputs"], value.where("inputs"), ns)
            if "trainable" in value:
                trainable = value["trainable"] is True
                if not isinstance(value["trainable"], bool):
                    self.error(
                        "type", "'trainable' must be true or false", value.where("trainable")
                    )
            if "frozen" in value:
                trainable = value["frozen"] is not True
                if not isinstance(value["frozen"], bool):
                    self.error("type", "'frozen' must be true or false", value.where("frozen"))
        if name is None:
            name = ns.fresh(base)
        elif name in ns.names or name == INPUT:
            where = "the network input" if name == INPUT else "an earlier layer"
            self.error(
                "duplicate-name",
                f"layer name '{name}' is already used by {where}",
                value.where("name") if isinstance(value, YMap) else pos,
                "names must be unique; rename one of them or leave it out to get a generated name",
            )
            return None
        qualified = ns.qualify(name)
        ns.names[name] = qualified
        self.qualified.add(qualified)
        return name, qualified, refs, trainable

    def refs_of(self, value: Any, pos: Pos, ns: _Namespace) -> list[_Ref]:
        items = value if isinstance(value, list) else [value]
        positions = value.item_pos if isinstance(value, YList) else [pos]
        refs = []
        for item, at in zip(items, positions):
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                self.error("type", f"'inputs' lists layer names, found {_kind(item)}", at)
                continue
            refs.append(_Ref(str(item), at, ns))
        return refs

    def op_node(
        self,
        op: Op,
        value: Any,
        pos: Pos,
        value_pos: Pos,
        ns: _Namespace,
        prev: str,
        repeat: tuple[int, int],
        inputs: list[str] | None = None,
    ) -> str:
        broken = False
        given: dict[Any, Any] = {}
        if isinstance(value, YMap):
            given = value
        elif value is not None:
            if op.shorthand is None or (
                isinstance(value, YList)
                and op.attrs[op.shorthand].kind not in ("window", "padding", "indices")
            ):
                example = (
                    f"{op.name}: {{{', '.join(list(op.attrs)[:2])}: ...}}" if op.attrs else op.name
                )
                self.error(
                    "type",
                    f"{op.name} takes a mapping of attributes, found {_kind(value)}",
                    value_pos,
                    f"write e.g. '{example}'",
                )
                broken = True
            else:
                given = {op.shorthand: value}

        def where(key: Any, on_value: bool = True) -> Pos:
            if not isinstance(value, YMap):
                return value_pos  # the shorthand `conv: 3`
            return value.where(key) if on_value else value.key_pos[key]

        attrs, keys, issues = op.parse_attrs(given, COMMON_KEYS)
        for issue in issues:
            at = pos if issue.key is None else where(issue.key, issue.on_value)
            self.error(issue.code, issue.message, at, issue.hint)
        broken = broken or bool(issues)
        raw_pos = {attr: where(key) for attr, key in keys.items()}
        named = self.common(value, ns, op.name, pos, repeat)
        if named is None:
            return prev
        _, qualified, refs, trainable = named
        call = value.get("call", "module") if isinstance(value, YMap) else "module"
        if call not in CALLS:
            self.error(
                "value",
                f"'call' is module or functional, found {_kind(call)}",
                value.where("call"),
                "write 'call: functional' where the reference code calls the op as a function "
                "(F.relu), which tools that hook modules do not count",
            )
            broken = True
        if refs is None and inputs is None and op.min_inputs > 1:
            self.error(
                "missing-inputs",
                f"{op.name} joins several layers but names none",
                pos,
                "give 'inputs: [a, b]', or use a residual/parallel block",
            )
            broken = True
        node = Node(
            qualified,
            op,
            attrs,
            inputs if inputs is not None else [prev],
            pos,
            ns.scopes,
            raw_pos,
            trainable,
            broken,
            call,
        )
        if refs is not None:
            node.inputs = []
            self.refs[qualified] = refs
        self.nodes.append(node)
        return qualified

    def composite(
        self,
        word: str,
        value: Any,
        pos: Pos,
        value_pos: Pos,
        ns: _Namespace,
        prev: str,
        repeat: tuple[int, int],
    ) -> str:
        spec = value if isinstance(value, YMap) else None
        named = self.common(spec, ns, word, pos, repeat)
        if named is None:
            return prev
        local, qualified, refs, _ = named
        if refs:
            self.error(
                "inputs",
                f"a {word} block takes its input from the layer before it; 'inputs' is not supported here",
                value.where("inputs") if isinstance(value, YMap) else pos,
                "insert an 'identity: {inputs: [...]}' layer before the block",
            )
        named_by_spec = isinstance(value, YMap) and "name" in value
        inner = (
            ns.within(qualified) if word == "residual" and not named_by_spec else ns.child(local)
        )
        self.scopes[qualified] = Scope(qualified, word, word, pos)
        if word == "sequential":
            layers = value.get("layers") if isinstance(value, YMap) else value
            if not isinstance(layers, YList):
                self.error(
                    "type",
                    "sequential takes a list of layers",
                    value_pos,
                    "write 'sequential: [conv: {...}, relu]' or 'sequential: {name: ..., layers: [...]}'",
                )
                return prev
            self._check_keys(spec, ("name", "layers"), word)
            last = self.sequence(layers, inner, prev)
            ns.names[local] = last
            return last
        if word == "residual":
            body = spec.get("body") if spec is not None else value
            shortcut = spec.get("shortcut") if spec is not None else None
            self._check_keys(spec, ("name", "body", "shortcut", "merge"), word)
            if not isinstance(body, YList):
                self.error(
                    "type",
                    "residual needs a 'body' list of layers",
                    spec.where("body") if spec is not None and "body" in spec else value_pos,
                    "write 'residual: {body: [...], shortcut: [...]}' (shortcut optional: identity)",
                )
                return prev
            branches: list[tuple[str, Any]] = [("", body), ("shortcut", shortcut)]
            merge = spec.get("merge", "add") if spec is not None else "add"
        else:
            raw = spec.get("branches") if spec is not None else value
            self._check_keys(spec, ("name", "branches", "merge"), word)
            if not isinstance(raw, YList) or not raw:
                self.error(
                    "type",
                    "parallel needs a list of 'branches', each a list of layers",
                    value_pos,
                    "write 'parallel: {branches: [[conv: ...], [maxpool: ...]]}'; an empty branch [] passes the input through",
                )
                return prev
            branches = [(f"b{i + 1}", branch) for i, branch in enumerate(raw)]
            merge = spec.get("merge", "concat") if spec is not None else "concat"
        if merge not in ("add", "concat"):
            self.error(
                "value",
                f"merge must be 'add' or 'concat', found {_kind(merge)}",
                spec.where("merge") if spec is not None else pos,
            )
            merge = "add" if word == "residual" else "concat"
        ends = []
        for label, layers in branches:
            if layers is None:  # identity shortcut
                ends.append(prev)
                continue
            if not isinstance(layers, YList):
                self.error(
                    "type",
                    f"each branch of {word} must be a list of layers, found {_kind(layers)}",
                    getattr(layers, "pos", value_pos),
                )
                continue
            if label in inner.names and inner.prefix == ns.prefix:  # a second one in a scope
                inner.counters.setdefault(label, 1)  # shortcut, shortcut2, ...
                label = inner.fresh(label)
            branch_ns = inner.child(label) if label else inner
            if label:
                self.scopes[branch_ns.prefix[:-1]] = Scope(
                    branch_ns.prefix[:-1], "branch", label, getattr(layers, "pos", pos)
                )
            ends.append(self.sequence(layers, branch_ns, prev))
            if label and inner.prefix == ns.prefix:
                inner.names[label] = ends[-1]
        last = self.op_node(REGISTRY[merge], None, pos, pos, inner, prev, (1, 1), inputs=ends)
        ns.names[local] = last  # naming the block in 'inputs' means its output
        return last

    def _check_keys(self, spec: YMap | None, allowed: tuple[str, ...], word: str) -> None:
        for key in spec or ():
            if key not in allowed:
                assert spec is not None
                self.error(
                    "unknown-key",
                    f"{word} has no key '{key}'",
                    spec.key_pos[key],
                    _hint(str(key), allowed, f"{word} takes {', '.join(allowed)}"),
                )

    def call(
        self,
        block: _Block,
        value: Any,
        pos: Pos,
        value_pos: Pos,
        ns: _Namespace,
        prev: str,
        repeat: tuple[int, int],
    ) -> str:
        if any(name == block.name for name, _ in self.calls):
            self.error(
                "recursion",
                f"block '{block.name}' uses itself",
                pos,
                "a block may use other blocks, but not itself",
            )
            return prev
        if value is not None and not isinstance(value, YMap):
            self.error(
                "type",
                f"block '{block.name}' takes a mapping of arguments, found {_kind(value)}",
                value_pos,
                f"write e.g. '{block.name}: {{{', '.join(f'{a}: ...' for a in block.args) or 'name: ...'}}}'",
            )
            return prev
        bound = dict(block.args)
        given: YMap = value if value is not None else ymap(pos)
        for key in given:
            if key in ("name", "inputs"):
                continue
            if key not in block.args:
                self.error(
                    "unknown-key",
                    f"block '{block.name}' has no argument '{key}'",
                    given.key_pos[key],
                    _hint(
                        str(key),
                        list(block.args),
                        f"its arguments are {', '.join(block.args) or '(none)'}",
                    ),
                )
                continue
            bound[key] = given[key]
        missing = [k for k, v in bound.items() if v is None]
        if missing:
            self.error(
                "missing-attribute",
                f"block '{block.name}' needs argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                pos,
                f"give {missing[0]}: ... when using the block",
            )
            return prev
        named = self.common(value, ns, block.name, pos, repeat)
        if named is None:
            return prev
        local, qualified, refs, _ = named
        if refs:
            self.error(
                "inputs",
                "a block takes its input from the layer before it; 'inputs' is not supported here",
                given.where("inputs"),
                "insert an 'identity: {inputs: [...]}' layer before the block",
            )
        self.scopes[qualified] = Scope(qualified, "block", block.name, pos, dict(bound))
        self.calls.append((block.name, pos))
        try:
            layers = self.substitute(block.layers, bound, block)
            last = self.sequence(layers, ns.child(local), prev)
            ns.names[local] = last
            return last
        finally:
            self.calls.pop()

    def substitute(
        self, data: Any, args: dict[str, Any], block: _Block, pos: Pos | None = None
    ) -> Any:
        """A copy of ``data`` with every ``$arg`` replaced by its bound value."""
        if isinstance(data, YMap):
            out = YMap()
            out.pos, out.key_pos, out.value_pos = data.pos, data.key_pos, data.value_pos
            for key, val in data.items():
                out[key] = self.substitute(val, args, block, data.where(key))
            return out
        if isinstance(data, YList):
            return ylist(
                data.pos,
                [self.substitute(v, args, block, data.where(i)) for i, v in enumerate(data)],
                data.item_pos,
            )
        if isinstance(data, str) and "$" in data:
            return self.evaluate(data, args, block, pos or block.pos)
        return data

    def evaluate(self, text: str, args: dict[str, Any], block: _Block, pos: Pos) -> Any:
        unknown = [name for name in _ARG.findall(text) if name not in args]
        if unknown:
            self.error(
                "unknown-argument",
                f"'${unknown[0]}' is not an argument of block '{block.name}'",
                pos,
                _hint(
                    unknown[0],
                    list(args),
                    f"declare it under the block's 'args:' (now: {', '.join(args) or 'none'})",
                ),
            )
            return None
        try:
            return _with_args(text, args)
        except ValueError as err:
            self.error(
                "expression",
                f"cannot evaluate '{text}': {err}",
                pos,
                "use + - * // / and parentheses on numbers, such as '$width * 4'",
            )
            return None

    # -- references, cycles, order -------------------------------------------------------------
    def link(self) -> None:
        by_name = {node.name: node for node in self.nodes}
        for qualified, refs in self.refs.items():
            node = by_name[qualified]
            for ref in refs:
                target = (
                    INPUT
                    if ref.name == INPUT
                    else ref.scope.resolve(ref.name) or (ref.name if ref.name in by_name else None)
                )
                if target is None:
                    visible = set(self.qualified) | {INPUT}
                    scope: _Namespace | None = ref.scope
                    while scope is not None:
                        visible |= set(scope.names)
                        scope = scope.parent
                    self.error(
                        "undefined-reference",
                        f"{qualified}: 'inputs' names '{ref.name}', but no layer has that name",
                        ref.pos,
                        _hint(
                            ref.name,
                            visible,
                            "name an earlier layer, or 'input' for the network input",
                        ),
                        qualified,
                    )
                    node.broken = True
                    continue
                if target == qualified:
                    self.error(
                        "cycle",
                        f"{qualified} lists itself in 'inputs'",
                        ref.pos,
                        "a layer can only take earlier layers as inputs",
                        qualified,
                    )
                    node.broken = True
                    continue
                node.inputs.append(target)
            if not node.inputs:
                node.broken = True
            elif len(node.inputs) < node.op.min_inputs:
                self.error(
                    "inputs",
                    f"{node.op.name} joins at least {node.op.min_inputs} layers, but {qualified} names {len(node.inputs)}",
                    node.pos,
                    "list every branch under 'inputs'",
                    qualified,
                )
                node.broken = True
            elif node.op.max_inputs is not None and len(node.inputs) > node.op.max_inputs:
                self.error(
                    "inputs",
                    f"{node.op.name} takes {node.op.max_inputs} input, but {qualified} names {len(node.inputs)}",
                    node.pos,
                    "join branches first with an 'add' or 'concat' layer",
                    qualified,
                )
                node.broken = True

    def toposort(self) -> list[Node]:
        """Kahn's algorithm, keeping spec order where the spec already is in order."""
        index = {node.name: i for i, node in enumerate(self.nodes)}
        pending = {node.name: sum(1 for src in node.inputs if src != INPUT) for node in self.nodes}
        users: dict[str, list[str]] = {}
        for node in self.nodes:
            for src in node.inputs:
                users.setdefault(src, []).append(node.name)
        import heapq

        ready = [index[name] for name, count in pending.items() if count == 0]
        heapq.heapify(ready)
        order: list[Node] = []
        while ready:
            node = self.nodes[heapq.heappop(ready)]
            order.append(node)
            for user in users.get(node.name, ()):
                pending[user] -= 1
                if pending[user] == 0:
                    heapq.heappush(ready, index[user])
        if len(order) < len(self.nodes):
            stuck = [node for node in self.nodes if pending[node.name] > 0]
            cycle = _find_cycle({n.name: n.inputs for n in stuck})
            first = next(n for n in stuck if n.name == cycle[0])
            refs = self.refs.get(first.name)
            self.error(
                "cycle",
                "the layers form a cycle: " + " → ".join([*cycle, cycle[0]]),
                refs[0].pos if refs else first.pos,
                "'inputs' must name layers that come before, so the data flows one way",
                first.name,
            )
            for node in stuck:
                node.broken = True
            order.extend(stuck)
        return order


class _TooLarge(Exception):
    def __init__(self, code: str, pos: Pos, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.pos, self.message, self.hint = code, pos, message, hint


def _quiet_value(value: Any, args: dict[str, Any]) -> Any:
    """``value`` with ``$arg`` references evaluated, or None where that fails (build reports
    the failure with its position; sizing only needs the numbers that do evaluate)."""
    if not isinstance(value, str) or "$" not in value:
        return value
    if any(name not in args for name in _ARG.findall(value)):
        return None
    try:
        return _with_args(value, args)
    except ValueError:
        return None


def _with_args(text: str, args: dict[str, Any]) -> Any:
    """'$width' → its value; '$width * 4' → the number. Every name must be in ``args``."""
    whole = _ARG.fullmatch(text.strip())
    if whole:
        return args[whole.group(1)]
    return _arithmetic(_ARG.sub(lambda m: repr(args[m.group(1)]), text))


def _find_cycle(inputs: dict[str, list[str]]) -> list[str]:
    start = next(iter(inputs))
    seen: list[str] = []
    node = start
    while node not in seen:
        seen.append(node)
        node = next(src for src in inputs[node] if src in inputs)
    return seen[seen.index(node) :]


def _hint(word: str, choices: Any, fallback: str) -> str:
    return did_you_mean(word, set(choices)) or fallback


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_LARGEST = 10**18  # keeps products of products from growing numbers without bound


def _arithmetic(expression: str) -> int | float:
    """Evaluate + - * / // % and parentheses over numbers, nothing else."""
    import ast
    import operator

    ops: dict[type, Any] = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod,
    }

    def walk(node: ast.AST) -> int | float:
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            result: int | float = ops[type(node.op)](walk(node.left), walk(node.right))
            if isinstance(result, int) and abs(result) > _LARGEST:
                raise ValueError(f"the result is larger than {_LARGEST:,}")
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError("only numbers and + - * / // % are allowed")

    try:
        result = walk(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ZeroDivisionError) as err:
        raise ValueError(str(err)) from None
    return int(result) if isinstance(result, float) and result.is_integer() else result


def build_graph(data: Any, filename: str, diags: Diagnostics) -> Graph | None:
    return _Builder(filename, diags).build(data)
