"""PyTorch export: a graph → the source of an ``nn.Module``, and the NumPy backend's weights as
its state dict.

The module's submodules mirror the spec's nesting (``self.layer1.block1.conv1``), so the state
dict's keys are the spec's layer names. It takes NCHW input, as PyTorch does. Padding that
PyTorch's layers cannot express (asymmetric sides, ``same``) is an explicit ``F.pad`` in
``forward``; archcalc's flatten order (H·W·C) is PyTorch's (C·H·W) after the weights of the
dense layer that reads it are reordered, so the code stays the code a person would write.
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


def _translate(op: str, layer: Layer) -> _Layer:
    a, r = layer.attrs, layer.rank
    nd = _ND.get(r, "1d")
    if op in ("conv", "conv_transpose"):
        k, s, d = layer.per_axis("kernel"), layer.per_axis("stride"), layer.per_axis("dilation")
        pads = layer.padding(k, s, d)
        cin = layer.input[-1]
        args = [str(cin), str(a["filters"]), _tuple(k)]
        if any(v != 1 for v in s):
            args.append(f"stride={_tuple(s)}")
        symmetric = all(p == q for p, q in pads)
        if symmetric and any(p for p, _ in pads):
            args.append(f"padding={_tuple([p for p, _ in pads])}")
        if op == "conv_transpose":
            if not symmetric:
                raise UsageError("a conv_transpose with uneven padding has no PyTorch equivalent")
            extra = layer.attrs["output_padding"]
            if extra not in (0, (0,) * r):
                args.append(f"output_padding={extra}")
        if any(v != 1 for v in d):
            args.append(f"dilation={_tuple(d)}")
        if a["groups"] != 1:
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
        if symmetric and any(p for p, _ in pads):
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
            return _Layer(module, f"{{m}}(F.pad({{x}}, {tp}, value=float('-inf')))")
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
            "{m}({x})",
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
    if op == "concat":
        return _Layer(None, "torch.cat([{xs}], 1)")
    if op == "zeropad":
        ones = (1,) * r
        return _Layer(f"nn.ZeroPad{nd}({_torch_pad(layer.padding(ones, ones, ones))})", "{m}({x})")
    if op == "upsample":
        scale = layer.per_axis("scale")
        factor = float(scale[0]) if len(set(scale)) == 1 else tuple(float(v) for v in scale)
        if a["mode"] == "nearest":
            return _Layer(f"nn.Upsample(scale_factor={factor}, mode='nearest')", "{m}({x})")
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[r]
        return _Layer(
            f"nn.Upsample(scale_factor={factor}, mode='{mode}', align_corners=False)", "{m}({x})"
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


def module_paths(graph: Graph) -> dict[str, str]:
    """Each node's attribute path in the generated module: the spec name, Python-safe."""
    return {n.name: ".".join(_ident(p) for p in n.name.split(".")) for n in graph.nodes}


def torch_source(graph: Graph, layers: Mapping[str, Layer | None], spec: str) -> str:
    """The Python source of an nn.Module computing ``graph`` on NCHW input."""
    paths = module_paths(graph)
    init: list[str] = []
    made: set[str] = set()
    body: list[str] = []
    var = {INPUT: "x"}
    channels_last = flatten_order(graph, layers).channels_last
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        t = _translate(node.op.name, layer)
        if node.name in channels_last:
            t = _Layer(None, "torch.flatten({x}.movedim(1, -1), 1)")
        path = paths[node.name]
        parts = path.split(".")
        for i in range(1, len(parts)):
            container = ".".join(parts[:i])
            if container not in made:
                made.add(container)
                init.append(f"self.{container} = nn.Module()")
        xs = [var[s] for s in node.inputs]
        call = t.call.format(
            m=f"self.{path}",
            x=xs[0],
            xs=", ".join(xs),
            xs_plus=" + ".join(xs),
            xs_times=" * ".join(xs),
        )
        if t.module is not None:
            init.append(f"self.{path} = {t.module}")
        name = _ident(node.name.replace(".", "_"))
        var[node.name] = name
        body.append(f"{name} = {call}")
    out = var[graph.nodes[-1].name]
    shape = graph.input_shape
    nchw = (shape[-1], *shape[:-1])
    lines = [
        f'"""{graph.name or "net"}: generated by `archcalc export {spec} --to pytorch`.',
        "",
        f"Input: N x {' x '.join(map(str, nchw))} (channels first). Submodules follow the "
        "spec's names.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "",
        f"class {_class_name(graph.name)}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *(f"        {line}" for line in init),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *(f"        {line}" for line in body),
        f"        return {out}",
        "",
        "",
        f"INPUT_SHAPE = {nchw}  # one sample, channels first",
        "",
    ]
    return "\n".join(lines)


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


def state_dict(graph: Graph, arrays: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each layer's arrays (:func:`torch_arrays`) as the generated module's state dict."""
    import numpy as np

    paths = module_paths(graph)
    out: dict[str, Any] = {}
    for node in graph.nodes:
        path = paths[node.name]
        for key, value in arrays[node.name].items():
            out[f"{path}.{key}"] = value
        if node.op.name == "batchnorm":
            out[f"{path}.num_batches_tracked"] = np.asarray(0, dtype=np.int64)
    return out


def build_module(source: str, class_name: str) -> Any:
    """Execute generated source and instantiate its module (for ONNX export and the tests)."""
    scope: dict[str, Any] = {}
    exec(compile(source, "<archcalc export>", "exec"), scope)  # our own generated code
    return scope[class_name]()


def class_name(graph: Graph) -> str:
    return _class_name(graph.name)
