"""Pooling: windowed max/average, adaptive average, and global max/average."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from archcalc.counting import THOP_HOOKS, THOP_ZERO_OPS, Rule, in_elements, ptflops_twice
from archcalc.ops.base import (
    GLOBAL,
    UNDEFINED,
    Array,
    Attr,
    Layer,
    Op,
    OpError,
    SlidingWindow,
    Window,
    broadcast_channels,
    num,
    on_one_channel,
    out_elements,
    padded_input_bytes,
    product,
    register,
    spatial,
)
from archcalc.ops.conv import _needs_spatial
from archcalc.shapes import Shape, numel

_POOL_ATTRS = {
    "kernel": Attr(
        "window", aliases=("kernel_size", "pool_size", "size", "k", "f"), doc="window size F"
    ),
    "stride": Attr(
        "window", 0, aliases=("strides", "s"), doc="stride S", default_text="the window size"
    ),
    "padding": Attr("padding", 0, aliases=("pad", "p"), doc="implicit padding"),
    "ceil_mode": Attr("bool", False, doc="round the output size up, as PyTorch's ceil_mode"),
}


class _Pool(Op):
    family = "pool"
    channelwise = True  # every pooling treats each channel alone

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        # The input copied padded, and a partial result per reduced axis.
        return padded_input_bytes(layer, batch, itemsize) + batch * numel(layer.input) * itemsize


class _WindowPool(_Pool, SlidingWindow):
    shorthand = "kernel"

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        g = self.geometry(layer)
        for k, (pb, pa) in zip(g.kernel, g.padding):
            if max(pb, pa) > k // 2:
                raise OpError(
                    f"pooling padding {max(pb, pa)} is more than half the {k}-wide window",
                    "PyTorch rejects this too; use padding of at most kernel // 2",
                    attr="padding",
                )
        return (*layer.slide(g, layer.attrs["ceil_mode"]), layer.input[-1])

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # Pooling treats channels alone and alike: pool one channel of a channel-uniform mask.
        one = on_one_channel(masks)
        if one is None:
            return self.forward(layer, masks, params)
        return broadcast_channels(self.forward(layer, one, params), masks[0].shape[-1])

    def _kwargs(self, layer: Layer) -> dict[str, Any]:
        g = self.geometry(layer)
        return {
            "kernel": g.kernel,
            "stride": g.stride,
            "padding": g.padding,
            "ceil_mode": layer.attrs["ceil_mode"],
        }

    def describe(self, layer: Layer) -> str:
        kernel, stride = self.geometry(layer)[:2]
        ks = "×".join(map(str, kernel))
        return (
            ks
            if stride == kernel
            else f"{ks}/{'×'.join(map(str, stride)) if len(set(stride)) > 1 else stride[0]}"
        )


@register
class MaxPool(_WindowPool):
    name = "maxpool"
    aliases = ("max_pool", "maxpool1d", "maxpool2d", "max_pooling2d", "maxpooling2d", "pool")
    summary = "max pooling"
    flops_rule = "(window size − 1) comparisons per output element"
    torch_equivalent = "nn.MaxPool1d/2d/3d"
    counts = {
        "ptflops": ptflops_twice("pool_flops_counter_hook", "F.max_pool2d", "input"),
        "thop": THOP_ZERO_OPS,
    }
    attrs = {**_POOL_ATTRS, "dilation": Attr("window", 1, aliases=("d",), doc="dilation")}

    def flops(self, layer: Layer) -> int:
        # A window of n values needs n - 1 comparisons.
        return out_elements(layer) * (numel(self.geometry(layer).kernel) - 1)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.max_pool(
            xs[0], dilation=self.geometry(layer).dilation, **self._kwargs(layer)
        )

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        window = product(self.geometry(layer).kernel)
        return [
            *super().explain(layer),
            ("FLOPs", f"{product(layer.output)} · ({window} − 1) = {num(self.flops(layer))}"),
        ]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        kernel, stride, dilation, padding = self.geometry(layer)
        pads = tm.symmetric(padding, self.name)
        return tm.by_rank(
            "MaxPool",
            layer.rank,
            kernel,
            stride,
            pads,
            dilation,
            ceil_mode=layer.attrs["ceil_mode"],
        )


@register
class AvgPool(_WindowPool):
    name = "avgpool"
    aliases = (
        "avg_pool",
        "avgpool1d",
        "avgpool2d",
        "average_pooling2d",
        "averagepooling2d",
        "meanpool",
    )
    summary = "average pooling"
    flops_rule = "window size per output element (n − 1 adds and a division)"
    torch_equivalent = "nn.AvgPool1d/2d/3d"
    counts = {
        "ptflops": ptflops_twice("pool_flops_counter_hook", "F.avg_pool2d", "input"),
        "thop": Rule(
            lambda op, layer: out_elements(layer),
            "output elements",
            f"{THOP_HOOKS} count_avgpool → calculate_avgpool(y.numel())",
        ),
    }
    attrs = {
        **_POOL_ATTRS,
        "count_include_pad": Attr("bool", True, doc="padding zeros count in the mean"),
    }

    def flops(self, layer: Layer) -> int:
        # n - 1 additions and one division per window.
        return out_elements(layer) * numel(self.geometry(layer).kernel)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.avg_pool(
            xs[0], count_include_pad=layer.attrs["count_include_pad"], **self._kwargs(layer)
        )

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        window = product(self.geometry(layer).kernel)
        return [
            *super().explain(layer),
            ("FLOPs", f"{product(layer.output)} · {window} = {num(self.flops(layer))}"),
        ]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        a = layer.attrs
        kernel, stride, _, padding = self.geometry(layer)
        pads = tm.symmetric(padding, self.name)
        return tm.by_rank(
            "AvgPool", layer.rank, kernel, stride, pads, a["ceil_mode"], a["count_include_pad"]
        )


def _adaptive_bins(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling bins: [floor(i*n/out), ceil((i+1)*n/out))."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _thop_adaptive(op: Op, layer: Layer) -> int:
    # thop divides the sizes as doubles; the same IEEE arithmetic gives the same truncation.
    kernel = math.prod(n / m for n, m in zip(layer.input[:-1], layer.output[:-1]))
    return int((kernel + 1) * out_elements(layer))


@register
class AdaptiveAvgPool(_Pool):
    name = "adaptive_avgpool"
    aliases = ("adaptive_avg_pool", "adaptiveavgpool2d", "adaptive_avg_pool2d")
    summary = "adaptive average pooling to a fixed output size"
    flops_rule = "its bin's size per output element (bin − 1 adds and a division)"
    torch_equivalent = "nn.AdaptiveAvgPool1d/2d/3d"
    counts = {
        "fvcore": Rule(
            lambda op, layer: in_elements(layer) if layer.rank == 2 else 0,
            "input elements (2-D only)",
            "fvcore/nn/flop_count.py: aten::adaptive_avg_pool2d → elementwise_flop_counter(1, 0);"
            " the 1-D and 3-D ops have no handle",
        ),
        "ptflops": ptflops_twice("pool_flops_counter_hook", "F.adaptive_avg_pool2d", "input"),
        "thop": Rule(
            _thop_adaptive,
            "⌊(∏ input/output sizes + 1) × output elements⌋",
            f"{THOP_HOOKS} count_adap_avgpool → calculate_adaptive_avg",
        ),
    }
    shorthand = "size"
    attrs = {"size": Attr("window", aliases=("output_size", "out"), doc="output size per axis")}

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        return (*layer.per_axis("size"), layer.input[-1])

    def flops(self, layer: Layer) -> int:
        # Each output sums its bin and divides once: the bin's size in FLOPs. Bins may overlap.
        total = layer.input[-1]
        for n, out in zip(spatial(layer.input), layer.per_axis("size")):
            total *= sum(end - start for start, end in _adaptive_bins(n, out))
        return total

    def windows(self, layer: Layer) -> list[Window] | str:
        sizes = layer.per_axis("size")
        if all(out == 1 for out in sizes):
            return GLOBAL
        if any(n % out for n, out in zip(spatial(layer.input), sizes)):
            return UNDEFINED  # bins of unequal width: no single window describes them
        return [Window(n // out, n // out, 0) for n, out in zip(spatial(layer.input), sizes)]

    def input_span(self, layer: Layer, axis: int, lo: int, hi: int) -> tuple[int, int] | None:
        bins = _adaptive_bins(layer.input[axis], layer.per_axis("size")[axis])
        return bins[lo][0], bins[hi][1] - 1

    def why_undefined(self, layer: Layer) -> str:
        return (
            "adaptive pooling to a size that does not divide the input uses bins of unequal "
            "width, so no single size and stride describe the layer (each unit's exact window: "
            "archcalc rf --unit)"
        )

    def describe(self, layer: Layer) -> str:
        return "→" + "×".join(map(str, layer.per_axis("size")))

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.adaptive_avg_pool(xs[0], layer.per_axis("size"))

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.by_rank("AdaptiveAvgPool", layer.rank, layer.per_axis("size"))


class _GlobalPool(_Pool):
    adaptive: ClassVar[str]  # the torch.nn adaptive pooling that stands for it, to size 1
    attrs = {"keepdims": Attr("bool", False, aliases=("keep_dims",), doc="keep 1x1 spatial axes")}

    def output_shape(self, layer: Layer) -> Shape:
        _needs_spatial(layer, self.name)
        c = layer.input[-1]
        return (*(1,) * layer.rank, c) if layer.attrs["keepdims"] else (c,)

    def windows(self, layer: Layer) -> str:
        return GLOBAL

    def _reduce(self, x: Array) -> Array:
        raise NotImplementedError

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        y = self._reduce(xs[0])
        if layer.attrs["keepdims"]:
            y = y.reshape(y.shape[0], *(1,) * layer.rank, y.shape[-1])
        return y

    def torch_module(self, layer: Layer) -> Any:
        from torch import nn

        from archcalc.ops import torch_modules as tm

        pool = tm.by_rank(self.adaptive, layer.rank, 1)
        return pool if layer.attrs["keepdims"] else nn.Sequential(pool, nn.Flatten())


@register
class GlobalAvgPool(_GlobalPool):
    name = "global_avgpool"
    aliases = ("global_avg_pool", "globalavgpool", "global_average_pooling2d", "gap")
    summary = "global average pooling"
    flops_rule = "input elements (H·W − 1 adds and a division per channel)"
    torch_equivalent, adaptive = "nn.AdaptiveAvgPool2d(1)", "AdaptiveAvgPool"
    counts = {
        "fvcore": Rule(
            lambda op, layer: in_elements(layer) if layer.rank == 2 else 0,
            "input elements (2-D only)",
            "as adaptive_avgpool: nn.AdaptiveAvgPool2d(1) traces to aten::adaptive_avg_pool2d",
        ),
        "ptflops": ptflops_twice("pool_flops_counter_hook", "F.adaptive_avg_pool2d", "input"),
        "thop": Rule(
            lambda op, layer: (numel(layer.input[:-1]) + 1) * layer.input[-1],
            "(H·W + 1) × C",
            f"{THOP_HOOKS} count_adap_avgpool, as nn.AdaptiveAvgPool2d(1)",
        ),
    }

    def flops(self, layer: Layer) -> int:
        # Sum of H·W values (H·W − 1 adds) and one division, per channel.
        return numel(layer.input)

    def _reduce(self, x: Array) -> Array:
        from archcalc.backend import kernels

        return kernels.global_avg_pool(x)


@register
class GlobalMaxPool(_GlobalPool):
    name = "global_maxpool"
    aliases = ("global_max_pool", "globalmaxpool", "global_max_pooling2d")
    summary = "global max pooling"
    flops_rule = "input elements − C (H·W − 1 comparisons per channel)"
    torch_equivalent, adaptive = "nn.AdaptiveMaxPool2d(1)", "AdaptiveMaxPool"
    counts = {
        "ptflops": ptflops_twice("pool_flops_counter_hook", "F.adaptive_max_pool2d", "input"),
        "thop": THOP_ZERO_OPS,
    }

    def flops(self, layer: Layer) -> int:
        return numel(layer.input) - layer.input[-1]

    def _reduce(self, x: Array) -> Array:
        from archcalc.backend import kernels

        return kernels.global_max_pool(x)
