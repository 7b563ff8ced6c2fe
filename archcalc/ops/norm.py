"""Normalisation and regularisation: batchnorm, local response normalisation, dropout."""

from __future__ import annotations

from archcalc.ops.base import Array, Attr, Layer, Op, on_one_channel, out_elements, register
from archcalc.shapes import Shape


@register
class BatchNorm(Op):
    name = "batchnorm"
    aliases = ("bn", "batch_norm", "batchnorm1d", "batchnorm2d", "batchnormalization")
    family = "norm"
    channelwise = True
    summary = "batch normalisation (inference form)"
    flops_rule = "2 × elements (statistics folded into one scale and one shift)"
    attrs = {
        "eps": Attr("float", 1e-5, aliases=("epsilon",)),
        "momentum": Attr("float", 0.1),
        "affine": Attr("bool", True, aliases=("scale",), doc="learn a scale and shift per channel"),
    }

    def weights(self, layer: Layer) -> dict[str, Shape]:
        c = layer.input[-1]
        return {"gamma": (c,), "beta": (c,)} if layer.attrs["affine"] else {}

    def buffers(self, layer: Layer) -> dict[str, Shape]:
        c = layer.input[-1]
        return {"running_mean": (c,), "running_var": (c,)}

    def flops(self, layer: Layer) -> int:
        # At inference the statistics fold into one scale and one shift per element.
        return 2 * out_elements(layer)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        x = xs[0]
        if layer.attrs["affine"]:
            gamma, beta = params["gamma"], params["beta"]
        else:
            gamma, beta = x.dtype.type(1), x.dtype.type(0)
        return kernels.batchnorm(
            x, gamma, beta, params["running_mean"], params["running_var"], layer.attrs["eps"]
        )

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # Inference batch norm is a scale and a shift per element: each output depends on its
        # own input element only (running the forward would make the shift look like a
        # dependency on everything).
        return masks[0]


@register
class LRN(Op):
    name = "lrn"
    aliases = ("local_response_norm", "localresponsenorm", "norm")
    family = "norm"
    summary = "local response normalisation across channels (AlexNet)"
    flops_rule = "(2·size + 3) × elements (squares, window sum, scale, add k, power, divide)"
    shorthand = "size"
    attrs = {
        "size": Attr("posint", 5, aliases=("n", "depth_radius")),
        "alpha": Attr("float", 1e-4),
        "beta": Attr("float", 0.75),
        "k": Attr("float", 2.0, aliases=("bias",)),
    }

    def flops(self, layer: Layer) -> int:
        # Per element: `size` squares and `size - 1` adds over the channel window, then scale by
        # alpha/size, add k, raise to beta and divide: 2·size + 3.
        return out_elements(layer) * (2 * layer.attrs["size"] + 3)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        a = layer.attrs
        return kernels.lrn(xs[0], a["size"], a["alpha"], a["beta"], a["k"])

    def describe(self, layer: Layer) -> str:
        return f"n={layer.attrs['size']}"

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        import numpy as np

        # Each output depends on the channels c − size//2 .. c + (size − 1)//2 at its own
        # position (through the normaliser, even where its own input is zero): a mask the same
        # on every channel comes out as it went in; otherwise take the maximum over that window.
        m = masks[0]
        if on_one_channel(masks) is not None:
            return m
        size = layer.attrs["size"]
        padded = np.pad(m, [(0, 0)] * (m.ndim - 1) + [(size // 2, (size - 1) // 2)])
        return np.maximum.reduce([padded[..., t : t + m.shape[-1]] for t in range(size)])

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        # Channel c is normalised over channels c − size//2 .. c + (size − 1)//2.
        if channels is None:
            return None
        size, depth = layer.attrs["size"], layer.input[-1]
        return frozenset(
            i
            for c in channels
            for i in range(max(0, c - size // 2), min(depth, c + (size - 1) // 2 + 1))
        )


@register
class Dropout(Op):
    name = "dropout"
    aliases = ("drop",)
    family = "regularization"
    channelwise = True
    summary = "dropout (identity at inference)"
    shorthand = "rate"
    attrs = {"rate": Attr("prob", 0.5, aliases=("p",))}

    def describe(self, layer: Layer) -> str:
        return f"p={layer.attrs['rate']:g}"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return xs[0]  # inference: dropout passes everything through (inverted dropout)
