"""PyTorch export: a graph → the source of an ``nn.Module``, and the NumPy backend's weights as
its state dict.

The code reads as a person would write it (torchvision's ResNet is the model): each of the
spec's blocks is a class whose varying sizes are constructor parameters, named after the
block's arguments; repeats named 0, 1, 2, ... are ``nn.Sequential`` (a run of equal blocks one
loop), so the state dict's keys are the spec's layer names (``layer1.0.conv1``). It takes NCHW
input, as PyTorch does. Padding that PyTorch's layers cannot express (asymmetric sides,
``same``) is an explicit ``F.pad`` in ``forward``; archcalc's flatten order (H·W·C) is
PyTorch's (C·H·W) after the weights of the dense layer that reads it are reordered.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer

_ND = {1: "1d", 2: "2d", 3: "3d"}


def _ident(name: str) -> str:
    word = re.sub(r"\W", "_", name)
    if word[:1].isdigit():  # a repeat's index (layer1.0): attributes cannot start with a digit
        return f"_{word}"
    return f"{word}_" if keyword.iskeyword(word) or word in ("x", "self") else word


def _tuple(values: tuple[int, ...] | list[int]) -> str:
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else str(values)


def _torch_pad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """archcalc's (before, after) per axis, first axis first → F.pad's last axis first."""
    return tuple(p for pair in reversed(pads) for p in pair)


@dataclass
class _Layer:
    """One node in the generated code: its module (or None) and its forward expression."""

    module: str | None
    call: str  # with {m} for the module and {x} / {xs} for the inputs
    flat_input: tuple[int, ...] | None = None  # channels-last shape flattened before it
    notes: list[str] = field(default_factory=list)


def _translate(op: str, layer: Layer, explicit: bool = False) -> _Layer:
    """The module and forward call of one layer; ``explicit`` writes stride, padding and groups
    even at their defaults (a block class whose uses differ in them takes them as parameters)."""
    a, r = layer.attrs, layer.rank
    nd = _ND.get(r, "1d")
    if op in ("conv", "conv_transpose"):
        k, s, d = layer.per_axis("kernel"), layer.per_axis("stride"), layer.per_axis("dilation")
        pads = layer.padding(k, s, d)
        cin = layer.input[-1]
        args = [str(cin), str(a["filters"]), _tuple(k)]
        if explicit or any(v != 1 for v in s):
            args.append(f"stride={_tuple(s)}")
        symmetric = all(p == q for p, q in pads)
        if symmetric and (explicit or any(p for p, _ in pads)):
            args.append(f"padding={_tuple([p for p, _ in pads])}")
        if op == "conv_transpose":
            if not symmetric:
                raise UsageError("a conv_transpose with uneven padding has no PyTorch equivalent")
            extra = layer.attrs["output_padding"]
            if extra not in (0, (0,) * r):
                args.append(f"output_padding={extra}")
        if any(v != 1 for v in d):
            args.append(f"dilation={_tuple(d)}")
        if explicit or a["groups"] != 1:
            args.append(f"groups={a['groups']}")
        if not a["bias"]:
            args.append("bias=False")
        kind = "ConvTranspose" if op == "conv_transpose" else "Conv"
        module = f"nn.{kind}{nd}({', '.join(args)})"
        if symmetric:
            return _Layer(module, "{m}({x})")
        return _Layer(module, f"{{m}}(F.pad({{x}}, {_torch_pad(pads)}))")
    if op in ("maxpool", "avgpool"):
        k = layer.per_axis("kernel")
        s = layer.per_axis("stride") if a["stride"] else k
        d = layer.per_axis("dilation") if op == "maxpool" else (1,) * r
        pads = layer.padding(k, s, d)
        symmetric = all(p == q for p, q in pads) and all(2 * p <= kk for (p, _), kk in zip(pads, k))
        args = [_tuple(k), f"stride={_tuple(s)}"]
        if symmetric and (explicit or any(p for p, _ in pads)):
            args.append(f"padding={_tuple([p for p, _ in pads])}")
        if op == "maxpool" and any(v != 1 for v in d):
            args.append(f"dilation={_tuple(d)}")
        if a["ceil_mode"]:
            args.append("ceil_mode=True")
        if op == "avgpool" and not a["count_include_pad"]:
            args.append("count_include_pad=False")
        kind = "MaxPool" if op == "maxpool" else "AvgPool"
        if symmetric:
            return _Layer(f"nn.{kind}{nd}({', '.join(args)})", "{m}({x})")
        tp = _torch_pad(pads)
        plain = [x for x in args if not x.startswith("count_include_pad")]
        module = f"nn.{kind}{nd}({', '.join(plain)})"
        if op == "maxpool":
            return _Layer(module, f'{{m}}(F.pad({{x}}, {tp}, value=float("-inf")))')
        if a["count_include_pad"]:
            return _Layer(module, f"{{m}}(F.pad({{x}}, {tp}))")
        # the mean over the real inputs only (TensorFlow's `same` pooling): divide by the
        # share of each window that is not padding
        mask = "torch.ones_like({x}[:, :1])"
        return _Layer(module, f"{{m}}(F.pad({{x}}, {tp})) / {{m}}(F.pad({mask}, {tp}))")
    if op == "adaptive_avgpool":
        size = layer.per_axis("size")
        if all(n % o == 0 for n, o in zip(layer.input[:-1], size)):
            # the same windows as a plain pool at this input size, which every ONNX exporter
            # and runtime takes (adaptive pooling needs sizes the tracer may not keep)
            window = _tuple([n // o for n, o in zip(layer.input[:-1], size)])
            return _Layer(f"nn.AvgPool{nd}({window}, stride={window})", "{m}({x})")
        return _Layer(f"nn.AdaptiveAvgPool{nd}({_tuple(size)})", "{m}({x})")
    if op in ("global_avgpool", "global_maxpool"):
        kind = "AdaptiveAvgPool" if op == "global_avgpool" else "AdaptiveMaxPool"
        call = "{m}({x})" if a["keepdims"] else "torch.flatten({m}({x}), 1)"
        return _Layer(f"nn.{kind}{nd}(1)", call)
    if op == "dense":
        features = f"{layer.input[-1]}, {a['units']}" + ("" if a["bias"] else ", bias=False")
        call = "{m}({x})" if r == 0 else "{m}({x}.movedim(1, -1)).movedim(-1, 1)"
        return _Layer(f"nn.Linear({features})", call)
    if op == "flatten":
        return _Layer(None, "torch.flatten({x}, 1)")
    if op == "batchnorm":
        args = [str(layer.input[-1])]
        if a["eps"] != 1e-5:
            args.append(f"eps={a['eps']!r}")
        if a["momentum"] != 0.1:
            args.append(f"momentum={a['momentum']!r}")
        if not a["affine"]:
            args.append("affine=False")
        return _Layer(f"nn.BatchNorm{_ND.get(max(r, 1))}({', '.join(args)})", "{m}({x})")
    if op == "lrn":
        return _Layer(
            f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']!r}, beta={a['beta']!r}, "
            f"k={a['k']!r})",
            "{m}({x})" if r else "{m}({x}.unsqueeze(-1)).squeeze(-1)",  # it takes (N, C, ...)
        )
    if op == "dropout":
        return _Layer(f"nn.Dropout({a['rate']!r})", "{m}({x})")
    simple = {
        "relu": "nn.ReLU()",
        "relu6": "nn.ReLU6()",
        "sigmoid": "nn.Sigmoid()",
        "tanh": "nn.Tanh()",
        "gelu": "nn.GELU()",
        "silu": "nn.SiLU()",
        "hardswish": "nn.Hardswish()",
        "softmax": "nn.Softmax(dim=1)",
        "identity": "nn.Identity()",
    }
    if op in simple:
        return _Layer(simple[op], "{m}({x})")
    if op == "leaky_relu":
        return _Layer(f"nn.LeakyReLU({a['slope']!r})", "{m}({x})")
    if op == "hardsigmoid":
        if abs(a["alpha"] - 1 / 6) < 1e-12 and a["beta"] == 0.5:
            return _Layer("nn.Hardsigmoid()", "{m}({x})")
        return _Layer(None, f"({{x}} * {a['alpha']!r} + {a['beta']!r}).clamp(0, 1)")
    if op == "clip":
        return _Layer(None, f"{{x}}.clamp({a['low']!r}, {a['high']!r})")
    if op == "add":
        return _Layer(None, "{xs_plus}")
    if op == "mul":
        return _Layer(None, "{xs_times}")
    if op in ("sub", "div"):
        return _Layer(None, "{xs_minus}" if op == "sub" else "{xs_over}")
    if op == "affine":
        terms = ["{x}"]
        for sign, key, neutral in ((" * ", "scale", 1.0), (" + ", "shift", 0.0)):
            value = a[key]
            if isinstance(value, tuple):  # one per channel, along dim 1
                terms.append(f"{sign}torch.tensor({list(value)!r}).view(1, -1{', 1' * r})")
            elif value != neutral:
                terms.append(f"{sign}{value!r}")
        return _Layer(None, "".join(terms))  # assigned to a variable: no parentheses needed
    if op == "crop":
        from archcalc.ops.reshape import crop_cuts

        spans = crop_cuts(layer)
        index = ", ".join(f"{b}:{n - e}" for n, (b, e) in zip(layer.input[:-1], spans))
        return _Layer(None, f"{{x}}[:, :, {index}]")
    if op == "concat":
        return _Layer(None, "torch.cat([{xs}], 1)")
    if op == "zeropad":
        ones = (1,) * r
        return _Layer(f"nn.ZeroPad{nd}({_torch_pad(layer.padding(ones, ones, ones))})", "{m}({x})")
    if op == "upsample":
        scale = layer.per_axis("scale")
        factor = float(scale[0]) if len(set(scale)) == 1 else tuple(float(v) for v in scale)
        if a["mode"] == "nearest":
            return _Layer(f'nn.Upsample(scale_factor={factor}, mode="nearest")', "{m}({x})")
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[r]
        return _Layer(
            f'nn.Upsample(scale_factor={factor}, mode="{mode}", align_corners=False)', "{m}({x})"
        )
    if op == "channel_slice":
        return _Layer(None, f"{{x}}[:, {list(a['channels'])}]")
    raise UsageError(f"the {op} layer has no PyTorch translation yet")


# Ops that carry a flat vector's features through one by one (or permute along with them:
# softmax), so a dense layer further on can absorb PyTorch's flatten order in its weights.
_ORDER_FREE = {
    "relu",
    "relu6",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "softmax",
    "hardsigmoid",
    "hardswish",
    "clip",
    "dropout",
    "identity",
    "batchnorm",
}


@dataclass
class FlattenOrder:
    """How each flatten of a feature map is written. PyTorch's own (C·H·W) where the order is
    absorbed by the weights of the dense layers that read it (``reads``: node → the flattened
    channels-last shape; batchnorm vectors on the way are reordered too); archcalc's (H·W·C,
    ``channels_last``: channels moved last first) where it would reach anything else — the
    output, a merge, a channel slice — so that those compute exactly what archcalc computes."""

    reads: dict[str, tuple[int, ...]] = field(default_factory=dict)
    channels_last: set[str] = field(default_factory=set)


def flatten_order(graph: Graph, layers: Mapping[str, Layer | None]) -> FlattenOrder:
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for src in node.inputs:
            readers.setdefault(src, []).append(node.name)
    nodes = {node.name: node for node in graph.nodes}
    last = graph.nodes[-1].name
    order = FlattenOrder()
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        shape = tuple(layer.input)
        if node.op.name != "flatten" or math.prod(shape[:-1]) == 1:
            continue  # a flat vector, or a 1x1 map: one order
        region, todo, absorbed = [], [node.name], True
        while todo and absorbed:
            name = todo.pop()
            for reader in readers.get(name, []):
                region.append(reader)
                op = nodes[reader].op.name
                if op in _ORDER_FREE and len(nodes[reader].inputs) == 1:
                    todo.append(reader)
                elif op != "dense":
                    absorbed = False
            absorbed = absorbed and name != last
        if absorbed:
            order.reads.update(
                {r: shape for r in region if nodes[r].op.name in ("dense", "batchnorm")}
            )
        else:
            order.channels_last.add(node.name)
    return order


_INT = re.compile(r"(?<![\w.])\d+(?![\w.])")  # an integer literal, not in a name or a float
# What PyTorch calls the positional arguments archcalc writes, to name a block's parameters.
_POSITIONAL = {
    "Conv": ("in_channels", "out_channels", "kernel_size"),
    "ConvTranspose": ("in_channels", "out_channels", "kernel_size"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm": ("num_features",),
    "LocalResponseNorm": ("size",),
    "MaxPool": ("kernel_size",),
    "AvgPool": ("kernel_size",),
}


@dataclass
class TorchCode:
    """The generated module: its source, its class, and each layer's module path in its state
    dict (the spec's name, where nn.Sequential's indexes give ``layer1.0.conv1`` as is)."""

    source: str
    class_name: str
    paths: dict[str, str]


@dataclass
class _Body:
    """One module's code: constructor lines (``self.… = …``) and forward lines."""

    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)


@dataclass
class _Class:
    label: str  # the spec's block name, or the container's
    doc: str
    forward: list[str]
    template: str  # the constructor lines, every integer a slot
    instances: list[tuple[str, list[int], dict[str, Any]]] = field(default_factory=list)
    name: str = ""
    params: list[tuple[str, list[int]]] = field(default_factory=list)  # name, slots


class _Generator:
    """Blocks as classes, repeats as nn.Sequential. A container of the layer names
    (``layer1`` of ``layer1.0.conv1``) whose layers read one tensor from outside and give one
    back becomes a module of its own: nn.Sequential when it is a chain of such modules named
    0, 1, 2, ..., else a class per distinct block, its varying sizes constructor parameters.
    A container whose tensors cross its edge (a U-Net skip) is a plain attribute holder
    computed in its parent's forward."""

    def __init__(
        self, graph: Graph, layers: Mapping[str, Layer | None], explicit: set[str]
    ) -> None:
        self.graph, self.layers = graph, layers
        self.index = {n.name: i for i, n in enumerate(graph.nodes)}
        self.nodes = {n.name: n for n in graph.nodes}
        self.channels_last = flatten_order(graph, layers).channels_last
        self.explicit = explicit
        self.children: dict[str, list[str]] = {"": []}  # container → child keys, in order
        self.members: dict[str, list[str]] = {"": [n.name for n in graph.nodes]}
        for node in graph.nodes:
            parts = node.name.split(".")
            for i in range(len(parts)):
                parent, key = ".".join(parts[:i]), ".".join(parts[: i + 1])
                if key not in self.children[parent]:
                    self.children[parent].append(key)
                if i < len(parts) - 1:
                    self.children.setdefault(key, [])
                    self.members.setdefault(key, []).append(node.name)
        self.readers: dict[str, set[str]] = {}
        for node in graph.nodes:
            for src in node.inputs:
                self.readers.setdefault(src, set()).add(node.name)
        self.classes: list[_Class] = []
        self.paths: dict[str, str] = {}

    def code(self, name: str, explicit: bool) -> _Layer:
        if name in self.channels_last:
            return _Layer(None, "torch.flatten({x}.movedim(1, -1), 1)")
        layer = self.layers[name]
        assert layer is not None
        return _translate(self.nodes[name].op.name, layer, explicit)

    def source_of(self, prefix: str) -> str | None:
        """The one tensor a container reads from outside, if it is a module of its own."""
        inside = set(self.members[prefix])
        outside = {s for n in inside for s in self.nodes[n].inputs if s not in inside}
        last = self.members[prefix][-1]
        leaving = {n for n in inside if self.readers.get(n, set()) - inside}
        if last == self.graph.nodes[-1].name:
            leaving.add(last)
        return outside.pop() if len(outside) == 1 and leaving <= {last} else None

    def body(
        self,
        prefix: str,
        attr: str,
        path: str,
        var: dict[str, str],
        out: _Body,
        explicit: bool = False,
    ) -> None:
        """The code of a container's children into ``out``: its modules as ``self.{attr}…``,
        each layer's state-dict path under ``path``, its tensors' variables in ``var``."""
        for key in self.children[prefix]:
            local = key[len(prefix) + 1 :] if prefix else key
            name = _ident(local)
            if key in self.nodes:
                t = self.code(key, explicit)
                xs = [var[s] for s in self.nodes[key].inputs]
                call = t.call.format(
                    m=f"self.{attr}{name}",
                    x=xs[0],
                    xs=", ".join(xs),
                    xs_plus=" + ".join(xs),
                    xs_times=" * ".join(xs),
                    xs_minus=" - ".join(xs),
                    xs_over=" / ".join(xs),
                )
                if t.module is not None:
                    out.init.append(f"self.{attr}{name} = {t.module}")
                    self.paths[key] = f"{path}{name}"
                var[key] = self.variable(local, var)
                out.forward.append(f"{var[key]} = {call}")
                continue
            source = self.source_of(key)
            if source is None:  # tensors cross its edge: computed here, its modules held
                out.init.append(f"self.{attr}{name} = nn.Module()")
                self.body(key, f"{attr}{name}.", f"{path}{name}.", var, out, explicit)
                continue
            module = self.module(key, f"{path}{name}.", explicit)
            out.init.append(f"self.{attr}{name} = {module}")
            last = self.members[key][-1]
            var[last] = self.variable(local, var)
            out.forward.append(f"{var[last]} = self.{attr}{name}({var[source]})")

    def variable(self, local: str, var: dict[str, str]) -> str:
        base = _ident(local.replace(".", "_"))
        base = f"x{base}" if base.startswith("_") else base
        taken, name, n = set(var.values()), base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    def _chained(self, prefix: str) -> bool:
        """Whether a container is a chain of one-input modules named 0, 1, 2, ...:
        nn.Sequential."""
        before = self.source_of(prefix)
        for i, key in enumerate(self.children[prefix]):
            if key != f"{prefix}.{i}":
                return False
            if key in self.nodes:
                t, node = self.code(key, False), self.nodes[key]
                if t.module is None or t.call != "{m}({x})" or node.inputs != [before]:
                    return False
            elif self.source_of(key) != before:
                return False
            before = self.members[key][-1] if key not in self.nodes else key
        return True

    def module(self, prefix: str, path: str, explicit: bool = False) -> str:
        """The constructor expression of a self-contained container; a class's instance is
        written as a tag and its integer sizes, named by :meth:`finish`."""
        if self._chained(prefix):
            parts = []
            for i, key in enumerate(self.children[prefix]):
                if key in self.nodes:
                    module = self.code(key, explicit).module
                    assert module is not None
                    parts.append(module)
                    self.paths[key] = f"{path}{i}"
                else:
                    parts.append(self.module(key, f"{path}{i}.", explicit))
            return f"nn.Sequential({_runs(parts)})"
        scope = self.graph.scopes.get(prefix)
        block = scope is not None and scope.kind == "block"
        label = scope.label if scope is not None and block else prefix.rsplit(".", 1)[-1]
        out = _Body()
        source = self.source_of(prefix)
        assert source is not None
        var = {source: "x"}
        self.body(prefix, "", path, var, out, label in self.explicit)
        out.forward.append(f"return {var[self.members[prefix][-1]]}")
        kind = scope.kind if scope is not None else "group of layers"
        doc = f"The spec's {kind} '{label}'."
        init = "\n".join(out.init)
        template = _INT.sub("{}", init)
        slots = [int(v) for v in _INT.findall(init)]
        for c in self.classes:
            if (c.label, c.template, c.forward) == (label, template, out.forward):
                break
        else:
            c = _Class(label, doc, out.forward, template)
            self.classes.append(c)
        c.instances.append((prefix, slots, scope.args if scope is not None and block else {}))
        return f"\0{_tag(self.classes.index(c))}\0({', '.join(map(str, slots))})"

    def finish(self, reserved: str) -> None:
        """Name the classes (not ``reserved``, the model's) and their parameters: the sizes
        that differ between instances."""
        used = {reserved}
        for c in self.classes:
            c.name = _unique(_class_name(c.label), used)
            columns = list(zip(*(slots for _, slots, _ in c.instances)))
            names: dict[tuple[int, ...], str] = {}
            taken: set[str] = set()
            for i, values in enumerate(columns):
                if len(set(values)) > 1 and values not in names:
                    names[values] = _unique(self.param_name(c, i, values), taken)
            c.params = [
                (n, [i for i, v in enumerate(columns) if v == values])
                for values, n in names.items()
            ]
            # sizes derived from the input first, then the block's arguments in its order
            order = list(c.instances[0][2])
            c.params.sort(key=lambda p: order.index(p[0]) if p[0] in order else -1)

    def calls(self, text: str) -> str:
        """The tags of class instances in ``text`` as calls with their parameters."""

        def call(match: re.Match[str]) -> str:
            c = self.classes[_untag(match.group(1))]
            tokens = match.group(2).split(", ")
            return f"{c.name}({', '.join(f'{n}={tokens[i[0]]}' for n, i in c.params)})"

        return re.sub("\0([a-z]+)\0\\(([^()]*)\\)", call, text)

    def param_name(self, c: _Class, slot: int, values: tuple[int, ...]) -> str:
        for arg in c.instances[0][2]:
            if all(args.get(arg) == v for (_, _, args), v in zip(c.instances, values)):
                return str(arg)
        before = c.template[: [m.start() for m in re.finditer(r"\{\}", c.template)][slot]]
        keyword = re.search(r"(\w+)=\(?[{}, ]*$", before)
        if keyword:
            return keyword.group(1)
        nested = re.search("\0([a-z]+)\0\\(([^()]*)$", before)
        if nested:  # a size passed on to a block inside: the name it has there
            inner = self.classes[_untag(nested.group(1))]
            position = nested.group(2).count(",")
            for name, slots in inner.params:
                if position in slots:
                    return name
        call = re.search(r"nn\.([A-Za-z]+?)(?:[123]d)?\(([^()]*)$", before)
        if call:
            names = _POSITIONAL.get(call.group(1), ())
            position = call.group(2).count(",")
            if position < len(names):
                return names[position]
        return "size"


def _tag(index: int) -> str:
    """A class's index in letters (integers in the text are sizes)."""
    word = ""
    while True:
        index, digit = divmod(index, 26)
        word = chr(ord("a") + digit) + word
        if not index:
            return word
        index -= 1


def _untag(word: str) -> int:
    index = 0
    for ch in word:
        index = index * 26 + ord(ch) - ord("a") + 1
    return index - 1


def _unique(word: str, used: set[str]) -> str:
    name, n = word, 2
    while name in used:
        name, n = f"{word}{'_' if word[-1].isdigit() else ''}{n}", n + 1
    used.add(name)
    return name


WIDTH = 99  # the generated code's line length (ruff's default 88 would wrap most conv lines)


def _wrap(line: str, indent: int) -> list[str]:
    """A statement too long for one line: the arguments of its last call one per line, with a
    trailing comma (as ruff format writes it)."""
    if indent + len(line) <= WIDTH or not line.endswith(")"):
        return [line]
    depth, start = 0, -1
    for i in range(len(line) - 1, -1, -1):  # the bracket the last one closes
        depth += {")": 1, "]": 1, "(": -1, "[": -1}.get(line[i], 0)
        if depth == 0:
            start = i
            break
    args, depth, begin = [], 0, start + 1
    for i in range(start + 1, len(line) - 1):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(line[i], 0)
        if line[i] == "," and depth == 0:
            args.append(line[begin:i].strip())
            begin = i + 1
    args.append(line[begin:-1].strip())
    inner = [w for a in args for w in _wrap(f"{a},", indent + 4)]
    return [line[: start + 1], *(f"    {w}" for w in inner), ")"]


def _lines(lines: list[str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{w}" for line in lines for w in _wrap(line, indent)]


_CONV_DEFAULT = re.compile(r", (?:stride=1|padding=0|groups=1)(?=[,)])")


def _drop_defaults(text: str) -> str:
    """Convolutions' stride, padding and groups written out for a block's parameters, left out
    again where they stayed at PyTorch's default in every use."""
    out, at = [], 0
    for start in (m.start() for m in re.finditer(r"nn\.Conv\w*\(", text)):
        depth, end = 0, start
        for end in range(text.index("(", start), len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        out += [text[at:start], _CONV_DEFAULT.sub("", text[start : end + 1])]
        at = end + 1
    return "".join([*out, text[at:]])


def _runs(parts: list[str]) -> str:
    """nn.Sequential's arguments: a run of three or more equal modules as one loop."""
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while j < len(parts) and parts[j] == parts[i]:
            j += 1
        if j - i >= 3:
            out.append(f"*({parts[i]} for _ in range({j - i}))")
        else:
            out.extend(parts[i:j])
        i = j
    return ", ".join(out)


def torch_code(graph: Graph, layers: Mapping[str, Layer | None], spec: str) -> TorchCode:
    """The Python source of an nn.Module computing ``graph`` on NCHW input."""
    explicit: set[str] = set()
    while True:  # again, with stride, padding, groups as parameters where uses differ in them
        gen = _Generator(graph, layers, explicit)
        top = _Body()
        var = {INPUT: "x"}
        gen.body("", "", "", var, top)
        labels = [c.label for c in gen.classes]
        varied = {label for label in labels if labels.count(label) > 1} - explicit
        if not varied:
            break
        explicit |= varied
    main = _class_name(graph.name)
    shape = graph.input_shape
    nchw = (shape[-1], *shape[:-1])
    gen.finish(reserved=main)
    blocks: list[str] = []
    for c in gen.classes:
        slots = {i: n for n, idx in c.params for i in idx}
        pieces = c.template.split("{}")
        values = c.instances[0][1]
        init = _drop_defaults(
            pieces[0]
            + "".join(slots.get(i, str(values[i])) + piece for i, piece in enumerate(pieces[1:]))
        )
        params = ["self", *(f"{n}: int" for n, _ in c.params)]
        signature = [f"    def __init__({', '.join(params)}) -> None:"]
        if len(signature[0]) > WIDTH:  # one per line, as ruff format writes it
            signature = ["    def __init__(", *(f"        {p}," for p in params), "    ) -> None:"]
        blocks += [
            f"class {c.name}(nn.Module):",
            f'    """{c.doc}"""',
            "",
            *signature,
            "        super().__init__()",
            *_lines(gen.calls(init).split("\n"), 8),
            "",
            "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
            *_lines(c.forward, 8),
            "",
            "",
        ]
    model = [
        f"class {main}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *_lines([gen.calls(line) for line in top.init], 8),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *_lines(top.forward, 8),
        f"        return {var[graph.nodes[-1].name]}",
    ]
    code = "\n".join([*blocks, *model])
    lines = [
        f'"""{graph.name or "net"}: generated by `archcalc export {spec} --to pytorch`.',
        "",
        f"Input: N x {' x '.join(map(str, nchw))} (channels first). The spec's blocks are classes,",
        "repeats named 0, 1, 2, ... nn.Sequential; the state dict's keys are the spec's layer names.",
        '"""',
        "",
        "import torch",
        *(["import torch.nn.functional as F"] if "F." in code else []),
        "from torch import nn",
        "",
        "",
        code,
        "",
        "",
        f"INPUT_SHAPE = {nchw}  # one sample, channels first",
        "",
    ]
    return TorchCode("\n".join(lines), main, gen.paths)


def _class_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name or "net")
    text = "".join(w[:1].upper() + w[1:] for w in words if w) or "Net"
    return text if text[0].isalpha() else f"Net{text}"


def torch_arrays(
    graph: Graph, layers: Mapping[str, Layer | None], params: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The backend's arrays of each layer in PyTorch's layouts and names (float32 NumPy):
    kernels channels-first, dense weights (out, in) in PyTorch's flatten order. The ONNX
    export writes the same arrays."""
    import numpy as np

    from archcalc.backend.kernels import flatten_order_from_chw

    flats = flatten_order(graph, layers).reads
    out: dict[str, dict[str, Any]] = {}
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        op = node.op.name
        order = None
        if node.name in flats:
            # our feature j is torch's feature idx[j], so torch's feature i is our argsort[i]
            order = np.argsort(flatten_order_from_chw(flats[node.name]))
        arrays: dict[str, Any] = {}
        for key, value in params[node.name].items():
            value = np.asarray(value, dtype=np.float32)
            rank = layer.rank
            if op == "conv" and key == "kernel":
                if layer.attrs.get("flip"):
                    value = np.flip(value, axis=tuple(range(rank)))
                value = np.transpose(value, (rank + 1, rank, *range(rank)))
            elif op == "conv_transpose" and key == "kernel":
                value = np.transpose(value, (rank, rank + 1, *range(rank)))
            elif op == "dense" and key == "kernel":
                value = (value[order] if order is not None else value).T
            elif order is not None and value.ndim == 1 and op == "batchnorm":
                value = value[order]
            name = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(key, key)
            arrays[name] = np.ascontiguousarray(value)
        out[node.name] = arrays
    return out


def state_dict(
    graph: Graph, code: TorchCode, arrays: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Each layer's arrays (:func:`torch_arrays`) as the generated module's state dict."""
    import numpy as np

    paths = code.paths
    out: dict[str, Any] = {}
    for node in graph.nodes:
        if node.name not in paths:
            continue  # no module: no arrays
        path = paths[node.name]
        for key, value in arrays[node.name].items():
            out[f"{path}.{key}"] = value
        if node.op.name == "batchnorm":
            out[f"{path}.num_batches_tracked"] = np.asarray(0, dtype=np.int64)
    return out


def build_module(source: str, class_name: str) -> Any:
    """Execute generated source and instantiate its module (for the tests)."""
    scope: dict[str, Any] = {}
    exec(compile(source, "<archcalc export>", "exec"), scope)  # our own generated code
    return scope[class_name]()
