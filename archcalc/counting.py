"""Counting conventions: how each well-known tool totals a network, op by op.

archcalc's own figures, ``macs`` and ``flops``, mean what DESIGN.md says. Other tools print a
single "FLOPs" or "MACs" number each, and each counts differently: some add the bias, some
batchnorm, some pooling, one counts ReLU twice. A :class:`Convention` is one table mapping an op
type (its registry name) to a :class:`Rule` over the op's :class:`~archcalc.ops.Layer` view, so
that the analysis reproduces that tool's total exactly and a user can see, layer by layer, why
two numbers differ.

Each rule gives what one sample costs; the analysis multiplies by the batch like every other
figure. The PyTorch module a spec's op corresponds to (``conv`` is ``nn.Conv2d``, ``add`` is
``out += identity`` as torchvision writes it, ``global_avgpool`` is
``nn.AdaptiveAvgPool2d(1)``, ...) is listed in :data:`TORCH_EQUIVALENT`: the tools count
PyTorch modules, so each rule mirrors what the tool does with that module. Every rule names the
file and function of the tool it mirrors; versions read: fvcore 0.1.5, ptflops 0.7.5, thop
0.1.1 (post2209072238) and torchinfo 1.8.0.

Pure: no numpy, no I/O. docs/counting.md is generated from these tables by
``python -m archcalc.docs_counting``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from archcalc.ops import Layer, Op
from archcalc.shapes import numel

Count = Callable[[Op, Layer], int]


@dataclass(frozen=True)
class Rule:
    """How one convention counts one op type."""

    count: Count
    formula: str  # the rule in words, for docs/counting.md
    source: str  # the file/function of the tool that this mirrors


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str  # the call whose total this reproduces
    summary: str  # one line: what it counts
    rules: Mapping[str, Rule]  # registry name → rule
    fallback: Rule | None = None  # for op types the table does not list

    def rule(self, op: Op) -> Rule:
        rule = self.rules.get(op.name, self.fallback)
        if rule is None:
            from archcalc.diagnostics import UsageError

            raise UsageError(
                f"the {self.name} counting convention has no rule for '{op.name}' layers",
                "use another --count, or add the rule to archcalc/counting.py",
            )
        return rule

    def count(self, op: Op, layer: Layer) -> int:
        """What this convention counts for one sample through ``layer``."""
        return self.rule(op).count(op, layer)


# --- pieces the rules are made of ------------------------------------------------------------


def _out(layer: Layer) -> int:
    return numel(layer.output)


def _in(layer: Layer) -> int:
    return numel(layer.input)


def _bias(layer: Layer) -> int:
    """One add per output element when the layer has a bias."""
    return _out(layer) if layer.attrs.get("bias") else 0


def _params(op: Op, layer: Layer) -> int:
    return sum(numel(shape) for shape in op.weights(layer).values())


def _affine(layer: Layer) -> int:
    return 2 if layer.attrs.get("affine") else 1


def _zero(source: str) -> Rule:
    return Rule(lambda op, layer: 0, "0", source)


def _macs(source: str) -> Rule:
    return Rule(lambda op, layer: op.macs(layer), "MACs", source)


def _zeros(names: str, source: str) -> dict[str, Rule]:
    """Rules counting nothing for the space-separated op types ``names``, all for one reason."""
    return dict.fromkeys(names.split(), _zero(source))


# --- archcalc ---------------------------------------------------------------------------------

ARCHCALC = Convention(
    "archcalc",
    "archcalc summarize (the `macs` figure)",
    "multiply-accumulates of conv, transposed conv and dense layers, bias excluded (DESIGN.md)",
    {},
    fallback=Rule(lambda op, layer: op.macs(layer), "the op's MACs", "Op.macs in archcalc/ops"),
)

# --- fvcore -----------------------------------------------------------------------------------

_FV = "fvcore/nn/jit_handles.py"
FVCORE = Convention(
    "fvcore",
    "fvcore.nn.FlopCountAnalysis(model.eval(), x).total()",
    "one fused multiply-add is one flop; adds batchnorm, 2-D adaptive average pooling and "
    "2-D upsampling; bias, activations, max/average pooling and adds are skipped",
    {
        **{
            "conv": _macs(f"{_FV} conv_flop_jit → conv_flop_count: batch·∏w_shape·∏out spatial"),
            "conv_transpose": _macs(
                f"{_FV} conv_flop_count(transposed=True): batch·∏w_shape·∏input spatial"
            ),
            "dense": _macs(f"{_FV} linear_flop_jit: ∏input shape · out_features, no bias"),
            "batchnorm": Rule(
                lambda op, layer: _affine(layer) * _in(layer),
                "2 × input elements (1 without affine)",
                f"{_FV} batchnorm_flop_jit, eval mode: input numel × (2 if affine else 1)",
            ),
            "adaptive_avgpool": Rule(
                lambda op, layer: _in(layer) if layer.rank == 2 else 0,
                "input elements (2-D only)",
                "fvcore/nn/flop_count.py: aten::adaptive_avg_pool2d → elementwise_flop_counter(1, 0);"
                " the 1-D and 3-D ops have no handle",
            ),
            "global_avgpool": Rule(
                lambda op, layer: _in(layer) if layer.rank == 2 else 0,
                "input elements (2-D only)",
                "as adaptive_avgpool: nn.AdaptiveAvgPool2d(1) traces to aten::adaptive_avg_pool2d",
            ),
            "upsample": Rule(
                lambda op, layer: (
                    0
                    if layer.rank != 2
                    else _out(layer) * (1 if layer.attrs["mode"] == "nearest" else 4)
                ),
                "2-D only: output elements (nearest), 4 × output elements (bilinear)",
                "fvcore/nn/flop_count.py: aten::upsample_nearest2d → elementwise_flop_counter(0, 1),"
                " aten::upsample_bilinear2d → (0, 4)",
            ),
        },
        **_zeros(
            "maxpool avgpool global_maxpool flatten lrn dropout relu relu6 leaky_relu sigmoid "
            "tanh gelu silu softmax add concat zeropad identity channel_slice hardsigmoid "
            "hardswish clip mul",
            "no handle in fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS: skipped",
        ),
    },
)

# --- ptflops ----------------------------------------------------------------------------------

_PT = "ptflops/pytorch_ops.py"
_TWICE = ", which pytorch_engine.patch_functional also counts: counted twice"
PTFLOPS = Convention(
    "ptflops",
    "ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False) (backend 'pytorch')",
    "MACs plus bias, batchnorm, upsampling and one per element of ReLU-like activations, "
    "softmax and pooling inputs; ReLU, GELU and pooling are counted twice (module hook and "
    "patched functional)",
    {
        **{
            "conv": Rule(
                lambda op, layer: op.macs(layer) + _bias(layer),
                "MACs + output elements if bias",
                f"{_PT} conv_flops_counter_hook",
            ),
            "conv_transpose": Rule(
                lambda op, layer: op.macs(layer) + _bias(layer),
                "MACs + output elements if bias",
                f"{_PT} conv_flops_counter_hook(transpose=True): per input position",
            ),
            "dense": Rule(
                lambda op, layer: op.macs(layer) + _bias(layer),
                "MACs + output elements if bias",
                f"{_PT} linear_flops_counter_hook",
            ),
            "batchnorm": Rule(
                lambda op, layer: _affine(layer) * _in(layer),
                "2 × input elements (1 without affine)",
                f"{_PT} bn_flops_counter_hook",
            ),
            "relu": Rule(
                lambda op, layer: 2 * _out(layer),
                "2 × output elements",
                f"{_PT} relu_flops_counter_hook; forward calls F.relu{_TWICE}",
            ),
            "gelu": Rule(
                lambda op, layer: 2 * _out(layer),
                "2 × output elements",
                f"{_PT} relu_flops_counter_hook; forward calls F.gelu{_TWICE}",
            ),
            "relu6": Rule(
                lambda op, layer: _out(layer),
                "output elements",
                f"{_PT} relu_flops_counter_hook (nn.ReLU6 calls F.hardtanh, which is not patched)",
            ),
            "leaky_relu": Rule(
                lambda op, layer: _out(layer),
                "output elements",
                f"{_PT} relu_flops_counter_hook (F.leaky_relu is not patched)",
            ),
            "silu": Rule(
                lambda op, layer: _out(layer),
                "output elements",
                f"{_PT} FUNCTIONAL_MAPPING[F.silu] only (nn.SiLU has no module hook)",
            ),
            "softmax": Rule(
                lambda op, layer: _in(layer),
                "input elements",
                f"{_PT} FUNCTIONAL_MAPPING[F.softmax] only (nn.Softmax has no module hook)",
            ),
            **{
                name: Rule(
                    lambda op, layer: 2 * _in(layer),
                    "2 × input elements",
                    f"{_PT} pool_flops_counter_hook; forward calls F.{fn}{_TWICE}",
                )
                for name, fn in (
                    ("maxpool", "max_pool2d"),
                    ("avgpool", "avg_pool2d"),
                    ("adaptive_avgpool", "adaptive_avg_pool2d"),
                    ("global_avgpool", "adaptive_avg_pool2d"),
                    ("global_maxpool", "adaptive_max_pool2d"),
                )
            },
            "lrn": Rule(
                lambda op, layer: (
                    3 * _in(layer)
                    + (layer.input[-1] + layer.attrs["size"] - 1) * numel(layer.input[:-1])
                ),
                "3 × input elements + (C + size − 1) × spatial positions",
                "F.local_response_norm's patched calls: Tensor.mul twice and Tensor.add once "
                f"({_PT} _elementwise_tensor_flops_hook), avg_pool over the channel-padded squares",
            ),
            "upsample": Rule(
                lambda op, layer: 2 * _out(layer),
                "2 × output elements",
                f"{_PT} upsample_flops_counter_hook + F.interpolate "
                "(_interpolate_functional_flops_hook): counted twice",
            ),
        },
        **_zeros(
            "dropout sigmoid tanh add concat flatten identity zeropad channel_slice hardsigmoid "
            "hardswish clip mul",
            f"no hook in {_PT} MODULES_MAPPING and no patched functional call "
            "(`a + b` is not torch.add): zero",
        ),
    },
)

# --- thop -------------------------------------------------------------------------------------

_TH = "thop/vision/basic_hooks.py"
_THOP_UPSAMPLE = {1: 5, 2: 11}  # linear, bilinear; trilinear is not among the modes thop counts


def _thop_adaptive(op: Op, layer: Layer) -> int:
    # thop divides the sizes as doubles; the same IEEE arithmetic gives the same truncation.
    kernel = math.prod(n / m for n, m in zip(layer.input[:-1], layer.output[:-1]))
    return int((kernel + 1) * _out(layer))


THOP = Convention(
    "thop",
    "thop.profile(model, inputs=(x,))[0]",
    "MACs without bias; 4 per batchnorm element; average pooling and softmax; "
    "activations and max pooling are zero",
    {
        **{
            "conv": _macs(
                f"{_TH} count_convNd → calc_func.calculate_conv2d_flops: "
                "∏output·(C_in/groups)·∏kernel"
            ),
            "conv_transpose": Rule(
                lambda op, layer: (
                    _out(layer)
                    * (layer.input[-1] // layer.attrs["groups"])
                    * numel(layer.per_axis("kernel"))
                ),
                "output elements × (C_in / groups) × kernel size",
                f"{_TH} count_convNd (the conv formula, over the transposed conv's output)",
            ),
            "dense": _macs(f"{_TH} count_linear: in_features × output elements"),
            "batchnorm": Rule(
                lambda op, layer: 2 * _affine(layer) * _in(layer),
                "4 × input elements (2 without affine)",
                f"{_TH} count_normalization: calculate_norm (2 × numel), doubled if affine",
            ),
            "avgpool": Rule(
                lambda op, layer: _out(layer),
                "output elements",
                f"{_TH} count_avgpool → calculate_avgpool(y.numel())",
            ),
            "adaptive_avgpool": Rule(
                _thop_adaptive,
                "⌊(∏ input/output sizes + 1) × output elements⌋",
                f"{_TH} count_adap_avgpool → calculate_adaptive_avg",
            ),
            "global_avgpool": Rule(
                lambda op, layer: (numel(layer.input[:-1]) + 1) * layer.input[-1],
                "(H·W + 1) × C",
                f"{_TH} count_adap_avgpool, as nn.AdaptiveAvgPool2d(1)",
            ),
            "softmax": Rule(
                lambda op, layer: 3 * _in(layer) - _in(layer) // layer.input[-1],
                "(3C − 1) per vector of C channels",
                f"{_TH} count_softmax → calculate_softmax",
            ),
            "upsample": Rule(
                lambda op, layer: (
                    _out(layer)
                    * (1 if layer.attrs["mode"] == "nearest" else _THOP_UPSAMPLE.get(layer.rank, 0))
                ),
                "output elements × 1 (nearest), 5 (linear), 11 (bilinear), 0 (trilinear)",
                f"{_TH} count_upsample → calc_func.calculate_upsample",
            ),
        },
        **_zeros(
            "relu relu6 maxpool global_maxpool dropout zeropad",
            f"{_TH} zero_ops (register_hooks in thop/profile.py)",
        ),
        **_zeros("leaky_relu", f"{_TH} count_relu → calculate_relu_flops, which returns 0"),
        **_zeros(
            "lrn gelu sigmoid silu tanh add concat flatten identity channel_slice hardsigmoid "
            "hardswish clip mul",
            "no hook in thop/profile.py register_hooks: zero",
        ),
    },
)

# --- torchinfo --------------------------------------------------------------------------------

_TI = "torchinfo/layer_info.py LayerInfo.calculate_macs"
_TI_CONV = Rule(
    lambda op, layer: _params(op, layer) * numel(layer.output[:-1]),
    "parameters × output positions",
    f"{_TI}: weight and bias of a Conv class × ∏(batch and output spatial sizes)",
)
_TI_OTHER = Rule(
    lambda op, layer: _params(op, layer),
    "parameters",
    f"{_TI}: weight and bias of any other layer × batch size",
)
TORCHINFO = Convention(
    "torchinfo",
    'torchinfo.summary(model, input_size=(1, C, H, W)).total_mult_adds ("Total mult-adds")',
    "parameters × output positions for convolutions, parameters once for other layers "
    "(bias and batchnorm scale/shift included); layers without parameters are zero",
    {
        "conv": _TI_CONV,
        "conv_transpose": _TI_CONV,
        "dense": _TI_OTHER,
        "batchnorm": _TI_OTHER,
        **_zeros(
            "maxpool avgpool adaptive_avgpool global_avgpool global_maxpool flatten lrn dropout "
            "relu relu6 leaky_relu sigmoid tanh gelu silu softmax add concat zeropad upsample "
            "identity channel_slice hardsigmoid hardswish clip mul",
            f"{_TI}: a layer without parameters counts nothing",
        ),
    },
    fallback=_TI_OTHER,  # torchinfo decides by class name: only Conv classes scale by positions
)

CONVENTIONS: dict[str, Convention] = {
    c.name: c for c in (ARCHCALC, FVCORE, PTFLOPS, THOP, TORCHINFO)
}
DEFAULT = ARCHCALC.name

# The PyTorch code each op stands for when a tool's rule is applied to it.
TORCH_EQUIVALENT: dict[str, str] = {
    "conv": "nn.Conv1d/2d/3d",
    "conv_transpose": "nn.ConvTranspose1d/2d/3d",
    "maxpool": "nn.MaxPool1d/2d/3d",
    "avgpool": "nn.AvgPool1d/2d/3d",
    "adaptive_avgpool": "nn.AdaptiveAvgPool1d/2d/3d",
    "global_avgpool": "nn.AdaptiveAvgPool2d(1)",
    "global_maxpool": "nn.AdaptiveMaxPool2d(1)",
    "dense": "nn.Linear",
    "flatten": "torch.flatten / nn.Flatten",
    "batchnorm": "nn.BatchNorm1d/2d/3d in eval mode",
    "lrn": "nn.LocalResponseNorm",
    "dropout": "nn.Dropout",
    "relu": "nn.ReLU",
    "relu6": "nn.ReLU6",
    "leaky_relu": "nn.LeakyReLU",
    "sigmoid": "nn.Sigmoid",
    "tanh": "nn.Tanh",
    "gelu": "nn.GELU",
    "silu": "nn.SiLU",
    "softmax": "nn.Softmax(dim=1)",
    "hardsigmoid": "nn.Hardsigmoid",
    "hardswish": "nn.Hardswish",
    "clip": "torch.clamp",
    "mul": "`x * gate` (squeeze-and-excitation)",
    "add": "`out += identity` / `a + b`",
    "concat": "torch.cat",
    "zeropad": "nn.ZeroPad2d",
    "upsample": "nn.Upsample(scale_factor, mode)",
    "identity": "nn.Identity",
    "channel_slice": "x[:, channels] (indexing)",
}


def convention(name: str) -> Convention:
    """The convention called ``name``; a UsageError naming the choices otherwise."""
    from archcalc.diagnostics import UsageError, did_you_mean

    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown counting convention '{name}'",
            did_you_mean(name, list(CONVENTIONS)) or f"choose one of {', '.join(CONVENTIONS)}",
        ) from None
