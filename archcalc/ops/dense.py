"""Fully connected layers and flattening."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archcalc.ops.base import GLOBAL, Array, Attr, Layer, Op, num, out_elements, product, register
from archcalc.shapes import Shape, numel


@register
class Dense(Op):
    name = "dense"
    aliases = ("fc", "linear", "fully_connected", "innerproduct")
    family = "dense"
    summary = "fully connected layer (applied to the last axis)"
    macs_rule = "output elements × input features"
    flops_rule = "2 × MACs + output elements if bias"
    torch_equivalent = "nn.Linear"
    shorthand = "units"
    attrs = {
        "units": Attr("posint", aliases=("out_features", "outputs", "neurons", "filters", "out")),
        "bias": Attr("bool", True, aliases=("use_bias",), doc="learn a bias per unit"),
    }

    def output_shape(self, layer: Layer) -> Shape:
        return (*layer.input[:-1], layer.attrs["units"])

    def weights(self, layer: Layer) -> dict[str, Shape]:
        units = layer.attrs["units"]
        w: dict[str, Shape] = {"kernel": (layer.input[-1], units)}
        if layer.attrs["bias"]:
            w["bias"] = (units,)
        return w

    def macs(self, layer: Layer) -> int:
        # One multiply-accumulate per input feature per output unit (a matrix-vector product).
        return out_elements(layer) * layer.input[-1]

    def flops(self, layer: Layer) -> int:
        return 2 * self.macs(layer) + (out_elements(layer) if layer.attrs["bias"] else 0)

    def windows(self, layer: Layer) -> str | None:
        # On a flat vector every unit sees everything; on a feature map it acts per position.
        return GLOBAL if layer.rank == 0 else None

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        macs = self.macs(layer)
        bias = f" + {num(out_elements(layer))}" if layer.attrs["bias"] else ""
        return [
            *super().explain(layer),
            ("MACs", f"{product(layer.output)} · {layer.input[-1]} = {num(macs)}"),
            ("FLOPs", f"2·{num(macs)}{bias} = {num(self.flops(layer))}"),
        ]

    def describe(self, layer: Layer) -> str:
        return str(layer.attrs["units"])

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        x = xs[0]
        # On a feature map the same matrix acts at every position: fold positions into rows.
        y = kernels.dense(
            x.reshape(-1, x.shape[-1]),
            params["kernel"],
            params["bias"] if layer.attrs["bias"] else None,
        )
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        import numpy as np

        # All-ones weights: every unit computes the same sum, so one unit is enough.
        x = masks[0].max(axis=-1, keepdims=True)
        ones = np.ones((1, 1), dtype=x.dtype)
        y = self.forward(layer, [x], {"kernel": ones, "bias": None})
        return np.broadcast_to(y, (*y.shape[:-1], layer.attrs["units"]))

    def torch_module(self, layer: Layer) -> Any:
        from torch import nn

        from archcalc.ops import torch_modules as tm

        linear = nn.Linear(layer.input[-1], layer.attrs["units"], layer.attrs["bias"])
        return linear if layer.rank == 0 else tm.ChannelsLast(linear)

    def torch_state(self, layer: Layer, params: Mapping[str, Array]) -> dict[str, Array]:
        bias = {"bias": params["bias"]} if layer.attrs["bias"] else {}
        return {"weight": params["kernel"].T, **bias}


@register
class Flatten(Op):
    name = "flatten"
    aliases = ("reshape_flat",)
    family = "reshape"
    summary = "flatten to a vector (H·W·C)"
    # C·H·W order in torch: the oracle permutes the next dense layer's columns
    torch_class, torch_equivalent = "Flatten", "torch.flatten / nn.Flatten"

    def output_shape(self, layer: Layer) -> Shape:
        return (numel(layer.input),)

    def windows(self, layer: Layer) -> str | None:
        return GLOBAL if layer.rank else None

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        return kernels.flatten(xs[0])

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        return [("output", f"{product(layer.input)} = {num(numel(layer.input))}")]
