"""Ops that join branches: element-wise ``add`` (residual) and channel ``concat`` (Inception)."""

from __future__ import annotations

from typing import Any

from archcalc.ops.base import (
    Array,
    Layer,
    Op,
    OpError,
    broadcast_channels,
    on_one_channel,
    out_elements,
    register,
)
from archcalc.shapes import Shape, format_shape


def _shapes_listed(layer: Layer) -> str:
    return ", ".join(format_shape(s) for s in layer.inputs)


@register
class Add(Op):
    name = "add"
    aliases = ("sum", "residual_add", "elementwise_add")
    family = "merge"
    channelwise = True
    summary = "element-wise sum of branches (residual connection)"
    flops_rule = "(inputs − 1) × output elements"
    torch_equivalent = "`out += identity` / `a + b`"
    min_inputs, max_inputs = 2, None

    def output_shape(self, layer: Layer) -> Shape:
        first = layer.inputs[0]
        for other in layer.inputs[1:]:
            if other != first:
                channels = len(other) == len(first) and other[:-1] == first[:-1]
                raise OpError(
                    f"add needs equal shapes, got {_shapes_listed(layer)}"
                    + (" (the channels differ)" if channels else ""),
                    "project the shortcut with a 1x1 conv to the same channels and stride, "
                    "or use concat to stack channels instead",
                    code="channel-mismatch" if channels else "shape-mismatch",
                )
        return first

    def flops(self, layer: Layer) -> int:
        return (len(layer.inputs) - 1) * out_elements(layer)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.add(*xs)

    def forward_inplace(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.add(*xs, out=xs[0])

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        one = on_one_channel(masks)
        if one is None:
            return self.forward(layer, masks, params)
        return broadcast_channels(self.forward(layer, one, params), masks[0].shape[-1])

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Add()


@register
class Mul(Op):
    name = "mul"
    aliases = ("multiply", "scale_channels", "elementwise_mul")
    family = "merge"
    summary = "element-wise product, broadcasting axes of size 1 (squeeze-and-excitation gate)"
    flops_rule = "(inputs − 1) × output elements"
    torch_equivalent = "`x * gate` (squeeze-and-excitation)"
    min_inputs, max_inputs = 2, None

    def output_shape(self, layer: Layer) -> Shape:
        rank = len(layer.inputs[0])
        if any(len(s) != rank for s in layer.inputs):
            raise OpError(
                f"mul needs inputs of one rank, got {_shapes_listed(layer)}",
                "keep the gate's spatial axes (global pooling with keepdims: true)",
                code="shape-mismatch",
            )
        out = []
        for sizes in zip(*layer.inputs):
            big = max(sizes)
            if any(n not in (1, big) for n in sizes):
                raise OpError(
                    f"mul needs equal sizes or 1 on every axis, got {_shapes_listed(layer)}",
                    "a gate is 1x1xC (global pooling with keepdims: true) or the full shape",
                    code="shape-mismatch",
                )
            out.append(big)
        return tuple(out)

    def flops(self, layer: Layer) -> int:
        return (len(layer.inputs) - 1) * out_elements(layer)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.multiply(*xs)

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # An output depends on every factor, so the marks add up (a product would AND them).
        import numpy as np

        return sum(
            np.broadcast_to(m, np.broadcast_shapes(*(x.shape for x in masks))) for m in masks
        )

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Mul()


@register
class Concat(Op):
    name = "concat"
    aliases = ("concatenate", "cat", "depth_concat")
    family = "merge"
    summary = "stack branches along channels"
    torch_equivalent = "torch.cat"
    min_inputs, max_inputs = 1, None

    def output_shape(self, layer: Layer) -> Shape:
        first = layer.inputs[0]
        for other in layer.inputs[1:]:
            if len(other) != len(first) or other[:-1] != first[:-1]:
                raise OpError(
                    f"concat needs equal spatial sizes, got {_shapes_listed(layer)}",
                    "give every branch the same stride and padding, or crop/pad one of them",
                    code="shape-mismatch",
                )
        return (*first[:-1], sum(s[-1] for s in layer.inputs))

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.concat(xs)

    def support_any_channel(
        self, layer: Layer, masks: list[Array], params: dict[str, Array]
    ) -> Array:
        import numpy as np

        # Some channel of a position is marked when some branch marks it: no need to stack them.
        return broadcast_channels(np.maximum.reduce([m[..., :1] for m in masks]), layer.output[-1])

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        # Input ``index`` fills the output channels from the sum of the earlier inputs' depths.
        start = sum(s[-1] for s in layer.inputs[:index])
        depth = layer.inputs[index][-1]
        if channels is None:
            return None
        return frozenset(c - start for c in channels if start <= c < start + depth)

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        channels = " + ".join(str(s[-1]) for s in layer.inputs)
        return [("channels", f"{channels} = {layer.output[-1]:,}")]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Concat()
