"""Writes docs/counting.md from the op registry and the counting conventions.

    python -m archcalc.docs_counting > docs/counting.md

Every formula comes from an op's ``macs_rule``/``flops_rule`` or a convention's rule table, and
every total from analysing the bundled specs, so the page cannot drift from the code (a test
compares the committed file with this output).
"""

from __future__ import annotations

from archcalc.counting import CONVENTIONS, DEFAULT, Convention
from archcalc.ops import REGISTRY, Op

_FAMILY_ORDER = ("conv", "dense", "pool", "norm", "regularization", "activation", "merge")


def _ops() -> list[Op]:
    def key(op: Op) -> tuple[int, str]:
        family = op.family
        return (_FAMILY_ORDER.index(family) if family in _FAMILY_ORDER else 99, op.name)

    return sorted(REGISTRY.values(), key=key)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _tools() -> list[Convention]:
    return [c for c in CONVENTIONS.values() if c.name != DEFAULT]


def _formulas() -> list[str]:
    lines = [
        "## archcalc's figures, per layer type",
        "",
        "`macs` counts multiply-accumulates of conv, transposed conv and dense layers, bias "
        "excluded; `flops` counts every floating-point operation at inference: 2 per MAC plus "
        "bias adds, activations, pooling, normalisation and element-wise adds. Both are per "
        "sample and scale with `--batch`. Exp, erf and tanh count as one operation each.",
        "",
        "| type | family | what it is | MACs | FLOPs |",
        "|---|---|---|---|---|",
    ]
    for op in _ops():
        lines.append(
            f"| `{op.name}` | {op.family} | {_cell(op.summary)} | {_cell(op.macs_rule)} | "
            f"{_cell(op.flops_rule)} |"
        )
    return lines


def _matrix() -> list[str]:
    tools = _tools()
    lines = [
        "## What each convention counts",
        "",
        "Each tool counts PyTorch modules, so each rule applies the tool to the module the "
        "spec's layer stands for (second column). `--count NAME` adds the layer's count under "
        "that convention as a column, and its total; `macs` and `flops` keep their meaning. "
        '"MACs" is archcalc\'s MAC formula above; elements are per sample.',
        "",
        "- Each rule counts one sample and archcalc multiplies by `--batch`, as fvcore, thop and "
        "torchinfo do; ptflops reports per image (its `get_model_complexity_info` runs a batch "
        "of one).",
        "- The model is in eval mode: in training mode fvcore counts batchnorm as 4 or 5 per "
        "element.",
        "- ptflops is reproduced with its default `backend='pytorch'` (0.7.5); its "
        "`backend='aten'` counts aten operations instead (ResNet-18: 1,814,074,344, the MACs "
        "plus the classifier's bias) and is not a convention here.",
        "- The rules mirror the versions named in archcalc/counting.py; other releases (such as "
        "the `ultralytics-thop` fork) may count differently.",
        "- A tool that traces the model (fvcore) or hooks modules (the others) sees `add` as "
        "`a + b`; code that calls `torch.add` instead is counted by ptflops.",
        "- A layer marked `call: functional` stands for a function call, as torchvision writes "
        "`F.relu(x)` or `F.adaptive_avg_pool2d(x, 1)` in some models (the bundled MobileNetV2, "
        "DenseNet-121, GoogLeNet and Inception v3 mark them): fvcore traces it like a module; "
        "ptflops counts only its patched functional (ReLU, GELU and pooling once instead of "
        "twice; softmax, SiLU, ReLU6 and upsampling as one per element); thop and torchinfo, "
        "which hook modules, count nothing.",
        "",
        "| type | PyTorch | " + " | ".join(c.name for c in tools) + " |",
        "|---|---|" + "---|" * len(tools),
    ]
    for op in _ops():
        cells = [_cell(c.rule(op).formula) for c in tools]
        lines.append(f"| `{op.name}` | {_cell(op.torch_equivalent)} | " + " | ".join(cells) + " |")
    return lines


def _sources() -> list[str]:
    lines = ["## Where each rule comes from", ""]
    for c in _tools():
        lines += [f"### {c.name}", "", f"Reproduces `{c.tool}`: {c.summary}.", ""]
        zeros: dict[str, list[str]] = {}
        for op in _ops():
            rule = c.rule(op)
            if rule.formula == "0":
                zeros.setdefault(rule.source, []).append(f"`{op.name}`")
            else:
                lines.append(f"- `{op.name}`: {_cell(rule.formula)} — {rule.source}")
        for source, names in zeros.items():
            lines.append(f"- {', '.join(names)}: 0 — {source}")
        lines.append("")
    return lines


def _totals() -> list[str]:
    from archcalc.analysis import analyze
    from archcalc.diagnostics import Diagnostics
    from archcalc.shapes import format_shape
    from archcalc.spec import load
    from archcalc.zoo import bundled_names

    tools = _tools()
    lines = [
        "## The bundled nets under every convention",
        "",
        "Batch 1, each spec's own input size. Each tool column is that tool's total for the "
        "same network built in PyTorch (checked in tests/test_counting.py when the tool is "
        "installed).",
        "",
        "| spec | input | params | MACs | FLOPs | " + " | ".join(c.name for c in tools) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(tools),
    ]
    for name in bundled_names():
        graph = load(name).graph
        report = analyze(graph, diagnostics=Diagnostics())
        counts = [
            analyze(graph, diagnostics=Diagnostics(), count=c.name).totals.counted for c in tools
        ]
        t = report.totals
        lines.append(
            f"| {name} | {format_shape(graph.input_shape)} | {t.params:,} | {t.macs:,} | "
            f"{t.flops:,} | " + " | ".join(f"{n:,}" for n in counts) + " |"
        )
    return lines


def render() -> str:
    lines = [
        "# Counting MACs and FLOPs",
        "",
        "<!-- Generated by `python -m archcalc.docs_counting > docs/counting.md`; do not edit. -->",
        "",
        'Tools disagree about a network\'s "FLOPs" because they count different things: some '
        "count a multiply-add as one operation, some as two; some add the bias, batchnorm, "
        "activations or pooling, and one counts ReLU twice. archcalc reports its own two "
        "figures and, with `archcalc summarize SPEC --count NAME`, any of the conventions "
        "below, layer by layer, so two numbers can be reconciled. `--by-type` groups the "
        "figures by layer type with each type's share.",
        "",
        *_formulas(),
        "",
        *_matrix(),
        "",
        *_sources(),
        *_totals(),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
