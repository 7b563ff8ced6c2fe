"""ONNX import: a model file → the layer list the YAML builder reads, and the model's weights.

ONNX is channels-first (N, C, H, W); archcalc is channels-last. Kernels are transposed on the way
in, and a dense layer fed by a flatten of a feature map gets its rows reordered, so the imported
model computes exactly what the file does. Tensors that only carry shapes (Shape → Gather →
Unsqueeze → Concat → Reshape, as ``x.view(x.size(0), -1)`` exports) are evaluated here with
NumPy; what is left must map onto registry ops, or the op is reported by type and node name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from archcalc.diagnostics import Diagnostic, SpecError
from archcalc.interop.model import ImportedModel, LayerSpec, LazyArrays, layer_path, plain_name
from archcalc.shapes import Shape

# What a tensor is while walking the graph: a constant (folded here), or a layer's output.
Const = np.ndarray


class _Consts(dict[str, Const]):
    """Constant tensors by name. The initialisers (the weights, most of the file) become arrays
    only when read, so summarising a model never copies its weights."""

    def __init__(self, initializers: dict[str, Any]) -> None:
        super().__init__()
        self.initializers = initializers

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self.initializers

    def __missing__(self, name: str) -> Const:
        from onnx import numpy_helper

        return numpy_helper.to_array(self.initializers[name])

    def dims(self, name: str) -> tuple[int, ...]:
        if dict.__contains__(self, name):
            return tuple(self[name].shape)
        return tuple(self.initializers[name].dims)


SUPPORTED = (
    "Conv, ConvTranspose, Gemm, MatMul, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, "
    "Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Mul, Add, Concat, Flatten, "
    "Sub, Div, and Add/Sub/Mul/Div by constants (one value or one per channel), "
    "Reshape, BatchNormalization, LRN, Dropout, Softmax, Pad, ReduceMean, ReduceMax, Resize, "
    "Upsample, Identity, Transpose (NCHW↔NHWC around a flatten or a channels-last input), "
    "Gather (channels), Constant, and shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, "
    "Concat, Slice, Cast, Transpose)"
)


def _fail(shown: str, code: str, message: str, hint: str = "", layer: str = "") -> SpecError:
    return SpecError([Diagnostic("error", code, message, None, layer, hint)])


def read_onnx(path: Path, shown: str, input_shape: Shape | None = None) -> ImportedModel:
    """Read an ONNX file; raise SpecError (exit 2) for an unreadable or unsupported model."""
    try:
        import onnx
    except ImportError:
        raise _fail(
            shown,
            "missing-extra",
            f"reading '{shown}' needs the onnx package",
            "pip install 'archcalc[onnx]'",
        ) from None
    try:
        model = onnx.load_model(str(path))
    except Exception as err:  # protobuf's DecodeError and friends: not an ONNX file
        raise _fail(
            shown,
            "not-onnx",
            f"'{shown}' is not a readable ONNX model ({type(err).__name__}: {err})",
            "the file may be truncated or not ONNX at all; export it again",
        ) from None
    if not model.graph.node:
        raise _fail(
            shown,
            "not-onnx",
            f"'{shown}' holds no ONNX graph (is it truncated, or not an ONNX model?)",
            "export the model again",
        )
    return _Importer(model, shown, input_shape).run()


class _Importer:
    def __init__(self, model: Any, shown: str, input_shape: Shape | None) -> None:
        import onnx

        self.onnx = onnx
        self.shown = shown
        self.graph = model.graph
        self.consts = _Consts({t.name: t for t in self.graph.initializer})
        self.layers: list[LayerSpec] = []
        self.weights = LazyArrays()
        self.tensor_layer: dict[str, str] = {}  # tensor name → the layer (or "input") making it
        self.layer_tensor: dict[str, str] = {}  # and back: a layer → the tensor it makes
        self.flat_from: dict[str, Shape] = {}  # flattened tensors → their channels-last shape
        self.used_names: set[str] = set()
        self.weighed_by: dict[str, str] = {}  # a weight tensor → the node whose layer holds it
        self.made_by: dict[str, Any] = {}  # tensor → the node whose layer made it
        self.consumers: dict[str, int] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers[i] = self.consumers.get(i, 0) + 1
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise _fail(
                shown,
                "unsupported",
                f"'{shown}' has {len(inputs)} inputs; archcalc imports models with one input",
            )
        self.input = inputs[0]
        # Tensors laid out (N, *spatial, C) in the file: a TensorFlow export's input, which it
        # transposes to NCHW first, and a transpose to NHWC that a flatten reads.
        self.channels_last: set[str] = set()
        rank = len(self.input.type.tensor_type.shape.dim)
        users = [n for n in self.graph.node if self.input.name in n.input]
        if rank > 2 and users and all(_perm(self, n) == _to_first(rank) for n in users):
            self.channels_last.add(self.input.name)
        self.input_shape = self._fix_input(self.input, input_shape)
        # Each followed tensor's shape, channels-last without the batch, from the registry's
        # own rules as layers are emitted (ONNX's shape inference gives up on some pad chains).
        self.shapes: dict[str, Shape] = {self.input.name: self.input_shape}

    # -- shapes --------------------------------------------------------------------------------
    def _fix_input(self, value: Any, given: Shape | None) -> Shape:
        """The input's channels-last shape (no batch): the model's, or ``given`` (--input)."""
        dims = value.type.tensor_type.shape.dim
        last = value.name in self.channels_last
        if len(dims) < 2:
            raise _fail(
                self.shown,
                "unsupported",
                f"input '{value.name}' is {len(dims)}-D; archcalc imports (N, C, ...) tensors",
            )
        if given is not None:
            if len(given) != len(dims) - 1:
                raise _fail(
                    self.shown,
                    "input-rank",
                    f"--input has {len(given)} axes but input '{value.name}' has "
                    f"{len(dims) - 1} besides the batch",
                    "write H x W x C for images (224x224x3)",
                )
            sizes = list(given) if last else [given[-1], *given[:-1]]
        else:
            sizes = []
            axes = []
            if len(dims) == 4:
                axes = ["height", "width", "channels"] if last else ["channels", "height", "width"]
            for i, d in enumerate(dims[1:], start=1):
                if d.dim_value <= 0:
                    what = axes[i - 1] if axes else f"axis {i}"
                    raise _fail(
                        self.shown,
                        "dynamic-shape",
                        f"input '{value.name}' has a dynamic size on axis {i} ({what}: "
                        f"'{d.dim_param or '?'}')",
                        "give the input shape with --input, e.g. --input 224x224x3",
                    )
                sizes.append(d.dim_value)
        return tuple(sizes) if last else (*sizes[1:], sizes[0])

    def shape(self, tensor: str, node: Any) -> tuple[int, ...]:
        """The tensor's ONNX shape, (1, C, *spatial) or (1, features), batch 1."""
        if tensor in self.shapes:
            cl = self.shapes[tensor]
            if len(cl) == 1 or tensor in self.channels_last:
                return (1, *cl)
            return (1, cl[-1], *cl[:-1])
        raise _fail(
            self.shown,
            "dynamic-shape",
            f"the size of tensor '{tensor}' (at node '{node.name}') is not known",
            "give the input shape with --input so that every size is fixed",
            node.name,
        )

    # -- walking -------------------------------------------------------------------------------
    def run(self) -> ImportedModel:
        self.tensor_layer[self.input.name] = "input"
        self.layer_tensor["input"] = self.input.name
        for node in self.graph.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = self._constant(node)
            elif all(not i or i in self.consts for i in node.input) and node.op_type in _FOLD:
                for out, value in zip(node.output, _FOLD[node.op_type](self, node)):
                    self.consts[out] = value
            elif node.op_type == "Shape":
                self.consts[node.output[0]] = self._shape_of(node)
            else:
                handler = _LAYERS.get(node.op_type)
                if handler is None:
                    raise _fail(
                        self.shown,
                        "unsupported-op",
                        f"unsupported ONNX op '{node.op_type}' (node '{node.name}')",
                        f"archcalc imports {SUPPORTED}",
                        node.name,
                    )
                handler(self, node)
        outputs = [o.name for o in self.graph.output]
        last = self.layers[-1].name if self.layers else ""
        if len(outputs) != 1 or self.tensor_layer.get(outputs[0]) != last:
            raise _fail(
                self.shown,
                "unsupported",
                f"'{self.shown}' has {len(outputs)} outputs, or its output is not its last layer",
                "archcalc imports models with one output",
            )
        first = self.input.name not in self.channels_last
        return ImportedModel(self.input_shape, self.layers, self.weights, first)

    def _constant(self, node: Any) -> Const:
        from onnx import numpy_helper

        attr = node.attribute[0]
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        value = self.onnx.helper.get_attribute_value(attr)
        return np.asarray(value, dtype=np.float32 if "float" in attr.name else np.int64)

    def _shape_of(self, node: Any) -> Const:
        shape = np.asarray(self.shape(node.input[0], node), dtype=np.int64)
        a = self.attrs(node)
        return shape[a.get("start", 0) : a.get("end", len(shape))]

    def attrs(self, node: Any) -> dict[str, Any]:
        get = self.onnx.helper.get_attribute_value
        return {
            a.name: (v.decode() if isinstance(v := get(a), bytes) else v) for a in node.attribute
        }

    def const(self, node: Any, index: int, what: str) -> Const | None:
        """The node's input ``index`` as a constant (None when absent); it must be one."""
        if index >= len(node.input) or not node.input[index]:
            return None
        if node.input[index] not in self.consts:
            raise self.unsupported(node, f"its {what} is computed at run time")
        return self.consts[node.input[index]]

    def source(self, node: Any, index: int = 0) -> str:
        tensor = node.input[index]
        if tensor not in self.tensor_layer:
            raise self.unsupported(node, f"input '{tensor}' is not a tensor archcalc follows")
        if tensor in self.channels_last and node.op_type not in ("Flatten", "Reshape"):
            raise self.unsupported(
                node,
                f"it reads '{tensor}', transposed to channels-last; archcalc follows such a "
                "transpose only into a flatten",
            )
        return self.tensor_layer[tensor]

    def unsupported(self, node: Any, why: str) -> SpecError:
        return _fail(
            self.shown,
            "unsupported-op",
            f"ONNX op '{node.op_type}' (node '{node.name}') cannot be imported: {why}",
            f"archcalc imports {SUPPORTED}",
            node.name,
        )

    def name_for(self, node: Any, weight: str | None = None) -> tuple[str, tuple[str, ...]]:
        """The layer's name: its weight's module path (layer1.0.conv1.weight → layer1_0_conv1),
        else the node's scope (/layer1/layer1.0/relu/Relu → layer1_0_relu), unique; and that
        path's segments, which `archcalc import` folds back into blocks."""
        path = layer_path(weight, node.name, node.op_type)
        base = plain_name(path, node.op_type)
        name, n = base, 1
        while name in self.used_names or name == "input":
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        segments = tuple(path.split("."))
        if n > 1:
            segments = (*segments[:-1], f"{segments[-1]}_{n}")
        return name, segments

    def emit(
        self,
        node: Any,
        op: str,
        attrs: dict[str, Any],
        inputs: list[str] | None = None,
        weight: str | None = None,
        arrays: Mapping[str, np.ndarray | Callable[[], np.ndarray]] | None = None,
    ) -> str:
        if weight is not None:
            if weight in self.weighed_by:
                raise _fail(
                    self.shown,
                    "shared-weights",
                    f"nodes '{self.weighed_by[weight]}' and '{node.name}' use the same weights "
                    f"'{weight}' (shared weights)",
                    "archcalc imports models whose layers each hold their own weights: its "
                    "spec language has no shared weights",
                    node.name,
                )
            self.weighed_by[weight] = node.name
        name, path = self.name_for(node, weight)
        sources = inputs if inputs is not None else [self.source(node)]
        self.shapes[node.output[0]] = self._output_shape(node, op, attrs, sources)
        self.layers.append(LayerSpec(op, name, attrs, sources, path))
        for key, value in (arrays or {}).items():
            self.weights.makers[f"{name}.{key}"] = value
        self.tensor_layer[node.output[0]] = name
        self.layer_tensor[name] = node.output[0]
        self.made_by[node.output[0]] = node
        if op in _FLAT_SAFE and node.input[0] in self.flat_from:
            self.flat_from[node.output[0]] = self.flat_from[node.input[0]]
        return name

    def _output_shape(
        self, node: Any, op_name: str, attrs: dict[str, Any], sources: list[str]
    ) -> Shape:
        """The layer's output by the op's own shape rule, as the builder will compute it."""
        from archcalc.ops import REGISTRY, Layer, OpError

        op = REGISTRY[op_name]
        full = {
            k: (op.attrs[k].check(attrs[k]) if k in attrs else a.default)
            for k, a in op.attrs.items()
        }
        shapes = [self.shapes[self.layer_tensor[s]] for s in sources]
        try:
            return op.output_shape(Layer(node.name, full, shapes))
        except OpError as err:
            raise self.unsupported(node, err.message) from None

    def alias(self, node: Any) -> None:
        """A node that passes its input through: its output is the same layer's output."""
        self.tensor_layer[node.output[0]] = self.source(node)
        self.shapes[node.output[0]] = self.shapes[node.input[0]]
        if node.input[0] in self.flat_from:
            self.flat_from[node.output[0]] = self.flat_from[node.input[0]]


# Element-wise ops between a flatten and a dense layer keep the flattened order.
_FLAT_SAFE = {
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
    "clip",
    "dropout",
}


# -- constant folding: shape arithmetic ----------------------------------------------------------


def _inputs(imp: _Importer, node: Any) -> list[Const | None]:
    return [imp.consts[i] if i else None for i in node.input]


def _fold_axes(imp: _Importer, node: Any) -> list[int]:
    xs = _inputs(imp, node)
    axes = imp.attrs(node).get("axes")
    if axes is None and len(xs) > 1 and xs[1] is not None:
        axes = xs[1].tolist()
    return list(axes or [])


def _unsqueeze(imp: _Importer, node: Any) -> list[Const]:
    x = _inputs(imp, node)[0]
    assert x is not None
    for axis in sorted(
        a % (x.ndim + len(_fold_axes(imp, node)) + 0) for a in _fold_axes(imp, node)
    ):
        x = np.expand_dims(x, axis)
    return [x]


def _squeeze(imp: _Importer, node: Any) -> list[Const]:
    x = _inputs(imp, node)[0]
    assert x is not None
    axes = _fold_axes(imp, node)
    return [np.squeeze(x, axis=tuple(axes)) if axes else np.squeeze(x)]


def _slice(imp: _Importer, node: Any) -> list[Const]:
    x, starts, ends, axes, steps = (_inputs(imp, node) + [None] * 5)[:5]
    assert x is not None and starts is not None and ends is not None
    index = [slice(None)] * x.ndim
    axes_list = axes.tolist() if axes is not None else list(range(len(starts)))
    steps_list = steps.tolist() if steps is not None else [1] * len(starts)
    for a, s, e, st in zip(axes_list, starts.tolist(), ends.tolist(), steps_list):
        index[a] = slice(s, e, st)
    return [x[tuple(index)]]


def _binary(fn: Callable[[Any, Any], Any]) -> Callable[[_Importer, Any], list[Const]]:
    return lambda imp, node: [np.asarray(fn(*_inputs(imp, node)))]


_FOLD: dict[str, Callable[[_Importer, Any], list[Const]]] = {
    "Identity": lambda imp, node: [imp.consts[node.input[0]]],
    "Gather": lambda imp, node: [
        np.take(
            imp.consts[node.input[0]],
            imp.consts[node.input[1]],
            axis=imp.attrs(node).get("axis", 0),
        )
    ],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda imp, node: [
        np.concatenate(
            [np.atleast_1d(imp.consts[i]) for i in node.input], axis=imp.attrs(node)["axis"]
        )
    ],
    "Cast": lambda imp, node: [
        imp.consts[node.input[0]].astype(
            imp.onnx.helper.tensor_dtype_to_np_dtype(imp.attrs(node)["to"])
        )
    ],
    "Slice": _slice,
    "Transpose": lambda imp, node: [
        np.transpose(imp.consts[node.input[0]], imp.attrs(node).get("perm"))
    ],
    "Reshape": lambda imp, node: [imp.consts[node.input[0]].reshape(imp.consts[node.input[1]])],
    "Mul": _binary(np.multiply),
    "Div": _binary(lambda a, b: a // b if a.dtype.kind in "iu" else a / b),
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "ConstantOfShape": lambda imp, node: [
        np.full(
            imp.consts[node.input[0]].astype(np.int64),
            imp.onnx.numpy_helper.to_array(imp.attrs(node)["value"])[0]
            if "value" in imp.attrs(node)
            else np.float32(0),
        )
    ],
}


# -- layers ----------------------------------------------------------------------------------------


def _pads(pads: list[int] | None, rank: int) -> Any:
    """ONNX pads [b1, b2, ..., e1, e2, ...] → archcalc padding: an int, one per axis, or
    before/after per axis ([top, bottom, left, right])."""
    pads = list(pads or [0] * 2 * rank)
    before, after = pads[:rank], pads[rank:]
    if before == after:
        return before[0] if len(set(before)) == 1 else before
    return [v for pair in zip(before, after) for v in pair]


def _window_padding(a: dict[str, Any], rank: int) -> Any:
    auto = a.get("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        return "same"
    if auto == "VALID":
        return 0
    if auto == "SAME_LOWER":
        return None  # resolved by the caller, which knows the sizes
    return _pads(a.get("pads"), rank)


def _one(values: list[int]) -> int | list[int]:
    return values[0] if len(set(values)) == 1 else list(values)


def _weight_name(node: Any, index: int = 1) -> str | None:
    return node.input[index] if len(node.input) > index else None


def _conv(imp: _Importer, node: Any) -> None:
    if node.input[1] not in imp.consts:
        raise imp.unsupported(node, "its weight is computed at run time")
    weight = node.input[1]
    shape = imp.consts.dims(weight)
    has_bias = len(node.input) > 2 and bool(node.input[2])
    a = imp.attrs(node)
    rank = len(shape) - 2
    transpose = node.op_type == "ConvTranspose"
    groups = a.get("group", 1)
    filters = shape[1] * groups if transpose else shape[0]
    padding = _window_padding(a, rank)
    if padding is None or (transpose and padding == "same"):
        raise imp.unsupported(node, f"auto_pad {a['auto_pad']} is not supported here")
    attrs: dict[str, Any] = {"filters": filters, "kernel": _one(list(shape[2:]))}
    for key, onnx_key in (("stride", "strides"), ("dilation", "dilations")):
        values = a.get(onnx_key, [1] * rank)
        if any(v != 1 for v in values):
            attrs[key] = _one(values)
    if padding != 0:
        attrs["padding"] = padding
    if groups != 1:
        attrs["groups"] = groups
    if transpose:
        if a.get("output_shape"):
            raise imp.unsupported(node, "output_shape is not supported; give pads instead")
        extra = a.get("output_padding", [0] * rank)
        if any(extra):
            attrs["output_padding"] = _one(extra)
        order = (*range(2, rank + 2), 0, 1)  # (C, K/g, *k) → (*k, C, K/g)
    else:
        order = (*range(2, rank + 2), 1, 0)  # (K, C/g, *k) → (*k, C/g, K): channels last
    if not has_bias:
        attrs["bias"] = False
    # made when read: summarize never needs the values
    arrays: dict[str, Any] = {"kernel": lambda: np.transpose(imp.consts[weight], order)}
    if has_bias:
        arrays["bias"] = imp.const(node, 2, "bias")
    op = "conv_transpose" if transpose else "conv"
    imp.emit(node, op, attrs, weight=_weight_name(node), arrays=arrays)


def _dense_kernel(imp: _Importer, node: Any, w: np.ndarray) -> np.ndarray:
    """A (in, out) kernel, its rows reordered when it reads a flattened C·H·W feature map."""
    shape = imp.flat_from.get(node.input[0])
    if shape is None:
        return w
    from archcalc.backend.kernels import flatten_order_from_chw

    return w[flatten_order_from_chw(shape)]


def _gemm(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    w = imp.const(node, 1, "weight")
    b = imp.const(node, 2, "bias")
    assert w is not None
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise imp.unsupported(node, "only transA=0, alpha=1, beta=1 map onto a dense layer")
    kernel = w.T if a.get("transB", 0) else w
    if b is not None and b.size != kernel.shape[1]:
        raise imp.unsupported(node, "its bias is not one value per output unit")
    attrs: dict[str, Any] = {"units": int(kernel.shape[1])}
    if b is None:
        attrs["bias"] = False
    arrays = {"kernel": _dense_kernel(imp, node, kernel)}
    if b is not None:
        arrays["bias"] = b.reshape(-1)
    imp.emit(node, "dense", attrs, weight=_weight_name(node), arrays=arrays)


def _matmul(imp: _Importer, node: Any) -> None:
    w = imp.const(node, 1, "second operand")
    assert w is not None
    if w.ndim != 2:
        raise imp.unsupported(node, "only a product with a constant matrix maps onto dense")
    arrays = {"kernel": _dense_kernel(imp, node, w)}
    imp.emit(
        node,
        "dense",
        {"units": int(w.shape[1]), "bias": False},
        weight=node.input[1],
        arrays=arrays,
    )


def _pool(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    kernel = list(a["kernel_shape"])
    rank = len(kernel)
    padding = _window_padding(a, rank)
    if padding is None:
        raise imp.unsupported(node, "auto_pad SAME_LOWER is not supported")
    if len(node.output) > 1 and node.output[1]:
        raise imp.unsupported(node, "its indices output is not supported")
    attrs: dict[str, Any] = {
        "kernel": _one(kernel),
        "stride": _one(list(a.get("strides", [1] * rank))),
    }
    if padding != 0:
        attrs["padding"] = padding
    if a.get("ceil_mode", 0):
        attrs["ceil_mode"] = True
    if node.op_type == "MaxPool":
        if any(d != 1 for d in a.get("dilations", [1] * rank)):
            attrs["dilation"] = _one(a["dilations"])
        imp.emit(node, "maxpool", attrs)
    else:
        attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
        imp.emit(node, "avgpool", attrs)


def _global_pool(imp: _Importer, node: Any) -> None:
    op = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    imp.emit(node, op, {"keepdims": True})


def _reduce(imp: _Importer, node: Any) -> None:
    """ReduceMean or ReduceMax over every spatial axis: global pooling."""
    a = imp.attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        given = imp.const(node, 1, "axes")
        axes = given.tolist() if given is not None else None
    rank = len(imp.shape(node.input[0], node))
    if axes is None or sorted(x % rank for x in axes) != list(range(2, rank)):
        raise imp.unsupported(node, "only a mean over all spatial axes (global pooling) maps")
    keep = bool(a.get("keepdims", 1))
    op = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    imp.emit(node, op, {"keepdims": keep})


def _flatten_like(imp: _Importer, node: Any, target: tuple[int, ...]) -> None:
    """A reshape: to (N, everything) is a flatten; to the same shape, nothing."""
    shape = imp.shape(node.input[0], node)
    if target == shape:
        imp.alias(node)
        return
    if len(target) != 2 or target[1] != int(np.prod(shape[1:])):
        raise imp.unsupported(
            node, f"only flattening reshapes map; {shape} → {target} is something else"
        )
    if len(shape) == 2:
        imp.alias(node)
        return
    imp.emit(node, "flatten", {})
    channels_last = (*shape[2:], shape[1])
    # a tensor transposed to NHWC first flattens in archcalc's own H·W·C order
    if int(np.prod(shape[2:])) > 1 and node.input[0] not in imp.channels_last:
        imp.flat_from[node.output[0]] = channels_last


def _flatten(imp: _Importer, node: Any) -> None:
    shape = imp.shape(node.input[0], node)
    axis = imp.attrs(node).get("axis", 1) % len(shape)
    if axis != 1:
        raise imp.unsupported(node, f"only axis=1 maps onto flatten, not axis={axis}")
    _flatten_like(imp, node, (shape[0], int(np.prod(shape[1:]))))


def _reshape(imp: _Importer, node: Any) -> None:
    target = imp.const(node, 1, "target shape")
    assert target is not None
    shape = imp.shape(node.input[0], node)
    sizes = [shape[i] if v == 0 else int(v) for i, v in enumerate(target.tolist())]
    if -1 in sizes:
        known = int(np.prod([v for v in sizes if v != -1]))
        sizes[sizes.index(-1)] = int(np.prod(shape)) // max(known, 1)
    _flatten_like(imp, node, tuple(sizes))


def _gated(imp: _Importer, node: Any) -> str | None:
    """x · sigmoid(x) is silu and x · hardsigmoid(x) hardswish, as opsets before 14 spell them:
    the op for a Mul whose other factor is the gate just emitted on the same x, else None."""
    if node.op_type != "Mul" or len(node.input) != 2:
        return None
    for x, gate in (node.input, reversed(node.input)):
        maker = imp.made_by.get(gate)
        last = imp.layers[-1] if imp.layers else None
        if maker is None or last is None or imp.tensor_layer.get(gate) != last.name:
            continue
        if maker.input[0] != x or imp.consumers.get(gate) != 1:
            continue
        if maker.op_type == "Sigmoid":
            return "silu"
        if maker.op_type == "HardSigmoid" and not last.attrs:  # relu6(x + 3)/6
            return "hardswish"
    return None


def _affine(imp: _Importer, node: Any) -> None:
    """Add, Sub, Mul or Div of a tensor and a constant that is one value, or one per channel
    (an exported net's input normalisation, (x − mean) / std): an ``affine`` layer."""
    x_at = 0 if node.input[1] in imp.consts else 1
    shape = imp.shape(node.input[x_at], node)
    c = np.asarray(imp.consts[node.input[1 - x_at]], dtype=np.float64)
    try:
        full = np.broadcast_to(c, shape)
    except ValueError:
        raise imp.unsupported(
            node, f"its constant {c.shape} does not fit the tensor {shape}"
        ) from None
    per_channel = full.reshape(shape[0], shape[1], -1)[0, :, 0]
    spread = per_channel.reshape((1, -1) + (1,) * (len(shape) - 2))
    if not np.array_equal(full, np.broadcast_to(spread, shape)):
        raise imp.unsupported(
            node,
            "its constant varies along other axes than channels; only one value per "
            "channel maps onto affine",
        )
    values = per_channel.tolist()
    if node.input[x_at] in imp.flat_from and len(set(values)) > 1:
        raise imp.unsupported(node, "a per-feature constant after a flatten is not supported")
    kind = node.op_type
    if kind == "Div" and (x_at == 1 or not all(values)):
        raise imp.unsupported(node, "only division of a tensor by non-zero constants maps")
    if kind == "Add":
        scale, shift = [1.0], values
    elif kind == "Sub":
        scale, shift = ([1.0], [-v for v in values]) if x_at == 0 else ([-1.0], values)
    elif kind == "Mul":
        scale, shift = values, [0.0]
    else:
        scale, shift = [1 / v for v in values], [0.0]
    attrs: dict[str, Any] = {}
    for key, vals, neutral in (("scale", scale, 1.0), ("shift", shift, 0.0)):
        vals = [_float(v) if kind != "Div" else float(v) for v in vals]
        if any(v != neutral for v in vals):
            attrs[key] = vals[0] if len(set(vals)) == 1 else vals
    imp.emit(node, "affine", attrs, inputs=[imp.source(node, x_at)])
    if node.input[x_at] in imp.flat_from:  # one value for every feature keeps their order
        imp.flat_from[node.output[0]] = imp.flat_from[node.input[x_at]]


def _elementwise(imp: _Importer, node: Any) -> None:
    if any(i in imp.consts for i in node.input):
        _affine(imp, node)
        return
    op = {"Add": "add", "Mul": "mul", "Sub": "sub", "Div": "div"}[node.op_type]
    fused = _gated(imp, node)
    if fused is not None:
        gate = imp.layers.pop()
        imp.used_names.discard(gate.name)
        imp.emit(node, fused, {}, inputs=gate.inputs)
        return
    shapes = [imp.shape(i, node) for i in node.input]
    if op == "add" and len(set(shapes)) != 1:
        raise imp.unsupported(node, f"Add broadcasts {shapes}; only equal shapes map onto add")
    imp.emit(node, op, {}, inputs=[imp.source(node, i) for i in range(len(node.input))])


def _concat(imp: _Importer, node: Any) -> None:
    rank = len(imp.shape(node.input[0], node))
    if imp.attrs(node)["axis"] % rank != 1:
        raise imp.unsupported(node, "only concatenation along channels maps onto concat")
    imp.emit(node, "concat", {}, inputs=[imp.source(node, i) for i in range(len(node.input))])


def _clip(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    low_c, high_c = imp.const(node, 1, "minimum"), imp.const(node, 2, "maximum")
    low = float(low_c) if low_c is not None else a.get("min")
    high = float(high_c) if high_c is not None else a.get("max")
    if low == 0 and high == 6:
        imp.emit(node, "relu6", {})
    elif low == 0 and high is None:
        imp.emit(node, "relu", {})
    else:
        attrs = {k: v for k, v in (("low", low), ("high", high)) if v is not None}
        imp.emit(node, "clip", attrs)


def _batchnorm(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    gamma, beta, mean, var = (imp.const(node, i, "statistics") for i in (1, 2, 3, 4))
    if a.get("training_mode", 0):
        raise imp.unsupported(node, "it is exported in training mode")
    arrays = {"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var}
    eps = float(np.float32(a.get("epsilon", 1e-5)))
    attrs = {} if abs(eps - 1e-5) < 1e-12 else {"eps": round(eps, 10)}
    imp.emit(node, "batchnorm", attrs, weight=_weight_name(node), arrays=arrays)  # type: ignore[arg-type]


def _lrn(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    attrs = {
        "size": a["size"],
        "alpha": _float(a.get("alpha", 1e-4)),
        "beta": _float(a.get("beta", 0.75)),
        "k": _float(a.get("bias", 1.0)),
    }
    imp.emit(node, "lrn", attrs)


def _float(value: float) -> float:
    """An ONNX float32 attribute as the decimal it was written as (1e-4, not 9.99999974e-05)."""
    return float(f"{np.float32(value):.7g}")


def _dropout(imp: _Importer, node: Any) -> None:
    ratio = imp.const(node, 1, "ratio")
    rate = float(ratio) if ratio is not None else imp.attrs(node).get("ratio", 0.5)
    imp.emit(node, "dropout", {"rate": round(rate, 6)})


def _softmax(imp: _Importer, node: Any) -> None:
    rank = len(imp.shape(node.input[0], node))
    axis = imp.attrs(node).get("axis", -1) % rank
    if axis != 1:  # channels; archcalc's softmax runs over channels (its last axis)
        raise imp.unsupported(node, "only a softmax over channels maps onto softmax")
    imp.emit(node, "softmax", {})


def _pad(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    pads = imp.const(node, 1, "pads")
    value = imp.const(node, 2, "value")
    pad_list = pads.tolist() if pads is not None else list(a.get("pads", []))
    if a.get("mode", "constant") != "constant" or (value is not None and float(value) != 0):
        raise imp.unsupported(node, "only zero padding maps onto zeropad")
    rank = len(pad_list) // 2
    if len(node.input) > 3 and node.input[3]:
        raise imp.unsupported(node, "padding selected axes is not supported")
    if pad_list[0] or pad_list[1] or pad_list[rank] or pad_list[rank + 1]:
        raise imp.unsupported(node, "only the spatial axes can be padded")
    spatial = pad_list[2:rank] + pad_list[rank + 2 :]
    imp.emit(node, "zeropad", {"padding": _pads(spatial, rank - 2)})


def _resize(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    scales = imp.const(node, 2, "scales")
    sizes = imp.const(node, 3, "sizes")
    shape = imp.shape(node.input[0], node)
    if scales is not None and scales.size:
        factors = [float(s) for s in scales.tolist()[2:]]
    elif sizes is not None:
        factors = [o / i for o, i in zip(sizes.tolist()[2:], shape[2:])]
    else:
        raise imp.unsupported(node, "it gives neither scales nor sizes")
    if any(f != int(f) or f < 1 for f in factors):
        raise imp.unsupported(node, f"only whole upsampling factors map, not {factors}")
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        ok = coord == "asymmetric" and a.get("nearest_mode", "round_prefer_floor") == "floor"
    else:
        ok = mode == "linear" and coord in ("half_pixel", "pytorch_half_pixel")
    if not ok:
        raise imp.unsupported(
            node, f"mode {mode} with {coord} coordinates differs from archcalc's upsample"
        )
    imp.emit(
        node,
        "upsample",
        {
            "scale": _one([int(f) for f in factors]),
            "mode": "nearest" if mode == "nearest" else "bilinear",
        },
    )


def _simple(op: str) -> Callable[[_Importer, Any], None]:
    def handle(imp: _Importer, node: Any) -> None:
        imp.emit(node, op, {})

    return handle


def _leaky(imp: _Importer, node: Any) -> None:
    imp.emit(node, "leaky_relu", {"slope": _float(imp.attrs(node).get("alpha", 0.01))})


def _hardsigmoid(imp: _Importer, node: Any) -> None:
    a = imp.attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    attrs: dict[str, Any] = {}
    if abs(alpha - 1 / 6) > 1e-7:
        attrs["alpha"] = _float(alpha)
    if abs(beta - 0.5) > 1e-7:
        attrs["beta"] = _float(beta)
    imp.emit(node, "hardsigmoid", attrs)


def _gather(imp: _Importer, node: Any) -> None:
    indices = imp.const(node, 1, "indices")
    rank = len(imp.shape(node.input[0], node))
    if imp.attrs(node).get("axis", 0) % rank != 1 or indices is None or indices.ndim != 1:
        raise imp.unsupported(node, "only a list of channels (axis 1) maps onto channel_slice")
    imp.emit(
        node,
        "channel_slice",
        {"channels": [int(i) % imp.shape(node.input[0], node)[1] for i in indices]},
    )


def _passthrough(imp: _Importer, node: Any) -> None:
    imp.alias(node)


def _to_first(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]  # NHWC → NCHW


def _to_last(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]  # NCHW → NHWC


def _perm(imp: _Importer, node: Any) -> list[int] | None:
    if node.op_type != "Transpose":
        return None
    perm = imp.attrs(node).get("perm")
    return list(perm) if perm is not None else None


def _transpose(imp: _Importer, node: Any) -> None:
    """Only the layout changes exports make: NHWC → NCHW after a TensorFlow model's input, and
    NCHW → NHWC before a flatten (which then reads the H·W·C order archcalc keeps anyway)."""
    tensor = node.input[0]
    rank = len(imp.shape(tensor, node))
    perm = _perm(imp, node)
    last = tensor in imp.channels_last
    if perm == list(range(rank)):
        imp.alias(node)
        if last:
            imp.channels_last.add(node.output[0])
    elif last and perm == _to_first(rank):
        imp.tensor_layer[node.output[0]] = imp.tensor_layer[tensor]
        imp.shapes[node.output[0]] = imp.shapes[tensor]
    elif not last and perm == _to_last(rank):
        imp.alias(node)
        imp.channels_last.add(node.output[0])
    else:
        raise imp.unsupported(
            node,
            f"perm {perm} is not one of the layout changes archcalc follows "
            f"({_to_last(rank)} before a flatten, {_to_first(rank)} after a channels-last input)",
        )


def _upsample(imp: _Importer, node: Any) -> None:
    """Opset 7-9 Upsample: nearest by whole factors (its linear mode is not PyTorch's)."""
    a = imp.attrs(node)
    given = imp.const(node, 1, "scales")
    scales = given.tolist() if given is not None else list(a.get("scales", []))
    factors = [float(f) for f in scales[2:]]
    if a.get("mode", "nearest") != "nearest":
        raise imp.unsupported(node, "only nearest upsampling maps (its linear mode is asymmetric)")
    if not factors or any(f != int(f) or f < 1 for f in factors):
        raise imp.unsupported(node, f"only whole upsampling factors map, not {factors}")
    imp.emit(node, "upsample", {"scale": _one([int(f) for f in factors])})


_LAYERS: dict[str, Callable[[_Importer, Any], None]] = {
    "Conv": _conv,
    "ConvTranspose": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "ReduceMean": _reduce,
    "ReduceMax": _reduce,
    "Relu": _simple("relu"),
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "HardSwish": _simple("hardswish"),
    "HardSigmoid": _hardsigmoid,
    "LeakyRelu": _leaky,
    "Clip": _clip,
    "Add": _elementwise,
    "Mul": _elementwise,
    "Sub": _elementwise,
    "Div": _elementwise,
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "BatchNormalization": _batchnorm,
    "LRN": _lrn,
    "Dropout": _dropout,
    "Softmax": _softmax,
    "Pad": _pad,
    "Resize": _resize,
    "Identity": _passthrough,
    "Cast": _passthrough,
    "Transpose": _transpose,
    "Upsample": _upsample,
    "Gather": _gather,
}
