"""Normalisation and regularisation: batchnorm, local response normalisation, dropout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archcalc.counting import (
    FVCORE_HANDLES,
    PTFLOPS_OPS,
    THOP_HOOKS,
    THOP_ZERO_OPS,
    Rule,
    affine,
    also_as_function,
    in_elements,
)
from archcalc.ops.base import (
    Array,
    Attr,
    Layer,
    Op,
    OpError,
    on_one_channel,
    out_elements,
    register,
)
from archcalc.shapes import Shape, numel


class _Normalisation(Op):
    family = "norm"

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        return batch * out_elements(layer) * itemsize  # one output-sized temporary


@register
class BatchNorm(_Normalisation):
    name = "batchnorm"
    aliases = ("bn", "batch_norm", "batchnorm1d", "batchnorm2d", "batchnormalization")
    channelwise = True
    is_channel_affine = True
    summary = "batch normalisation (inference form)"
    flops_rule = "2 × elements (statistics folded into one scale and one shift)"
    torch_equivalent = "nn.BatchNorm1d/2d/3d in eval mode"
    counts = {
        "fvcore": Rule(
            lambda op, layer: affine(layer) * in_elements(layer),
            "2 × input elements (1 without affine)",
            f"{FVCORE_HANDLES} batchnorm_flop_jit, eval mode: input numel × (2 if affine else 1)",
        ),
        "ptflops": Rule(
            lambda op, layer: affine(layer) * in_elements(layer),
            "2 × input elements (1 without affine)",
            f"{PTFLOPS_OPS} bn_flops_counter_hook",
        ),
        "thop": Rule(
            lambda op, layer: 2 * affine(layer) * in_elements(layer),
            "4 × input elements (2 without affine)",
            f"{THOP_HOOKS} count_normalization: calculate_norm (2 × numel), doubled if affine",
        ),
    }
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
        return self._run(layer, xs[0], params, None)

    def forward_inplace(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return self._run(layer, xs[0], params, xs[0])

    def _run(self, layer: Layer, x: Array, params: dict[str, Array], out: Array | None) -> Array:
        from archcalc.backend import kernels

        gamma, beta, mean, var = self._statistics(layer, params, x.dtype)
        return kernels.batchnorm(x, gamma, beta, mean, var, layer.attrs["eps"], out=out)

    def channel_affine(self, layer: Layer, params: dict[str, Array], dtype: Any) -> Any:
        from archcalc.backend import kernels

        gamma, beta, mean, var = self._statistics(layer, params, dtype)
        return kernels.batchnorm_affine(gamma, beta, mean, var, layer.attrs["eps"], dtype)

    def _statistics(self, layer: Layer, params: dict[str, Array], dtype: Any) -> tuple[Any, ...]:
        if layer.attrs["affine"]:
            gamma, beta = params["gamma"], params["beta"]
        else:
            gamma, beta = dtype.type(1), dtype.type(0)
        return gamma, beta, params["running_mean"], params["running_var"]

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # Inference batch norm is a scale and a shift per element: each output depends on its
        # own input element only (running the forward would make the shift look like a
        # dependency on everything).
        return masks[0]

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        a = layer.attrs
        return tm.by_rank(
            "BatchNorm", layer.rank, layer.input[-1], a["eps"], a["momentum"], a["affine"]
        )

    def torch_state(self, layer: Layer, params: Mapping[str, Array]) -> dict[str, Array]:
        names = {"gamma": "weight", "beta": "bias"}
        return {names.get(k, k): v for k, v in params.items()}


@register
class LRN(_Normalisation):
    name = "lrn"
    aliases = ("local_response_norm", "localresponsenorm", "norm")
    summary = "local response normalisation across channels (AlexNet)"
    flops_rule = "(2·size + 3) × elements (squares, window sum, scale, add k, power, divide)"
    torch_class = "LocalResponseNorm"
    counts = {
        "ptflops": also_as_function(
            Rule(
                lambda op, layer: (
                    3 * in_elements(layer)
                    + (layer.input[-1] + layer.attrs["size"] - 1) * numel(layer.input[:-1])
                ),
                "3 × input elements + (C + size − 1) × spatial positions",
                "F.local_response_norm's patched calls: Tensor.mul twice and Tensor.add once "
                f"({PTFLOPS_OPS} _elementwise_tensor_flops_hook), avg_pool over the channel-padded "
                "squares",
            )
        ),
    }
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
    torch_class = "Dropout"
    counts = {"thop": THOP_ZERO_OPS}
    shorthand = "rate"
    attrs = {"rate": Attr("prob", 0.5, aliases=("p",))}

    def describe(self, layer: Layer) -> str:
        return f"p={layer.attrs['rate']:g}"

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        return xs[0]  # inference: dropout passes everything through (inverted dropout)


def _is(value: float | tuple[float, ...], constant: float) -> bool:
    values = value if isinstance(value, tuple) else (value,)
    return all(v == constant for v in values)


def _short(value: float | tuple[float, ...]) -> str:
    if isinstance(value, tuple):  # one per channel: the values are in the spec
        return f"[{len(value)} values]"
    return f"{value:.4g}"


@register
class Affine(_Normalisation):
    """x · scale + shift with the values in the spec: a model's input normalisation
    ((x − mean) / std, exported as Sub and Div by constants), Keras' Rescaling and
    Normalization layers."""

    name = "affine"
    aliases = ("scale_shift", "rescaling", "rescale", "normalization")
    channelwise = True
    summary = "x · scale + shift, one value or one per channel (input normalisation, Rescaling)"
    flops_rule = "1 per element for a scale other than 1, 1 for a shift other than 0"
    torch_equivalent = "`x * scale + shift` (tensor arithmetic)"
    attrs = {
        "scale": Attr("numbers", 1.0, doc="the factor"),
        "shift": Attr("numbers", 0.0, aliases=("offset",), doc="added after scaling"),
    }

    def output_shape(self, layer: Layer) -> Shape:
        channels = layer.input[-1]
        for key in ("scale", "shift"):
            value = layer.attrs[key]
            if isinstance(value, tuple) and len(value) not in (1, channels):
                raise OpError(
                    f"{key} has {len(value)} values but the input has {channels} channels",
                    f"give one {key} for all channels, or one per channel",
                    attr=key,
                )
        return layer.input

    def flops(self, layer: Layer) -> int:
        parts = (not _is(layer.attrs["scale"], 1.0)) + (not _is(layer.attrs["shift"], 0.0))
        return parts * out_elements(layer)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        import numpy as np

        x = xs[0]
        scale = np.asarray(layer.attrs["scale"], dtype=x.dtype)
        shift = np.asarray(layer.attrs["shift"], dtype=x.dtype)
        return x * scale + shift

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        return masks[0]  # element-wise; the shift would make unmarked outputs non-zero

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Affine(layer.attrs["scale"], layer.attrs["shift"])

    def describe(self, layer: Layer) -> str:
        parts = []
        if not _is(layer.attrs["scale"], 1.0):
            parts.append(f"×{_short(layer.attrs['scale'])}")
        shift = layer.attrs["shift"]
        if not _is(shift, 0.0):
            negative = not isinstance(shift, tuple) and shift < 0
            parts.append(f"−{_short(-shift)}" if negative else f"+{_short(shift)}")
        return " ".join(parts)
