"""Element-wise activations and softmax.

FLOPs count every arithmetic operation per element, with exp, erf and tanh as one each:
relu max(x, 0) = 1; relu6 = 2 comparisons; leaky_relu = comparison + multiply = 2;
sigmoid 1/(1+exp(−x)) = negate, exp, add, divide = 4; tanh (e^2x − 1)/(e^2x + 1) = 5;
gelu x·½·(1 + erf(x/√2)) = 5; silu x·sigmoid(x) = 5; softmax = exp, sum, divide ≈ 3 per element;
hardsigmoid min(max(a·x + b, 0), 1) = 4; hardswish x·hardsigmoid(x) = 5; clip = 1 per bound.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archcalc.counting import (
    PTFLOPS_OPS,
    THOP_HOOKS,
    THOP_ZERO_OPS,
    Rule,
    also_as_function,
    in_elements,
    ptflops_functional,
    ptflops_twice,
    zero,
)
from archcalc.ops.base import Array, Attr, Layer, Op, out_elements, register


class _Activation(Op):
    family = "activation"
    channelwise = True
    cost: ClassVar[int]
    kernel: ClassVar[str]  # the function of archcalc/backend/kernels.py that computes it
    scratch: ClassVar[int] = 6  # output-sized temporaries the kernel holds (float64 on the way)
    inplace: ClassVar[bool] = False  # the kernel takes out= (and may write over its input)

    def flops(self, layer: Layer) -> int:
        return self.cost * out_elements(layer)

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        from archcalc.backend import kernels

        # Extra attributes go to the kernel as keywords.
        result: Array = getattr(kernels, self.kernel)(xs[0], **layer.attrs)
        return result

    def forward_inplace(
        self, layer: Layer, xs: list[Array], params: dict[str, Array]
    ) -> Array | None:
        if not self.inplace:
            return None
        from archcalc.backend import kernels

        result: Array = getattr(kernels, self.kernel)(xs[0], out=xs[0], **layer.attrs)
        return result

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        return self.scratch * batch * out_elements(layer) * itemsize

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        return masks[0]  # element-wise: each output depends on its own input element only


@register
class ReLU(_Activation):
    name, aliases, cost, summary = "relu", ("rectifier",), 1, "max(x, 0)"
    flops_rule = "1 per element: max(x, 0)"
    torch_class = "ReLU"
    counts = {
        "ptflops": ptflops_twice("relu_flops_counter_hook", "F.relu"),
        "thop": THOP_ZERO_OPS,
    }
    kernel = "relu"
    scratch = 0  # allocates only its output
    inplace = True


@register
class ReLU6(_Activation):
    name, aliases, cost, summary = "relu6", (), 2, "min(max(x, 0), 6)"
    flops_rule = "2 per element: two comparisons"
    torch_class = "ReLU6"
    counts = {
        "ptflops": Rule(
            lambda op, layer: out_elements(layer),
            "output elements",
            f"{PTFLOPS_OPS} relu_flops_counter_hook (nn.ReLU6 calls F.hardtanh, which is not "
            "patched)",
            ptflops_functional("F.relu6"),
        ),
        "thop": THOP_ZERO_OPS,
    }
    kernel = "relu6"
    scratch = 0  # allocates only its output
    inplace = True


@register
class LeakyReLU(_Activation):
    name, aliases, cost, summary = (
        "leaky_relu",
        ("leakyrelu", "lrelu"),
        2,
        "x if x > 0 else slope·x",
    )
    flops_rule = "2 per element: a comparison and a multiply"
    torch_class = "LeakyReLU"
    counts = {
        "ptflops": Rule(
            lambda op, layer: out_elements(layer),
            "output elements",
            f"{PTFLOPS_OPS} relu_flops_counter_hook (F.leaky_relu is not patched)",
        ),
        "thop": zero(f"{THOP_HOOKS} count_relu → calculate_relu_flops, which returns 0"),
    }
    kernel = "leaky_relu"
    shorthand = "slope"
    attrs = {"slope": Attr("float", 0.01, aliases=("negative_slope", "alpha"))}


@register
class Sigmoid(_Activation):
    name, aliases, cost, summary = "sigmoid", ("logistic",), 4, "1 / (1 + exp(−x))"
    flops_rule = "4 per element: negate, exp, add, divide"
    torch_class = "Sigmoid"
    kernel = "sigmoid"


@register
class Tanh(_Activation):
    name, aliases, cost, summary = "tanh", (), 5, "hyperbolic tangent"
    flops_rule = "5 per element: (e^2x − 1)/(e^2x + 1)"
    torch_class = "Tanh"
    kernel = "tanh"


@register
class GELU(_Activation):
    name, aliases, cost, summary = "gelu", (), 5, "x·Φ(x), exact erf form"
    flops_rule = "5 per element: x·½·(1 + erf(x/√2))"
    torch_class = "GELU"
    counts = {"ptflops": ptflops_twice("relu_flops_counter_hook", "F.gelu")}
    kernel = "gelu"


@register
class SiLU(_Activation):
    name, aliases, cost, summary = "silu", ("swish",), 5, "x·sigmoid(x)"
    flops_rule = "5 per element: x·sigmoid(x)"
    torch_class = "SiLU"
    counts = {
        "ptflops": also_as_function(
            Rule(
                lambda op, layer: out_elements(layer),
                "output elements",
                f"{PTFLOPS_OPS} FUNCTIONAL_MAPPING[F.silu] only (nn.SiLU has no module hook)",
            )
        ),
    }
    kernel = "silu"


@register
class Softmax(_Activation):
    name, aliases, cost, summary = "softmax", (), 3, "exp(x) / Σ exp(x) over channels"
    channelwise = False
    flops_rule = "3 × elements − elements / C: exp, C − 1 adds and C divisions per vector"
    torch_class, torch_equivalent = "Softmax", "nn.Softmax(dim=1)"
    counts = {
        "ptflops": also_as_function(
            Rule(
                lambda op, layer: in_elements(layer),
                "input elements",
                f"{PTFLOPS_OPS} FUNCTIONAL_MAPPING[F.softmax] only (nn.Softmax has no module hook)",
            )
        ),
        "thop": Rule(
            lambda op, layer: 3 * in_elements(layer) - in_elements(layer) // layer.input[-1],
            "(3C − 1) per vector of C channels",
            f"{THOP_HOOKS} count_softmax → calculate_softmax",
        ),
    }
    kernel = "softmax"

    def flops(self, layer: Layer) -> int:
        # exp per element, C − 1 adds and C divisions per vector of C channels.
        return 3 * out_elements(layer) - out_elements(layer) // layer.input[-1]

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        # Every channel's output depends on all channels at its position.
        m = masks[0]
        return m.max(axis=-1, keepdims=True) + 0 * m

    def torch_module(self, layer: Layer) -> Any:
        from torch import nn

        return nn.Softmax(dim=1)


@register
class HardSigmoid(_Activation):
    name, aliases, cost, summary = (
        "hardsigmoid",
        ("hard_sigmoid",),
        4,
        "min(max(alpha·x + beta, 0), 1)",
    )
    flops_rule = "4 per element: multiply, add, two comparisons"
    torch_equivalent = "nn.Hardsigmoid (alpha 1/6, beta 1/2)"
    kernel = "hardsigmoid"
    # PyTorch's and Keras 3's relu6(x + 3)/6; ONNX's own default is alpha 0.2 (Keras 2's too).
    attrs = {"alpha": Attr("float", 1 / 6), "beta": Attr("float", 0.5)}

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.HardSigmoid(layer.attrs["alpha"], layer.attrs["beta"])


@register
class HardSwish(_Activation):
    name, aliases, cost, summary = "hardswish", ("hard_swish",), 5, "x·relu6(x + 3)/6"
    flops_rule = "5 per element: x times the hard sigmoid"
    torch_class = "Hardswish"
    kernel = "hardswish"


@register
class Clip(_Activation):
    name, aliases, cost, summary = "clip", ("clamp",), 2, "min(max(x, low), high)"
    flops_rule = "1 per element per bound: a comparison"
    torch_equivalent = "torch.clamp"
    kernel = "clip"
    attrs = {
        "low": Attr("float", None, aliases=("min",), doc="lower bound (none: unbounded)"),
        "high": Attr("float", None, aliases=("max",), doc="upper bound (none: unbounded)"),
    }

    def flops(self, layer: Layer) -> int:
        bounds = sum(layer.attrs[b] is not None for b in ("low", "high"))
        return bounds * out_elements(layer)

    def torch_module(self, layer: Layer) -> Any:
        from archcalc.ops import torch_modules as tm

        return tm.Clamp(layer.attrs["low"], layer.attrs["high"])
