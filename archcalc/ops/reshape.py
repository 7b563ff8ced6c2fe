"""Ops that move data without learning anything: padding, upsampling, identity."""

from __future__ import annotations

from archcalc.ops.base import UNDEFINED, Array, Attr, Layer, Op, Window, out_elements, register
from archcalc.ops.conv import _needs_spatial
from archcalc.shapes import Shape


@register
class ZeroPad(Op):
    name = "zeropad"
    aliases = ("zero_pad", "pad", "zeropadding2d", "padding")
    family = "reshape"
    summary = "zero padding"
    shorthand = "padding"
    attrs = {"padding": Attr("padding", 1, aliases=("pad", "p"))}

    def _pads(self, layer: Layer) -> list[tuple[int, int]]:
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


@register
class Upsample(Op):
    name = "upsample"
    aliases = ("upsampling2d", "upsampling", "interpolate", "resize")
    family = "reshape"
    summary = "upsampling by an integer factor (nearest or bilinear)"
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

    def windows(self, layer: Layer) -> str:
        return UNDEFINED

    def describe(self, layer: Layer) -> str:
        return f"×{layer.attrs['scale']} {layer.attrs['mode']}"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.upsample(xs[0], layer.per_axis("scale"), layer.attrs["mode"])


@register
class Identity(Op):
    name = "identity"
    aliases = ("noop", "passthrough")
    family = "reshape"
    summary = "passes its input through"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return xs[0]
