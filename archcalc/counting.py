"""Counting conventions: how each well-known tool totals a network, op by op.

archcalc's own figures, ``macs`` and ``flops``, mean what docs/counting.md says. Other tools
print a single "FLOPs" or "MACs" number each, and each counts differently: some add the bias,
some batchnorm, some pooling, one counts ReLU twice. A :class:`Convention` gives, for every op
type, a :class:`Rule` over the op's :class:`~archcalc.ops.Layer` view, so that the analysis
reproduces that tool's total exactly and a user can see, layer by layer, why two numbers differ.

A convention states its rule per op family (conv, dense, pool, ...) and a fallback; an op whose
tool behaves otherwise says so in its registry entry, one line in its ``counts`` mapping
(convention name → rule). So a new op counts under every convention with its family's rule.

Each rule gives what one sample costs; the analysis multiplies by the batch like every other
figure. The tools count PyTorch modules, so each rule mirrors what the tool does with the module
an op stands for (its ``torch_equivalent``). Every rule names the file and function of the tool
it mirrors; versions read: fvcore 0.1.5, ptflops 0.7.5, thop 0.1.1 (post2209072238) and
torchinfo 1.8.0.

Pure: no numpy, no I/O. docs/counting.md is generated from the rules by
``python -m archcalc.docs_counting``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from archcalc.shapes import numel

if TYPE_CHECKING:
    from archcalc.ops import Layer, Op

Count = Callable[["Op", "Layer"], int]


@dataclass(frozen=True)
class Rule:
    """How one convention counts one op type."""

    count: Count
    formula: str  # the rule in words, for docs/counting.md
    source: str  # the file/function of the tool that this mirrors
    # What a tool that hooks modules counts when the reference code calls the op as a function
    # (F.relu) instead of a module (a layer's `call: functional`); None: it sees nothing.
    function: Rule | None = None


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str  # the call whose total this reproduces
    summary: str  # one line: what it counts
    default: Callable[[Op], Rule]  # the rule for an op whose entry states no exception
    hooks_modules: bool = True  # False: it traces every operation, functional calls included

    def rule(self, op: Op, call: str = "module") -> Rule:
        """The rule for ``op`` called as a module, or as a function (``call="functional"``)."""
        rule = op.counts.get(self.name) or self.default(op)
        if call == "functional" and self.hooks_modules:
            return rule.function or _UNSEEN
        return rule

    def count(self, op: Op, layer: Layer, call: str = "module") -> int:
        """What this convention counts for one sample through ``layer``."""
        return self.rule(op, call).count(op, layer)


_UNSEEN = Rule(lambda op, layer: 0, "0", "a function call: no module hook sees it")


def by_family(families: Mapping[str, Rule], fallback: Rule) -> Callable[[Op], Rule]:
    return lambda op: families.get(op.family, fallback)


# --- pieces the rules are made of (ops use them for their exceptions) ------------------------


def out_elements(layer: Layer) -> int:
    return numel(layer.output)


def in_elements(layer: Layer) -> int:
    return numel(layer.input)


def bias_adds(layer: Layer) -> int:
    """One add per output element when the layer has a bias."""
    return out_elements(layer) if layer.attrs.get("bias") else 0


def param_count(op: Op, layer: Layer) -> int:
    return sum(numel(shape) for shape in op.weights(layer).values())


def affine(layer: Layer) -> int:
    """2 for a normalisation that scales and shifts, 1 for one that only normalises."""
    return 2 if layer.attrs.get("affine") else 1


def zero(source: str) -> Rule:
    return Rule(lambda op, layer: 0, "0", source)


def macs(source: str) -> Rule:
    return Rule(lambda op, layer: op.macs(layer), "MACs", source)


def macs_and_bias(source: str) -> Rule:
    return Rule(
        lambda op, layer: op.macs(layer) + bias_adds(layer),
        "MACs + output elements if bias",
        source,
    )


# Where the tools' rules live, for the ``source`` of each rule.
FVCORE_HANDLES = "fvcore/nn/jit_handles.py"
PTFLOPS_OPS = "ptflops/pytorch_ops.py"
PTFLOPS_TWICE = ", which pytorch_engine.patch_functional also counts: counted twice"
THOP_HOOKS = "thop/vision/basic_hooks.py"
THOP_ZERO_OPS = zero(f"{THOP_HOOKS} zero_ops (register_hooks in thop/profile.py)")
TORCHINFO_MACS = "torchinfo/layer_info.py LayerInfo.calculate_macs"


def also_as_function(rule: Rule) -> Rule:
    """A rule whose count comes from a patched functional call alone, so it is the same when
    the reference code calls that function directly."""
    return replace(rule, function=rule)


def ptflops_functional(function: str, per: str = "output") -> Rule:
    """ptflops' patched functional alone: one per element (of the input, for pooling)."""
    count = out_elements if per == "output" else in_elements
    rule = Rule(
        lambda op, layer: count(layer),
        f"{per} elements",
        f"{PTFLOPS_OPS} FUNCTIONAL_MAPPING[{function}] (_numel_functional_flops_hook)",
    )
    return also_as_function(rule)


def ptflops_twice(hook: str, function: str, per: str = "output") -> Rule:
    """ptflops' module hook plus its patched functional, both counting each element; the
    functional alone when the op is called as a function."""
    count = out_elements if per == "output" else in_elements
    return Rule(
        lambda op, layer: 2 * count(layer),
        f"2 × {per} elements",
        f"{PTFLOPS_OPS} {hook}; forward calls {function}{PTFLOPS_TWICE}",
        ptflops_functional(function, per),
    )


# --- archcalc ---------------------------------------------------------------------------------

_OWN_MACS = Rule(lambda op, layer: op.macs(layer), "the op's MACs", "Op.macs in archcalc/ops")
ARCHCALC = Convention(
    "archcalc",
    "archcalc summarize (the `macs` figure)",
    "multiply-accumulates of conv, transposed conv and dense layers, bias excluded "
    "(docs/counting.md)",
    lambda op: _OWN_MACS,
    hooks_modules=False,
)

FVCORE = Convention(
    "fvcore",
    "fvcore.nn.FlopCountAnalysis(model.eval(), x).total()",
    "one fused multiply-add is one flop; adds batchnorm, 2-D adaptive average pooling and "
    "2-D upsampling; bias, activations, max/average pooling and adds are skipped",
    by_family(
        {
            "conv": macs(
                f"{FVCORE_HANDLES} conv_flop_jit → conv_flop_count: batch·∏w_shape·∏out spatial"
            ),
            "dense": macs(
                f"{FVCORE_HANDLES} linear_flop_jit: ∏input shape · out_features, no bias"
            ),
        },
        zero("no handle in fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS: skipped"),
    ),
    hooks_modules=False,  # it traces the model: F.relu is the same aten op as nn.ReLU
)

PTFLOPS = Convention(
    "ptflops",
    "ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False) (backend 'pytorch')",
    "MACs plus bias, batchnorm, upsampling and one per element of ReLU-like activations, "
    "softmax and pooling inputs; ReLU, GELU and pooling are counted twice (module hook and "
    "patched functional)",
    by_family(
        {
            "conv": macs_and_bias(f"{PTFLOPS_OPS} conv_flops_counter_hook"),
            "dense": macs_and_bias(f"{PTFLOPS_OPS} linear_flops_counter_hook"),
            "pool": ptflops_twice("pool_flops_counter_hook", "its pooling function", "input"),
        },
        zero(
            f"no hook in {PTFLOPS_OPS} MODULES_MAPPING and no patched functional call "
            "(`a + b` is not torch.add): zero"
        ),
    ),
)

THOP = Convention(
    "thop",
    "thop.profile(model, inputs=(x,))[0]",
    "MACs without bias; 4 per batchnorm element; average pooling and softmax; "
    "activations and max pooling are zero",
    by_family(
        {
            "conv": macs(
                f"{THOP_HOOKS} count_convNd → calc_func.calculate_conv2d_flops: "
                "∏output·(C_in/groups)·∏kernel"
            ),
            "dense": macs(f"{THOP_HOOKS} count_linear: in_features × output elements"),
        },
        zero("no hook in thop/profile.py register_hooks: zero"),
    ),
)

_TI_CONV = Rule(
    lambda op, layer: param_count(op, layer) * numel(layer.output[:-1]),
    "parameters × output positions",
    f"{TORCHINFO_MACS}: weight and bias of a Conv class × ∏(batch and output spatial sizes)",
)
_TI_OTHER = Rule(
    param_count,
    "parameters",
    f"{TORCHINFO_MACS}: weight and bias of any other layer × batch size",
)
_TI_NONE = zero(f"{TORCHINFO_MACS}: a layer without parameters counts nothing")
TORCHINFO = Convention(
    "torchinfo",
    'torchinfo.summary(model, input_size=(1, C, H, W)).total_mult_adds ("Total mult-adds")',
    "parameters × output positions for convolutions, parameters once for other layers "
    "(bias and batchnorm scale/shift included); layers without parameters are zero",
    # torchinfo decides by class name: only Conv classes scale by the output positions.
    lambda op: _TI_CONV if op.family == "conv" else _TI_OTHER if op.learns else _TI_NONE,
)

CONVENTIONS: dict[str, Convention] = {
    c.name: c for c in (ARCHCALC, FVCORE, PTFLOPS, THOP, TORCHINFO)
}
DEFAULT = ARCHCALC.name


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
