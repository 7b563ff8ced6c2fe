"""ONNX export: the analysed graph → an ONNX model, built with the ``onnx`` package alone.

The model takes NCHW input (``input``, a free batch axis ``N``), as PyTorch models do. Each
layer is one node named as the spec names it, whose output tensor carries the same name; the
few layers ONNX has no single op for add helper nodes named ``<layer>/<what>``. Weights are
initializers named ``<layer>.weight``, ``<layer>.bias``, ... in PyTorch's layouts — the arrays
``export --weights`` writes — so a dense layer after a flatten reads ONNX's C·H·W order. Every
tensor's shape is inferred into the model, so viewers such as Netron show it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph, Node
from archcalc.ops.base import Layer, SlidingWindow
from archcalc.shapes import Shape

OPSET = 18
IR_VERSION = 8  # the oldest IR that carries opset 18: the widest range of runtimes opens it


def _nchw(shape: Shape) -> list[int]:
    return list(shape) if len(shape) == 1 else [shape[-1], *shape[:-1]]


class _Writer:
    """The nodes and initializers of the graph being built."""

    def __init__(self, onnx: Any, numpy: Any) -> None:
        self.onnx, self.np = onnx, numpy
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []  # small constants, as tensors
        self.weights: list[tuple[str, Any]] = []  # the arrays of weights, made tensors last

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs: Any) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        array = self.np.asarray(value, dtype=dtype or self.np.float32)
        if array.nbytes > _INLINE_BYTES:
            self.weights.append((name, array))
        else:
            self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, values, self.np.int64)


# An emitter writes one layer: (writer, layer name, input tensors, layer, PyTorch-layout arrays).
Emit = Callable[[_Writer, str, list[str], Layer, Mapping[str, Any]], None]


def _window_attrs(op: SlidingWindow, layer: Layer, dilation: bool = True) -> dict[str, Any]:
    kernel, stride, dil, pads = op.geometry(layer)
    attrs = {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "pads": [p for p, _ in pads] + [p for _, p in pads],
    }
    if dilation:
        attrs["dilations"] = list(dil)
    return attrs


def _weights(w: _Writer, name: str, arrays: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [w.const(f"{name}.{k}", arrays[k]) for k in keys if k in arrays]


def _conv(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    from archcalc.ops import REGISTRY

    op = REGISTRY["conv"]
    assert isinstance(op, SlidingWindow)
    inputs = [xs[0], *_weights(w, name, arrays, ("weight", "bias"))]
    w.node("Conv", inputs, name, name, group=layer.attrs["groups"], **_window_attrs(op, layer))


def _conv_transpose(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    from archcalc.ops import REGISTRY

    op = REGISTRY["conv_transpose"]
    assert isinstance(op, SlidingWindow)
    attrs = _window_attrs(op, layer)
    attrs["group"] = layer.attrs["groups"]
    extra = layer.attrs["output_padding"]
    extra = [extra] * layer.rank if isinstance(extra, int) else list(extra)
    weight = w.const(f"{name}.weight", arrays["weight"])
    if all(e < s for e, s in zip(extra, attrs["strides"])):
        inputs = [xs[0], weight, *_weights(w, name, arrays, ("bias",))]
        w.node("ConvTranspose", inputs, name, name, output_padding=extra, **attrs)
        return
    # PyTorch allows output_padding up to the dilation, runtimes only below the stride. Its
    # rows are first taken back from the padding removed at the end; past that they hold only
    # the bias: zeros added after the bias-free transposed convolution, then the bias.
    ends = attrs["pads"][layer.rank :]
    attrs["pads"][layer.rank :] = [max(p - e, 0) for p, e in zip(ends, extra)]
    rows = [max(e - p, 0) for p, e in zip(ends, extra)]
    core = w.node("ConvTranspose", [xs[0], weight], f"{name}/core", f"{name}/core", **attrs)
    pads = w.ints(f"{name}.output_padding", [0] * (layer.rank + 2) + [0, 0, *rows])
    if "bias" not in arrays:
        w.node("Pad", [core, pads], name, name, mode="constant")
        return
    padded = w.node("Pad", [core, pads], f"{name}/padded", f"{name}/padded", mode="constant")
    bias = w.const(f"{name}.bias", arrays["bias"].reshape(-1, *(1,) * layer.rank))
    w.node("Add", [padded, bias], name, name)


def _dense(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    bias = _weights(w, name, arrays, ("bias",))
    if layer.rank == 0:
        weight = w.const(f"{name}.weight", arrays["weight"])
        w.node("Gemm", [xs[0], weight, *bias], name, name, transB=1)
        return
    # on a feature map the same matrix acts at every position: a 1x1 convolution
    kernel = arrays["weight"].reshape(*arrays["weight"].shape, *(1,) * layer.rank)
    weight = w.const(f"{name}.weight", kernel)
    w.node("Conv", [xs[0], weight, *bias], name, name, kernel_shape=[1] * layer.rank)


def _pool(kind: str) -> Emit:
    def emit(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
        from archcalc.ops import REGISTRY

        op = REGISTRY[kind]
        assert isinstance(op, SlidingWindow)
        a = layer.attrs
        attrs = _window_attrs(op, layer, dilation=kind == "maxpool")
        attrs["ceil_mode"] = int(a["ceil_mode"])
        if kind == "avgpool":
            attrs["count_include_pad"] = int(a["count_include_pad"])
        w.node("MaxPool" if kind == "maxpool" else "AveragePool", xs, name, name, **attrs)

    return emit


def _adaptive_avgpool(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    sizes, inputs = layer.per_axis("size"), layer.input[:-1]
    if all(n % o == 0 for n, o in zip(inputs, sizes)):
        window = [n // o for n, o in zip(inputs, sizes)]
        w.node("AveragePool", xs, name, name, kernel_shape=window, strides=window)
        return
    # bins of unequal width (PyTorch's [⌊i·n/o⌋, ⌈(i+1)·n/o⌉)): a product with an averaging
    # matrix along each axis in turn, that axis moved last
    from archcalc.ops.pool import _adaptive_bins

    x, rank = xs[0], layer.rank
    for axis, (n, o) in enumerate(zip(inputs, sizes)):
        matrix = w.np.zeros((n, o), dtype=w.np.float32)
        for j, (start, end) in enumerate(_adaptive_bins(n, o)):
            matrix[start:end, j] = 1.0 / (end - start)
        perm = list(range(rank + 2))
        perm[2 + axis], perm[-1] = perm[-1], perm[2 + axis]  # a swap: its own inverse
        moved = w.node("Transpose", [x], f"{name}/axis{axis}", f"{name}/axis{axis}", perm=perm)
        mean = w.const(f"{name}/bins{axis}", matrix)
        pooled = w.node("MatMul", [moved, mean], f"{name}/mean{axis}", f"{name}/mean{axis}")
        last = axis == rank - 1
        out = name if last else f"{name}/pooled{axis}"
        x = w.node("Transpose", [pooled], out, out, perm=perm)


def _global_pool(kind: str, reduce: str) -> Emit:
    def emit(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
        if layer.attrs["keepdims"]:
            w.node(kind, xs, name, name)
        else:  # one node, as PyTorch's x.mean((2, 3)) exports
            axes = w.ints(f"{name}.axes", list(range(2, layer.rank + 2)))
            w.node(reduce, [xs[0], axes], name, name, keepdims=0)

    return emit


def _batchnorm(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    c = layer.input[-1]
    if layer.attrs["affine"]:
        scale = _weights(w, name, arrays, ("weight", "bias"))
    else:
        scale = [w.const(f"{name}/ones", w.np.ones(c)), w.const(f"{name}/zeros", w.np.zeros(c))]
    stats = _weights(w, name, arrays, ("running_mean", "running_var"))
    w.node("BatchNormalization", [xs[0], *scale, *stats], name, name, epsilon=layer.attrs["eps"])


def _lrn(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    a = layer.attrs
    size = a["size"]
    if size % 2 and layer.rank == 2:  # ONNX's LRN: images, a window centred on the channel
        w.node("LRN", xs, name, name, size=size, alpha=a["alpha"], beta=a["beta"], bias=a["k"])
        return
    # Otherwise (ONNX centres an even window one channel later than PyTorch, and runtimes
    # take only images) spelt out: the mean square over PyTorch's window [c − size//2,
    # c + (size − 1)//2], pooled along the channels as the first axis of an (N, 1, C, rest) view
    c = layer.input[-1]
    square = w.node("Mul", [xs[0], xs[0]], f"{name}/square", f"{name}/square")
    view = w.ints(f"{name}.view", [0, 1, c, -1])
    flat = w.node("Reshape", [square, view], f"{name}/view", f"{name}/view")
    window = w.node(
        "AveragePool",
        [flat],
        f"{name}/window",
        f"{name}/window",
        kernel_shape=[size, 1],
        pads=[size // 2, 0, (size - 1) // 2, 0],
        count_include_pad=1,
    )
    back = w.ints(f"{name}.shape", [0, *_nchw(layer.input)])
    mean = w.node("Reshape", [window, back], f"{name}/mean", f"{name}/mean")
    scaled = w.node(
        "Mul", [mean, w.const(f"{name}.alpha", a["alpha"])], f"{name}/scaled", f"{name}/scaled"
    )
    shifted = w.node("Add", [scaled, w.const(f"{name}.k", a["k"])], f"{name}/base", f"{name}/base")
    denom = w.node(
        "Pow", [shifted, w.const(f"{name}.beta", a["beta"])], f"{name}/denom", f"{name}/denom"
    )
    w.node("Div", [xs[0], denom], name, name)


def _single(kind: str, **fixed: Any) -> Emit:
    def emit(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
        w.node(kind, xs, name, name, **fixed)

    return emit


def _chain(kind: str) -> Emit:
    """Add or Mul of two or more inputs (broadcasting, as a squeeze-and-excitation gate)."""

    def emit(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
        acc = xs[0]
        for i, other in enumerate(xs[1:], start=2):
            out = name if i == len(xs) else f"{name}/{i}"
            acc = w.node(kind, [acc, other], out, out)

    return emit


def _gelu(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    # x/2 · (1 + erf(x/√2)), exact GELU (opset 20 has a Gelu op; 18 spells it out)
    x = xs[0]
    scaled = w.node("Mul", [x, w.const(f"{name}.rsqrt2", 0.5**0.5)], f"{name}/x", f"{name}/x")
    erf = w.node("Erf", [scaled], f"{name}/erf", f"{name}/erf")
    one = w.node("Add", [erf, w.const(f"{name}.one", 1.0)], f"{name}/1+erf", f"{name}/1+erf")
    half = w.node("Mul", [x, w.const(f"{name}.half", 0.5)], f"{name}/half", f"{name}/half")
    w.node("Mul", [half, one], name, name)


def _silu(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    gate = w.node("Sigmoid", xs, f"{name}/sigmoid", f"{name}/sigmoid")
    w.node("Mul", [xs[0], gate], name, name)


def _zeropad(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    ones = (1,) * layer.rank
    pads = layer.padding(ones, ones, ones)
    values = [0, 0, *(p for p, _ in pads), 0, 0, *(p for _, p in pads)]
    w.node("Pad", [xs[0], w.ints(f"{name}.pads", values)], name, name, mode="constant")


def _upsample(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    scales = w.const(f"{name}.scales", [1.0, 1.0, *map(float, layer.per_axis("scale"))])
    if layer.attrs["mode"] == "nearest":  # PyTorch's nearest: source ⌊dst / scale⌋
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}
        attrs["nearest_mode"] = "floor"
    else:  # PyTorch's (bi)linear with align_corners=False
        attrs = {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}
    w.node("Resize", [xs[0], "", scales], name, name, **attrs)


def _channel_slice(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    indices = w.ints(f"{name}.channels", list(layer.attrs["channels"]))
    w.node("Gather", [xs[0], indices], name, name, axis=1)


def _attrs_of(kind: str, **names: str) -> Emit:
    """An op whose ONNX attributes are the layer's own under other names."""

    def emit(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
        w.node(kind, xs, name, name, **{k: layer.attrs[v] for k, v in names.items()})

    return emit


def _dropout(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    w.node("Dropout", [xs[0], w.const(f"{name}.ratio", layer.attrs["rate"])], name, name)


def _clip_layer(
    w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]
) -> None:
    _bounds(w, name, xs, layer.attrs["low"], layer.attrs["high"])


def _relu6(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    _bounds(w, name, xs, 0.0, 6.0)


def _bounds(w: _Writer, name: str, xs: list[str], low: float | None, high: float | None) -> None:
    given = [
        ("" if v is None else w.const(f"{name}.{k}", v)) for k, v in (("min", low), ("max", high))
    ]
    w.node("Clip", [xs[0], *given], name, name)


def _affine(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    # x · scale + shift; one value per channel broadcasts along axis 1 of (N, C, *spatial)
    along = (-1,) + (1,) * (len(layer.input) - 1)
    parts = [
        (kind, key, w.np.asarray(layer.attrs[key], dtype=w.np.float32))
        for kind, key, neutral in (("Mul", "scale", 1.0), ("Add", "shift", 0.0))
        if w.np.any(w.np.asarray(layer.attrs[key]) != neutral)
    ]
    if not parts:
        w.node("Identity", xs, name, name)
    x = xs[0]
    for i, (kind, key, value) in enumerate(parts):
        out = name if i == len(parts) - 1 else f"{name}/{key}"
        constant = w.const(f"{name}.{key}", value.reshape(along) if value.ndim else value)
        x = w.node(kind, [x, constant], out, out)


def _crop(w: _Writer, name: str, xs: list[str], layer: Layer, arrays: Mapping[str, Any]) -> None:
    from archcalc.ops.reshape import crop_cuts

    cuts = crop_cuts(layer)
    sizes = layer.input[:-1]
    starts = w.ints(f"{name}.starts", [b for b, _ in cuts])
    ends = w.ints(f"{name}.ends", [n - a for n, (_, a) in zip(sizes, cuts)])
    axes = w.ints(f"{name}.axes", list(range(2, 2 + len(sizes))))
    w.node("Slice", [xs[0], starts, ends, axes], name, name)


EMITTERS: dict[str, Emit] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "dense": _dense,
    "flatten": _single("Flatten", axis=1),
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "adaptive_avgpool": _adaptive_avgpool,
    "global_avgpool": _global_pool("GlobalAveragePool", "ReduceMean"),
    "global_maxpool": _global_pool("GlobalMaxPool", "ReduceMax"),
    "batchnorm": _batchnorm,
    "lrn": _lrn,
    "dropout": _dropout,
    "relu": _single("Relu"),
    "relu6": _relu6,
    "clip": _clip_layer,
    "leaky_relu": _attrs_of("LeakyRelu", alpha="slope"),
    "sigmoid": _single("Sigmoid"),
    "tanh": _single("Tanh"),
    "gelu": _gelu,
    "silu": _silu,
    "softmax": _single("Softmax", axis=1),  # over the channels
    "hardsigmoid": _attrs_of("HardSigmoid", alpha="alpha", beta="beta"),
    "hardswish": _single("HardSwish"),
    "add": _chain("Add"),
    "mul": _chain("Mul"),
    "sub": _chain("Sub"),
    "div": _chain("Div"),
    "affine": _affine,
    "crop": _crop,
    "concat": _single("Concat", axis=1),
    "zeropad": _zeropad,
    "upsample": _upsample,
    "identity": _single("Identity"),
    "channel_slice": _channel_slice,
}


def onnx_model(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    arrays: Mapping[str, Mapping[str, Any]],
    doc: str = "",
) -> Any:
    """The ModelProto computing ``graph`` on NCHW input, its shapes inferred and checked.
    ``arrays``: each layer's weights in PyTorch's layouts (torch_export.torch_arrays).
    Raises UsageError for a layer whose op has no ONNX translation, and ImportError when the
    onnx package is missing."""
    import numpy as np
    import onnx

    from archcalc import __version__
    from archcalc.interop.torch_export import flatten_order

    w = _Writer(onnx, np)
    channels_last = flatten_order(graph, layers).channels_last
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        emit = EMITTERS.get(node.op.name)
        if emit is None:
            raise UsageError(
                f"layer '{node.name}' ({node.op.name}) has no ONNX translation",
                f"archcalc writes ONNX for {', '.join(sorted(EMITTERS))}",
            )
        xs = list(node.inputs)
        if node.name in channels_last:  # archcalc's H·W·C order: see FlattenOrder
            perm = [0, *range(2, layer.rank + 2), 1]
            moved = f"{node.name}/channels_last"
            xs = [w.node("Transpose", xs, moved, moved, perm=perm)]
        emit(w, node.name, xs, layer, arrays.get(node.name, {}))
    last: Node = graph.nodes[-1]
    out_layer = layers[last.name]
    assert out_layer is not None
    tensor = onnx.helper.make_tensor_value_info
    inputs = [tensor(INPUT, onnx.TensorProto.FLOAT, ["N", *_nchw(graph.input_shape)])]
    outputs = [tensor(last.name, onnx.TensorProto.FLOAT, ["N", *_nchw(out_layer.output)])]

    def model(body: Any) -> Any:
        made = onnx.helper.make_model(
            body,
            opset_imports=[onnx.helper.make_opsetid("", OPSET)],
            producer_name="archcalc",
            producer_version=__version__,
            doc_string=doc,
        )
        made.ir_version = IR_VERSION
        return made

    # Shapes are inferred, and the structure checked, on the model without its weights (they
    # stand as inputs of their shape; small constants such as pads stay, shapes depend on them),
    # so hundreds of megabytes are not serialised twice more; the weights are then put in one
    # at a time, each array turned into its tensor just before it is added.
    light = onnx.helper.make_graph(
        w.nodes,
        graph.name or "net",
        [*inputs, *(tensor(n, _dtype(onnx, a), a.shape) for n, a in w.weights)],
        outputs,
        initializer=w.initializers,
        doc_string=graph.source,
    )
    made = onnx.shape_inference.infer_shapes(model(light), check_type=True, strict_mode=True)
    onnx.checker.check_model(made, full_check=True)
    del made.graph.input[1:]
    for name, array in w.weights:
        made.graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    return made


_INLINE_BYTES = 4096


def _dtype(onnx: Any, array: Any) -> int:
    code: int = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    return code
