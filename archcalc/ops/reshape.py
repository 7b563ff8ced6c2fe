"""Ops that move data without learning anything: padding, upsampling, identity, channel slice."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archcalc.counting import PTFLOPS_OPS, THOP_HOOKS, THOP_ZERO_OPS, Rule, ptflops_functional
from archcalc.ops.base import (
    UNDEFINED,
    Array,
    Attr,
    Layer,
    Op,
    OpError,
    Window,
    out_elements,
    register,
)
from archcalc.ops.conv import _needs_spatial
from archcalc.shapes import Shape, format_shape, pad_pairs

# thop's extra operations per output element: linear, bilinear; it has no count for trilinear.
_THOP_UPSAMPLE = {1: 5, 2: 11}


@register
class ZeroPad(Op):
    name = "zeropad"
    aliases = ("zero_pad", "pad", "zeropadding2d", "padding")
    family = "reshape"
    channelwise = True
    summary = "zero padding"
    torch_equivalent = "nn.ZeroPad2d"
    counts = {"thop": THOP_ZERO_OPS}
    shorthand = "padding"
    attrs = {"padding": Attr("padding", 1, aliases=("pad", "p"))}

    def _pads(self, layer: Layer) -> tuple[tuple[int, int], ...]:
        ones = (1,) * layer.rank
        return layer.padding(ones, ones, ones)

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        sizes = [n + pb + pa for n, (pb, pa) in zip(layer.input[:-1], self._pads(layer))]
        return (*sizes, layer.input[-1])

    def windows(self, layer: Layer) -> list[Window]:
        return [Window(1, 1, pb) for pb, _ in self._pads(layer)]

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.zeropad(xs[0], self._pads(layer))

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.zero_pad(self._pads(layer))


def crop_cuts(layer: Layer) -> tuple[tuple[int, int], ...]:
    """A crop layer's (before, after) cut per spatial axis."""
    if isinstance(layer.attrs["cropping"], str):
        raise OpError("crop takes numbers, not same or valid", attr="cropping")
    try:
        return pad_pairs(layer.attrs["cropping"], layer.rank)
    except ValueError as err:
        raise OpError(str(err), "give one per axis, or [top, bottom, left, right]") from None


@register
class Crop(Op):
    name = "crop"
    aliases = ("cropping", "cropping1d", "cropping2d", "cropping3d")
    family = "reshape"
    channelwise = True
    summary = "cuts rows and columns off the borders (Keras' Cropping2D)"
    torch_equivalent = "x[..., top : H - bottom, left : W - right] (slicing)"
    shorthand = "cropping"
    attrs = {
        "cropping": Attr(
            "padding",
            1,
            aliases=("crop",),
            doc="int, per axis, or four sides [top, bottom, left, right]",
        )
    }

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        sizes = [n - cb - ca for n, (cb, ca) in zip(layer.input[:-1], crop_cuts(layer))]
        if any(size <= 0 for size in sizes):
            raise OpError(
                f"cropping {layer.attrs['cropping']} leaves nothing of {layer.input[:-1]}",
                attr="cropping",
            )
        return (*sizes, layer.input[-1])

    def windows(self, layer: Layer) -> list[Window]:
        # output i reads input i + cut: a one-wide window starting after the cut
        return [Window(1, 1, -cb) for cb, _ in crop_cuts(layer)]

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        cuts = zip(layer.input[:-1], crop_cuts(layer))
        index = [slice(None), *(slice(cb, n - ca) for n, (cb, ca) in cuts)]  # batch, then axes
        return xs[0][tuple(index)]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Crop(crop_cuts(layer))


@register
class Upsample(Op):
    name = "upsample"
    aliases = ("upsampling2d", "upsampling", "interpolate", "resize")
    family = "reshape"
    channelwise = True
    summary = "upsampling by an integer factor (nearest or bilinear)"
    flops_rule = "0 nearest; linear: 3 × spatial axes × output elements (a + t·(b − a) per axis)"
    torch_equivalent = "nn.Upsample(scale_factor, mode)"
    counts = {
        "fvcore": Rule(
            lambda op, layer: (
                0
                if layer.rank != 2
                else out_elements(layer) * (1 if layer.attrs["mode"] == "nearest" else 4)
            ),
            "2-D only: output elements (nearest), 4 × output elements (bilinear)",
            "fvcore/nn/flop_count.py: aten::upsample_nearest2d → elementwise_flop_counter(0, 1),"
            " aten::upsample_bilinear2d → (0, 4)",
        ),
        "ptflops": Rule(
            lambda op, layer: 2 * out_elements(layer),
            "2 × output elements",
            f"{PTFLOPS_OPS} upsample_flops_counter_hook + F.interpolate "
            "(_interpolate_functional_flops_hook): counted twice",
            ptflops_functional("F.interpolate"),
        ),
        "thop": Rule(
            lambda op, layer: (
                out_elements(layer)
                * (1 if layer.attrs["mode"] == "nearest" else _THOP_UPSAMPLE.get(layer.rank, 0))
            ),
            "output elements × 1 (nearest), 5 (linear), 11 (bilinear), 0 (trilinear)",
            f"{THOP_HOOKS} count_upsample → calc_func.calculate_upsample",
        ),
    }
    shorthand = "scale"
    attrs = {
        "scale": Attr("window", 2, aliases=("scale_factor", "factor", "size")),
        "mode": Attr(
            "choice",
            "nearest",
            aliases=("interpolation",),
            choices=("nearest", "bilinear", "linear"),
        ),
    }

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        return (
            *(n * s for n, s in zip(layer.input[:-1], layer.per_axis("scale"))),
            layer.input[-1],
        )

    def flops(self, layer: Layer) -> int:
        # Nearest copies. Linear interpolation a + t·(b − a) costs 3 per output element per axis.
        return 0 if layer.attrs["mode"] == "nearest" else 3 * layer.rank * out_elements(layer)

    def windows(self, layer: Layer) -> str | None:
        # Output o reads input ⌊o/s⌋ (nearest) or its two neighbours around (o + ½)/s − ½
        # (linear): windows move by 0 or 1 input units from one output to the next, so no
        # uniform stride exists beyond scale 1. input_span() answers exactly per unit.
        return None if all(s == 1 for s in layer.per_axis("scale")) else UNDEFINED

    def input_span(self, layer: Layer, axis: int, lo: int, hi: int) -> tuple[int, int] | None:
        scale, n = layer.per_axis("scale")[axis], layer.input[axis]
        if layer.attrs["mode"] == "nearest":
            return lo // scale, hi // scale

        def taps(o: int) -> tuple[int, int]:
            # PyTorch's align_corners=False source coordinate, clamped at 0; the upper
            # neighbour only counts when its weight is not zero.
            x = max(Fraction(2 * o + 1, 2 * scale) - Fraction(1, 2), Fraction(0))
            base = x.numerator // x.denominator
            return base, min(base + 1, n - 1) if x != base else base

        return taps(lo)[0], taps(hi)[1]

    def why_undefined(self, layer: Layer) -> str:
        return (
            f"upsampling by {layer.attrs['scale']} repeats (or interpolates) each input unit "
            "over several outputs; neighbouring output units see windows that move by 0 or 1 "
            "input units in turn, so no single stride and offset describe the layer (each "
            "unit's exact window: archcalc rf --unit)"
        )

    def describe(self, layer: Layer) -> str:
        return f"×{layer.attrs['scale']} {layer.attrs['mode']}"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.upsample(xs[0], layer.per_axis("scale"), layer.attrs["mode"])

    def torch_module(self, layer: Layer) -> Any:
        from torch import nn

        mode = layer.attrs["mode"]
        if mode != "nearest":
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[layer.rank]
        scale = tuple(float(s) for s in layer.per_axis("scale"))
        return nn.Upsample(scale_factor=scale, mode=mode)


@register
class Identity(Op):
    name = "identity"
    aliases = ("noop", "passthrough")
    family = "reshape"
    channelwise = True
    summary = "passes its input through"
    torch_class = "Identity"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return xs[0]


@register
class ChannelSlice(Op):
    name = "channel_slice"
    aliases = ("select_channels", "channel_select", "take_channels")
    family = "reshape"
    summary = "keep the listed channels, in the order listed (LeNet-5's C3 connection table)"
    selects_channels = True
    torch_equivalent = "x[:, channels] (indexing)"
    shorthand = "channels"  # channel_slice: [0, 1, 2]
    attrs = {
        "channels": Attr(
            "indices", aliases=("indices", "keep"), doc="channel indices to keep, from 0"
        )
    }

    def output_shape(self, layer: Layer) -> Shape:
        picked, depth = layer.attrs["channels"], layer.input[-1]
        outside = [i for i in picked if i >= depth]
        if outside:
            raise OpError(
                f"channel {outside[0]} does not exist: the input "
                f"{format_shape(layer.input)} has channels 0 to {depth - 1}",
                f"list indices below {depth}",
                attr="channels",
            )
        if len(set(picked)) != len(picked):
            raise OpError("a channel is listed twice", "list each channel once", attr="channels")
        return (*layer.input[:-1], len(picked))

    def describe(self, layer: Layer) -> str:
        return "ch " + ",".join(map(str, layer.attrs["channels"]))

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        picked = layer.attrs["channels"]
        return frozenset(picked if channels is None else (picked[c] for c in channels))

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return xs[0][..., list(layer.attrs["channels"])]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.ChannelSlice(list(layer.attrs["channels"]))
