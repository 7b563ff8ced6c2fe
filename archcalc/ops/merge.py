"""Ops that join branches: element-wise ``add`` (residual), ``mul`` (gates), ``sub`` and
``div``, and channel ``concat`` (Inception)."""

from __future__ import annotations

import operator
from typing import Any, ClassVar

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


class _Broadcasting(Op):
    """An element-wise join whose inputs may have size 1 on some axes (a 1x1xC gate)."""

    family = "merge"
    flops_rule = "(inputs − 1) × output elements"
    min_inputs = 2
    max_inputs: ClassVar[int | None] = None

    def output_shape(self, layer: Layer) -> Shape:
        rank = len(layer.inputs[0])
        if any(len(s) != rank for s in layer.inputs):
            raise OpError(
                f"{self.name} needs inputs of one rank, got {_shapes_listed(layer)}",
                "keep the gate's spatial axes (global pooling with keepdims: true)",
                code="shape-mismatch",
            )
        out = []
        for sizes in zip(*layer.inputs):
            big = max(sizes)
            if any(n not in (1, big) for n in sizes):
                raise OpError(
                    f"{self.name} needs equal sizes or 1 on every axis, got "
                    f"{_shapes_listed(layer)}",
                    "a gate is 1x1xC (global pooling with keepdims: true) or the full shape",
                    code="shape-mismatch",
                )
            out.append(big)
        return tuple(out)

    def flops(self, layer: Layer) -> int:
        return (len(layer.inputs) - 1) * out_elements(layer)

    # the Python operator (an ``operator`` module name) joining the inputs left to right, in
    # NumPy as in the torch translation
    operator: ClassVar[str]

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        join = getattr(operator, self.operator)
        y: Array = xs[0]
        for other in xs[1:]:  # not in place: a later input may broadcast the result wider
            y = join(y, other)
        return y

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Join(self.operator)

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # An output depends on every operand, so the marks add up (a product would AND them,
        # a difference cancel them).
        import numpy as np

        return sum(
            np.broadcast_to(m, np.broadcast_shapes(*(x.shape for x in masks))) for m in masks
        )


@register
class Mul(_Broadcasting):
    name = "mul"
    aliases = ("multiply", "scale_channels", "elementwise_mul")
    summary = "element-wise product, broadcasting axes of size 1 (squeeze-and-excitation gate)"
    torch_equivalent = "`x * gate` (squeeze-and-excitation)"
    operator = "mul"


@register
class Sub(_Broadcasting):
    """``a − b``: what an ONNX Sub of two computed tensors imports as."""

    name = "sub"
    aliases = ("subtract", "elementwise_sub")
    summary = "element-wise difference of two layers (first − second), broadcasting axes of size 1"
    torch_equivalent = "`a - b`"
    max_inputs = 2
    operator = "sub"


@register
class Div(_Broadcasting):
    """``a / b``: what an ONNX Div of two computed tensors imports as."""

    name = "div"
    aliases = ("divide", "elementwise_div")
    summary = "element-wise quotient of two layers (first / second), broadcasting axes of size 1"
    torch_equivalent = "`a / b`"
    max_inputs = 2
    operator = "truediv"


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
