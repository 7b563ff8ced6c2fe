"""Convolutions: ``conv`` (1-D/2-D/3-D, strided, dilated, grouped, depthwise) and ``conv_transpose``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archcalc.counting import FVCORE_HANDLES, PTFLOPS_OPS, THOP_HOOKS, Rule, macs, macs_and_bias
from archcalc.ops.base import (
    UNDEFINED,
    Array,
    Attr,
    Layer,
    OpError,
    SlidingWindow,
    Window,
    num,
    on_one_channel,
    out_elements,
    params_formula,
    per_axis_figures,
    product,
    register,
)
from archcalc.shapes import Shape, format_shape, numel

_FILTERS = Attr(
    "posint", aliases=("out_channels", "channels", "num_filters", "out"), doc="number of filters K"
)
_KERNEL = Attr(
    "window", aliases=("kernel_size", "size", "k", "f"), doc="filter size F (int or per axis)"
)
_STRIDE = Attr("window", 1, aliases=("strides", "s"), doc="stride S")
_DILATION = Attr("window", 1, aliases=("dilation_rate", "d"), doc="dilation D")
_GROUPS = Attr("posint", 1, aliases=("group",), doc="groups; equal to input channels = depthwise")


def _check_groups(layer: Layer, filters: int) -> int:
    channels, groups = layer.input[-1], layer.attrs["groups"]
    if channels % groups:
        raise OpError(
            f"groups={groups} does not divide the {channels} input channels",
            f"use a divisor of {channels}"
            + (" (depthwise: groups = input channels)" if groups > channels else ""),
            attr="groups",
        )
    if filters % groups:
        raise OpError(f"groups={groups} does not divide the {filters} filters", attr="groups")
    return groups


def _needs_spatial(layer: Layer, what: str) -> None:
    if layer.rank == 0:
        raise OpError(
            f"{what} needs spatial axes, but its input {format_shape(layer.input)} is a flat vector",
            "move it before the flatten/dense layers, or give the input as HxWxC",
        )


def _nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a nested list of numbers, or None when it is ragged."""
    if not isinstance(value, list):
        return ()
    inner = [_nested_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(value), *inner[0])  # type: ignore[misc]


def _check_fixed_weights(layer: Layer, full: Shape) -> None:
    """An inline ``weights`` matrix must be the spatial kernel, or the whole kernel array."""
    value = layer.attrs.get("weights")
    if value is None:
        if layer.attrs.get("scale", 1.0) != 1.0:
            raise OpError(
                "scale multiplies fixed weights, but this conv has none",
                "give the kernel values as 'weights: [[...], ...]', or drop scale",
                attr="scale",
            )
        return
    shape = _nested_shape(value)
    spatial = full[:-2]
    if shape is None:
        raise OpError("weights is ragged: every row must have the same length", attr="weights")
    if shape not in (spatial, full):
        raise OpError(
            f"weights is {format_shape(shape)} but the kernel is {format_shape(spatial)}"
            + f" (the whole array is {format_shape(full)})",
            f"give a {format_shape(spatial)} matrix (used for every input channel and filter), "
            f"or the whole {format_shape(full)} array as kernel rows, columns, channels, filters",
            attr="weights",
        )


def _group_channels(layer: Layer, channels: frozenset[int] | None) -> frozenset[int] | None:
    """The input channels that output ``channels`` of a grouped (transposed) conv read: all of
    their groups' (output channel o is in group o // (filters / groups), as in PyTorch)."""
    groups = layer.attrs["groups"]
    if groups == 1 or channels is None:
        return None
    per_in, per_out = layer.input[-1] // groups, layer.attrs["filters"] // groups
    return frozenset(
        c for g in {o // per_out for o in channels} for c in range(g * per_in, (g + 1) * per_in)
    )


def _notation(layer: Layer, kernel: str = "kernel") -> str:
    k = layer.attrs[kernel]
    ks = "×".join(str(v) for v in (k if isinstance(k, tuple) else (k,) * max(layer.rank, 1)))
    s = layer.attrs.get("stride", 1)
    stride = "" if s == 1 else "/" + ("×".join(map(str, s)) if isinstance(s, tuple) else str(s))
    return ks + stride


def _flops_formula(layer: Layer, macs: int, flops: int) -> str:
    bias = f" + {num(out_elements(layer))}" if layer.attrs["bias"] else ""
    return f"2·{num(macs)}{bias} = {num(flops)}"


@register
class Conv(SlidingWindow):
    name = "conv"
    aliases = ("conv1d", "conv2d", "conv3d", "convolution", "convolve")
    family = "conv"
    absorbs_affine = True
    summary = "convolution (cross-correlation, as frameworks compute it)"
    macs_rule = "output elements × (C_in / groups) × kernel size"
    flops_rule = "2 × MACs + output elements if bias"
    torch_equivalent = "nn.Conv1d/2d/3d"
    attrs = {
        "filters": _FILTERS,
        "kernel": _KERNEL,
        "stride": _STRIDE,
        "padding": Attr(
            "padding",
            0,
            aliases=("pad", "p"),
            doc="zero padding P: int, per axis, four sides, same, valid",
        ),
        "dilation": _DILATION,
        "groups": _GROUPS,
        "bias": Attr("bool", True, aliases=("use_bias",), doc="learn a bias per filter"),
        "weights": Attr(
            "matrix",
            None,
            aliases=("values",),
            doc="fixed kernel values: the spatial matrix, or the whole kernel array",
        ),
        "scale": Attr("number", 1.0, doc="multiplies the fixed weights, e.g. 1/9 for a box filter"),
        "flip": Attr(
            "bool", False, doc="flip the kernel: true convolution instead of cross-correlation"
        ),
    }

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, "conv")
        filters = layer.attrs["filters"]
        _check_groups(layer, filters)
        out = layer.slide(self.geometry(layer))
        _check_fixed_weights(layer, self.weights(layer)["kernel"])
        return (*out, filters)

    def weights(self, layer: Layer) -> dict[str, Shape]:
        a = layer.attrs
        w = {"kernel": (*self.geometry(layer).kernel, layer.input[-1] // a["groups"], a["filters"])}
        if a["bias"]:
            w["bias"] = (a["filters"],)
        return w

    def macs(self, layer: Layer) -> int:
        # One multiply-accumulate per output element per filter tap and input channel of its group
        # (fvcore's conv counting; torchvision's "GFLOPS" column is this figure).
        return (
            out_elements(layer)
            * (layer.input[-1] // layer.attrs["groups"])
            * numel(self.geometry(layer).kernel)
        )

    def flops(self, layer: Layer) -> int:
        # A MAC is a multiply and an add; the bias adds one more per output element.
        return 2 * self.macs(layer) + (out_elements(layer) if layer.attrs["bias"] else 0)

    def _kernel_args(self, layer: Layer) -> dict[str, Any]:
        _, stride, dilation, pads = self.geometry(layer)
        return {
            "stride": stride,
            "dilation": dilation,
            "padding": pads,
            "groups": layer.attrs["groups"],
        }

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.conv(
            xs[0],
            params["kernel"],
            params["bias"] if layer.attrs["bias"] else None,
            flip=layer.attrs["flip"],
            **self._kernel_args(layer),
        )

    def forward_affine(
        self, layer: Layer, xs: list[Array], params: dict[str, Array], scale: Array, shift: Array
    ) -> Array:
        # (x ⋆ k + b) · s + t = x ⋆ (k · s) + (b · s + t): output channels are the kernel's
        # last axis, so scaling it scales each output channel.
        from archcalc.backend import kernels

        bias = params["bias"] * scale + shift if layer.attrs["bias"] else shift
        return kernels.conv(
            xs[0],
            params["kernel"] * scale,
            bias,
            flip=layer.attrs["flip"],
            **self._kernel_args(layer),
        )

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        from archcalc.backend import kernels

        kernel, stride, dilation, pads = self.geometry(layer)
        return kernels.conv_workspace(
            batch,
            layer.input[:-1],
            layer.output[:-1],
            layer.input[-1],
            layer.attrs["filters"],
            kernel,
            stride,
            dilation,
            pads,
            layer.attrs["groups"],
            itemsize,
        )

    def fixed_params(self, layer: Layer) -> dict[str, Array]:
        import numpy as np

        a = layer.attrs
        if a["weights"] is None:
            return {}
        shape = self.weights(layer)["kernel"]
        matrix = np.asarray(a["weights"], dtype=np.float64) * a["scale"]
        if matrix.ndim == len(shape) - 2:  # one spatial matrix for every channel and filter
            matrix = np.broadcast_to(matrix[..., None, None], shape)
        fixed = {"kernel": np.array(matrix, dtype=np.float32)}
        if a["bias"]:
            fixed["bias"] = np.zeros((a["filters"],), dtype=np.float32)
        return fixed

    def torch_module(self, layer: Layer) -> Any:
        from torch import nn

        from archcalc.ops import torch_modules as tm

        a = layer.attrs
        kernel, stride, dilation, pads = self.geometry(layer)
        even = all(pb == pa for pb, pa in pads)
        conv = tm.by_rank(
            "Conv",
            layer.rank,
            layer.input[-1],
            a["filters"],
            kernel,
            stride,
            tuple(pb for pb, _ in pads) if even else 0,
            dilation,
            a["groups"],
            a["bias"],
        )
        return conv if even else nn.Sequential(tm.zero_pad(pads), conv)

    def torch_state(self, layer: Layer, params: Mapping[str, Array]) -> dict[str, Array]:
        import numpy as np

        r = layer.rank
        weight = np.transpose(params["kernel"], (r + 1, r, *range(r)))  # (out, in/g, *k)
        if layer.attrs["flip"]:
            weight = np.flip(weight, tuple(range(2, 2 + r)))
        return {"weight": weight, **({"bias": params["bias"]} if layer.attrs["bias"] else {})}

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        import numpy as np

        from archcalc.backend import kernels

        geometry = self._kernel_args(layer)
        uniform = on_one_channel(masks)
        if geometry["groups"] > 1 and uniform is None:
            return kernels.conv(masks[0], params["kernel"], None, **geometry)
        # With all-ones weights and one group every filter computes the same sum over every
        # input channel (so does a grouped conv when every channel holds the same mask):
        # collapse the channels and run a one-filter conv of the same geometry, with the
        # batch as the channels of a depthwise conv (one pass per tap, not an im2col).
        x = uniform[0] if uniform is not None else masks[0].max(axis=-1, keepdims=True)
        lanes = np.moveaxis(x[..., 0], 0, -1)[None]  # (1, *spatial, N)
        geometry["groups"] = lanes.shape[-1]
        ones = np.ones((*params["kernel"].shape[:-2], 1, lanes.shape[-1]), dtype=x.dtype)
        y = np.moveaxis(kernels.conv(lanes, ones, None, **geometry)[0], -1, 0)[..., None]
        return np.broadcast_to(y, (*y.shape[:-1], layer.attrs["filters"]))

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        return _group_channels(layer, channels)

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        found = super().explain(layer)
        macs, groups, channels = self.macs(layer), layer.attrs["groups"], layer.input[-1]
        fan_in = str(channels) if groups == 1 else f"({channels}/{groups})"
        found.append(
            (
                "MACs",
                f"{product(layer.output)} · {product(self.geometry(layer).kernel)}·{fan_in} = {num(macs)}",
            )
        )
        found.append(("FLOPs", _flops_formula(layer, macs, self.flops(layer))))
        return found

    def describe(self, layer: Layer) -> str:
        a = layer.attrs
        extra = (
            ""
            if a["groups"] == 1
            else (", depthwise" if a["groups"] == layer.input[-1] else f", g{a['groups']}")
        )
        return f"{_notation(layer)}, {a['filters']}{extra}"


@register
class ConvTranspose(SlidingWindow):
    name = "conv_transpose"
    aliases = (
        "deconv",
        "convtranspose",
        "conv2d_transpose",
        "conv_transpose2d",
        "transposed_conv",
        "upconv",
    )
    family = "conv"
    summary = "transposed convolution (PyTorch ConvTranspose semantics)"
    macs_rule = "input elements × (filters / groups) × kernel size"
    flops_rule = "2 × MACs + output elements if bias"
    torch_equivalent = "nn.ConvTranspose1d/2d/3d"
    counts = {
        "fvcore": macs(
            f"{FVCORE_HANDLES} conv_flop_count(transposed=True): batch·∏w_shape·∏input spatial"
        ),
        "ptflops": macs_and_bias(
            f"{PTFLOPS_OPS} conv_flops_counter_hook(transpose=True): per input position"
        ),
        "thop": Rule(
            lambda op, layer: (
                out_elements(layer)
                * (layer.input[-1] // layer.attrs["groups"])
                * numel(layer.per_axis("kernel"))
            ),
            "output elements × (C_in / groups) × kernel size",
            f"{THOP_HOOKS} count_convNd (the conv formula, over the transposed conv's output)",
        ),
    }
    attrs = {
        "filters": _FILTERS,
        "kernel": _KERNEL,
        "stride": _STRIDE,
        "padding": Attr(
            "padding", 0, aliases=("pad", "p"), doc="implicit padding removed from the output"
        ),
        "output_padding": Attr("extra", 0, doc="extra rows/columns added on one side"),
        "dilation": _DILATION,
        "groups": _GROUPS,
        "bias": Attr("bool", True, aliases=("use_bias",), doc="learn a bias per filter"),
    }

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, "conv_transpose")
        a = layer.attrs
        _check_groups(layer, a["filters"])
        if a["padding"] in ("same", "valid"):
            raise OpError(
                "conv_transpose takes a numeric padding",
                "give padding as an integer",
                attr="padding",
            )
        kernel, stride, dilation, pads = self.geometry(layer)
        extra = (
            (a["output_padding"],) * layer.rank
            if isinstance(a["output_padding"], int)
            else a["output_padding"]
        )
        sizes = []
        for n, k, s, d, (pb, pa), op in zip(
            layer.input[:-1], kernel, stride, dilation, pads, extra
        ):
            if op >= max(s, d):
                raise OpError(
                    f"output_padding {op} must be smaller than the stride or the dilation",
                    attr="output_padding",
                )
            size = (n - 1) * s - pb - pa + d * (k - 1) + op + 1
            if size <= 0:
                raise OpError(
                    f"output size {size} along an axis is not positive",
                    "reduce the padding",
                    attr="padding",
                )
            sizes.append(size)
        return (*sizes, a["filters"])

    def weights(self, layer: Layer) -> dict[str, Shape]:
        a = layer.attrs
        w = {"kernel": (*self.geometry(layer).kernel, layer.input[-1], a["filters"] // a["groups"])}
        if a["bias"]:
            w["bias"] = (a["filters"],)
        return w

    def macs(self, layer: Layer) -> int:
        # Every input element is scattered through every tap to the filters of its group
        # (fvcore's conv-transpose counting).
        a = layer.attrs
        return (
            numel(layer.input) * (a["filters"] // a["groups"]) * numel(self.geometry(layer).kernel)
        )

    def flops(self, layer: Layer) -> int:
        return 2 * self.macs(layer) + (out_elements(layer) if layer.attrs["bias"] else 0)

    def windows(self, layer: Layer) -> list[Window] | str:
        # Output o gathers input i through tap t when o = i·S − P + t·D. With stride 1 that is an
        # ordinary window over the input: span D(F−1)+1, leading padding D(F−1) − P. With a larger
        # stride, neighbouring outputs see windows that move by 0 or 1 input units in turn: no
        # uniform stride exists (see why_undefined); input_span() still answers per unit.
        kernel, stride, dilation, pads = self.geometry(layer)
        if any(s != 1 for s in stride):
            return UNDEFINED
        return [
            Window(d * (k - 1) + 1, 1, d * (k - 1) - pb, d)
            for k, d, (pb, _) in zip(kernel, dilation, pads)
        ]

    def input_positions(self, layer: Layer, axis: int, positions: set[int]) -> set[int]:
        kernel, stride, dilation, pads = self.geometry(layer)
        k, s, d, p = kernel[axis], stride[axis], dilation[axis], pads[axis][0]
        return {
            (o + p - t * d) // s for o in positions for t in range(k) if (o + p - t * d) % s == 0
        }

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        return _group_channels(layer, channels)

    def input_span(self, layer: Layer, axis: int, lo: int, hi: int) -> tuple[int, int] | None:
        kernel, stride, dilation, pads = self.geometry(layer)
        k, s, d, p = kernel[axis], stride[axis], dilation[axis], pads[axis][0]

        def sources(o: int) -> list[int]:
            return [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0]

        # The extremes are reached within one period (S·D outputs) of either end.
        period = s * d
        low = [i for o in range(lo, min(hi, lo + period) + 1) for i in sources(o)]
        high = [i for o in range(max(lo, hi - period), hi + 1) for i in sources(o)]
        if not low and not high:
            return None  # only possible when the stride exceeds the span: these outputs see nothing
        return min(low or high), max(high or low)

    def why_undefined(self, layer: Layer) -> str:
        stride = max(self.geometry(layer).stride)
        return (
            f"a stride-{stride} transposed conv spreads each input unit over several outputs; "
            "neighbouring output units see windows that move by 0 or 1 input units in turn, so "
            "no single stride and offset describe the layer (each unit's exact window: "
            "archcalc rf --unit)"
        )

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        kernel, stride, dilation, pads = self.geometry(layer)
        extra = layer.attrs["output_padding"]
        extras = (extra,) * layer.rank if isinstance(extra, int) else extra
        formulas = []
        for n, k, s, d, (pb, pa), op, out in zip(
            layer.input[:-1], kernel, stride, dilation, pads, extras, layer.output
        ):
            pad = f" − 2·{pb}" if pb == pa else f" − {pb} − {pa}"
            tap = f"{d}·({k} − 1)" if d > 1 else f"({k} − 1)"
            tail = f" + {op}" if op else ""
            formulas.append(f"({n} − 1)·{s}{pad} + {tap}{tail} + 1 = {out}")
        found = per_axis_figures("output", formulas)
        found.append(("params", params_formula(self.weights(layer))))
        macs = self.macs(layer)
        a = layer.attrs
        per_group = str(a["filters"]) if a["groups"] == 1 else f"({a['filters']}/{a['groups']})"
        found.append(
            ("MACs", f"{product(layer.input)} · {per_group}·{product(kernel)} = {num(macs)}")
        )
        found.append(("FLOPs", _flops_formula(layer, macs, self.flops(layer))))
        return found

    def _kernel_args(self, layer: Layer) -> dict[str, Any]:
        a = layer.attrs
        _, stride, dilation, pads = self.geometry(layer)
        return {
            "stride": stride,
            "dilation": dilation,
            "padding": pads,
            "output_padding": a["output_padding"],
            "groups": a["groups"],
        }

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.conv_transpose(
            xs[0],
            params["kernel"],
            params["bias"] if layer.attrs["bias"] else None,
            **self._kernel_args(layer),
        )

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        # Every tap's product with the input is held before it is scattered.
        a = layer.attrs
        taps = batch * numel(layer.input) * numel(self.geometry(layer).kernel) * itemsize
        return (
            taps * a["filters"] // max(1, layer.input[-1]) + batch * out_elements(layer) * itemsize
        )

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        a = layer.attrs
        kernel, stride, dilation, pads = self.geometry(layer)
        return tm.by_rank(
            "ConvTranspose",
            layer.rank,
            layer.input[-1],
            a["filters"],
            kernel,
            stride,
            tm.symmetric(pads, self.name),
            a["output_padding"],
            a["groups"],
            a["bias"],
            dilation,
        )

    def torch_state(self, layer: Layer, params: Mapping[str, Array]) -> dict[str, Array]:
        import numpy as np

        r = layer.rank
        weight = np.transpose(params["kernel"], (r, r + 1, *range(r)))  # (in, out/g, *k)
        return {"weight": weight, **({"bias": params["bias"]} if layer.attrs["bias"] else {})}

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        import numpy as np

        from archcalc.backend import kernels

        geometry = self._kernel_args(layer)
        uniform = on_one_channel(masks)
        if uniform is None:
            return kernels.conv_transpose(masks[0], params["kernel"], None, **geometry)
        # Every channel holds the same mask: every filter computes the same sum, whatever the
        # groups; compute one and broadcast it.
        geometry["groups"] = 1
        ones = np.ones((*params["kernel"].shape[:-2], 1, 1), dtype=uniform[0].dtype)
        y = kernels.conv_transpose(uniform[0], ones, None, **geometry)
        return np.broadcast_to(y, (*y.shape[:-1], layer.attrs["filters"]))

    def describe(self, layer: Layer) -> str:
        return f"{_notation(layer)}, {layer.attrs['filters']}"
