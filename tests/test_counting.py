"""Counting conventions (archcalc/counting.py), `summarize --count/--by-type`, docs/counting.md.

The ResNet-18 figures are what the tools themselves print for torchvision's resnet18 at
224x224 (fvcore 0.1.5, ptflops 0.7.5, thop 0.1.1, torchinfo 1.8.0); the per-layer cases are
derived by hand from each tool's source. When torch and a tool are installed, the tool is run on
the same network built in PyTorch from the spec, as an independent oracle.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from archcalc.analysis import analyze
from archcalc.analysis.bytype import by_type
from archcalc.counting import CONVENTIONS, DEFAULT, convention
from archcalc.diagnostics import Diagnostics, UsageError
from archcalc.ops import REGISTRY, Layer, Op
from archcalc.ops.base import REQUIRED
from archcalc.spec import load
from tests.helpers import analyse, cli
from tests.oracles import require

ROOT = Path(__file__).parent.parent
TOOLS = ("fvcore", "ptflops", "thop", "torchinfo")
ORDER = ("archcalc", *TOOLS)

RESNET18 = {
    "archcalc": 1_814_073_344,  # torchvision's 1.81 GFLOPS: MACs
    "fvcore": 1_819_065_856,
    "ptflops": 1_825_313_768,
    "thop": 1_824_033_792,
    "torchinfo": 1_814_083_944,
}


def resnet18(count: str, batch: int = 1) -> Any:
    return analyze(load("resnet18").graph, batch=batch, diagnostics=Diagnostics(), count=count)


@pytest.mark.parametrize("name", ORDER)
def test_resnet18_totals_match_each_tool(name: str) -> None:
    report = resnet18(name)
    assert report.totals.counted == RESNET18[name]
    assert report.count == name
    # The conventions only add a figure: archcalc's own keep their meaning.
    assert report.totals.params == 11_689_512
    assert report.totals.macs == 1_814_073_344


def test_resnet18_differences_by_hand() -> None:
    """The gaps between the tools, rebuilt from ResNet-18's layer sizes."""
    bn = 112 * 112 * 64 + 4 * 56 * 56 * 64 + 5 * 28 * 28 * 128 + 5 * 14 * 14 * 256 + 5 * 7 * 7 * 512
    relu = (
        112 * 112 * 64 + 4 * 56 * 56 * 64 + 4 * 28 * 28 * 128 + 4 * 14 * 14 * 256 + 4 * 7 * 7 * 512
    )
    macs = RESNET18["archcalc"]
    assert RESNET18["fvcore"] == macs + 2 * bn + 7 * 7 * 512
    pool_inputs = 112 * 112 * 64 + 7 * 7 * 512
    assert RESNET18["ptflops"] == macs + 2 * bn + 2 * relu + 2 * pool_inputs + 1000
    assert RESNET18["thop"] == macs + 4 * bn + (7 * 7 + 1) * 512
    bn_channels = 64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512
    assert RESNET18["torchinfo"] == macs + 2 * bn_channels + 1000


def test_batch_multiplies_every_convention() -> None:
    for name in ORDER:
        assert resnet18(name, batch=3).totals.counted == 3 * RESNET18[name]


def test_unknown_convention_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as err:
        convention("fvcor")
    assert "fvcore" in err.value.hint
    result = cli("summarize", "resnet18", "--count", "flops-counter")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


# --- per-layer rules, derived by hand ------------------------------------------------------


def view(name: str, *inputs: tuple[int, ...], **attrs: Any) -> tuple[Op, Layer]:
    """An op's Layer view with its defaults filled in, as the spec builder would give it."""
    op = REGISTRY[name]
    filled = {
        key: attr.check(attrs[key]) if key in attrs else attr.default
        for key, attr in op.attrs.items()
    }
    assert REQUIRED not in filled.values(), f"give every required attribute of {name}"
    layer = Layer("x", filled, list(inputs))
    layer.output = op.output_shape(layer)
    return op, layer


# (archcalc, fvcore, ptflops, thop, torchinfo) for one sample.
CASES: dict[
    str, tuple[tuple[str, tuple[tuple[int, ...], ...], dict[str, Any]], tuple[int, ...]]
] = {
    # 10x10x8 out, 4·9 taps each: 28,800 MACs; bias adds 800; torchinfo: 296 params × 100.
    "conv": (
        ("conv", ((10, 10, 4),), {"filters": 8, "kernel": 3, "padding": 1}),
        (28_800, 28_800, 29_600, 28_800, 29_600),
    ),
    # 4x4x6 out, groups 2: 2·9 taps per output, no bias: 1,728 everywhere (108 params × 16).
    "conv-grouped": (
        ("conv", ((6, 6, 4),), {"filters": 6, "kernel": 3, "groups": 2, "bias": False}),
        (1_728, 1_728, 1_728, 1_728, 1_728),
    ),
    # 3x3x2 in → 7x7x4 out. Scatter form: 18 inputs × 4 × 9 = 648 (+196 bias for ptflops);
    # thop applies the conv formula to the output: 196 × 2 × 9 = 3,528; torchinfo 76 × 49.
    "conv_transpose": (
        ("conv_transpose", ((3, 3, 2),), {"filters": 4, "kernel": 3, "stride": 2}),
        (648, 648, 844, 3_528, 3_724),
    ),
    # 512 → 10: 5,120 MACs, +10 bias (ptflops), torchinfo counts the 5,130 parameters.
    "dense": (("dense", ((512,),), {"units": 10}), (5_120, 5_120, 5_130, 5_120, 5_130)),
    # On a 2x2x3 map: 4 positions × 3 × 5 = 60 MACs; bias +20; torchinfo counts 20 params once.
    "dense-per-position": (("dense", ((2, 2, 3),), {"units": 5}), (60, 60, 80, 60, 20)),
    # 128 elements: fvcore/ptflops 2 each, thop 4 each, torchinfo gamma+beta = 16.
    "batchnorm": (("batchnorm", ((4, 4, 8),), {}), (0, 256, 256, 512, 16)),
    "batchnorm-no-affine": (("batchnorm", ((4, 4, 8),), {"affine": False}), (0, 128, 128, 256, 0)),
    # 128 elements; ptflops counts the module hook and the patched F.relu/F.gelu.
    "relu": (("relu", ((4, 4, 8),), {}), (0, 0, 256, 0, 0)),
    "gelu": (("gelu", ((4, 4, 8),), {}), (0, 0, 256, 0, 0)),
    "relu6": (("relu6", ((4, 4, 8),), {}), (0, 0, 128, 0, 0)),
    "leaky_relu": (("leaky_relu", ((4, 4, 8),), {}), (0, 0, 128, 0, 0)),
    "silu": (("silu", ((4, 4, 8),), {}), (0, 0, 128, 0, 0)),
    # 4 vectors of 5: ptflops 20 elements; thop 4 × (5 exp + 4 adds + 5 divisions) = 56.
    "softmax": (("softmax", ((2, 2, 5),), {}), (0, 0, 20, 56, 0)),
    # 8x8x2 = 128 inputs, counted twice by ptflops.
    "maxpool": (("maxpool", ((8, 8, 2),), {"kernel": 3, "stride": 2}), (0, 0, 256, 0, 0)),
    # 4x4x2 = 32 outputs: thop 1 each.
    "avgpool": (("avgpool", ((8, 8, 2),), {"kernel": 2}), (0, 0, 256, 32, 0)),
    # 8x8 → 2x2 bins of 16: fvcore the 128 inputs; thop (16 + 1) × 8 outputs = 136.
    "adaptive_avgpool": (("adaptive_avgpool", ((8, 8, 2),), {"size": 2}), (0, 128, 256, 136, 0)),
    # 1-D 10 → 4: fvcore has no 1-D handle; thop (10/4 + 1) × 12 outputs = 42.
    "adaptive_avgpool-1d": (("adaptive_avgpool", ((10, 3),), {"size": 4}), (0, 0, 60, 42, 0)),
    # 7x7x512 = 25,088 inputs: thop (49 + 1) × 512 = 25,600.
    "global_avgpool": (("global_avgpool", ((7, 7, 512),), {}), (0, 25_088, 50_176, 25_600, 0)),
    "global_maxpool": (("global_maxpool", ((7, 7, 512),), {}), (0, 0, 50_176, 0, 0)),
    # 6x6x10 = 360: x·x, ·alpha, +k (3 × 360) and an avg pool over 36 × (10 + 4) padded squares.
    "lrn": (("lrn", ((6, 6, 10),), {"size": 5}), (0, 0, 1_584, 0, 0)),
    # 4x4x3 → 8x8x3 = 192 outputs.
    "upsample-nearest": (("upsample", ((4, 4, 3),), {"scale": 2}), (0, 192, 384, 192, 0)),
    "upsample-bilinear": (
        ("upsample", ((4, 4, 3),), {"scale": 2, "mode": "bilinear"}),
        (0, 768, 384, 2_112, 0),
    ),
    # 1-D 5x2 → 10x2 = 20 outputs: fvcore has no 1-D handle, thop 5 per output for linear.
    "upsample-linear-1d": (
        ("upsample", ((5, 2),), {"scale": 2, "mode": "linear"}),
        (0, 0, 40, 100, 0),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rule_by_hand(case: str) -> None:
    (name, inputs, attrs), expected = CASES[case]
    op, layer = view(name, *inputs, **attrs)
    got = tuple(CONVENTIONS[c].count(op, layer) for c in ORDER)
    assert got == expected, dict(zip(ORDER, got))


NOTHING = [
    ("add", ((4, 4, 8), (4, 4, 8)), {}),
    ("concat", ((4, 4, 8), (4, 4, 2)), {}),
    ("channel_slice", ((4, 4, 8),), {"channels": [0, 3]}),
    ("dropout", ((16,),), {}),
    ("flatten", ((4, 4, 8),), {}),
    ("identity", ((4, 4, 8),), {}),
    ("zeropad", ((4, 4, 8),), {"padding": 1}),
    ("sigmoid", ((4, 4, 8),), {}),
    ("tanh", ((4, 4, 8),), {}),
]


@pytest.mark.parametrize(("name", "inputs", "attrs"), NOTHING, ids=[n[0] for n in NOTHING])
def test_no_tool_counts(
    name: str, inputs: tuple[tuple[int, ...], ...], attrs: dict[str, Any]
) -> None:
    op, layer = view(name, *inputs, **attrs)
    assert [CONVENTIONS[c].count(op, layer) for c in TOOLS] == [0, 0, 0, 0]


def test_every_op_has_a_rule_in_every_tool_convention() -> None:
    for c in TOOLS:
        for op in REGISTRY.values():
            rule = CONVENTIONS[c].rule(op)
            assert rule.formula and rule.source, (c, op.name)
            assert set(op.counts) <= set(CONVENTIONS), (op.name, sorted(op.counts))
    assert all(op.torch_equivalent != "?" for op in REGISTRY.values())


def test_every_op_states_its_rules_in_one_line() -> None:
    for op in REGISTRY.values():
        for attr, method in (("macs_rule", "macs"), ("flops_rule", "flops")):
            text = getattr(op, attr)
            assert text and "\n" not in text, (op.name, attr)
            if getattr(type(op), method) is not getattr(Op, method):
                assert text != "0", f"{op.name} computes {method} but its {attr} says 0"


def test_default_convention_is_the_macs() -> None:
    report = analyse(
        """
        input: 8x8x3
        layers:
          - conv: {filters: 4, kernel: 3}
          - relu
          - flatten
          - dense: 2
        """
    )
    assert report.count == DEFAULT == "archcalc"
    assert [row.counted for row in report.layers] == [row.macs for row in report.layers]


# --- CLI: --count and --by-type ------------------------------------------------------------


def test_count_in_json() -> None:
    result = cli("summarize", "resnet18", "--format", "json", "--count", "fvcore")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["count"] == {"convention": "fvcore", "total": RESNET18["fvcore"]}
    assert sum(layer["counted"] for layer in data["layers"]) == RESNET18["fvcore"]
    assert data["totals"]["macs"] == RESNET18["archcalc"]
    bn = next(layer for layer in data["layers"] if layer["type"] == "batchnorm")
    assert bn["counted"] == 2 * 112 * 112 * 64 and bn["macs"] == 0
    assert "by_type" not in data


def test_count_in_table_markdown_and_csv() -> None:
    table = cli("summarize", "resnet18", "-q", "--count", "thop").stdout
    assert "thop count" in table and "1,824,033,792" in table
    markdown = cli("summarize", "resnet18", "-q", "-f", "markdown", "-c", "ptflops").stdout
    assert "| ptflops count |" in markdown and "1,825,313,768" in markdown
    rows = list(
        csv.DictReader(
            io.StringIO(cli("summarize", "resnet18", "-f", "csv", "-c", "torchinfo").stdout)
        )
    )
    assert rows[-1]["name"] == "TOTAL" and int(rows[-1]["counted"]) == RESNET18["torchinfo"]
    plain = cli("summarize", "resnet18", "-q").stdout
    assert "archcalc count" not in plain  # the default count is the MACs column already shown


def _by_type_json(*extra: str) -> dict[str, Any]:
    result = cli("summarize", "resnet18", "--by-type", "-f", "json", *extra)
    assert result.exit_code == 0
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_by_type_json() -> None:
    data = _by_type_json("-c", "ptflops")
    groups = {g["type"]: g for g in data["by_type"]}
    # ResNet-18: 20 convs (17 in the blocks and stem + 3 projections), 20 batchnorms, 17 ReLUs
    # (1 + 2 per block), 8 residual adds, one each of maxpool, global_avgpool and dense.
    assert {t: g["layers"] for t, g in groups.items()} == {
        "conv": 20,
        "batchnorm": 20,
        "relu": 17,
        "add": 8,
        "maxpool": 1,
        "global_avgpool": 1,
        "dense": 1,
    }
    assert groups["batchnorm"]["params"] == 2 * (64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512)
    assert groups["dense"]["params"] == 512 * 1000 + 1000
    assert groups["relu"]["counted"] == 2 * groups["relu"]["flops"]  # ptflops counts ReLU twice
    assert [g["type"] for g in data["by_type"]][:2] == ["conv", "dense"]  # most MACs first
    for measure, total in (("params", "params"), ("macs", "macs"), ("flops", "flops")):
        assert sum(g[measure] for g in data["by_type"]) == data["totals"][total]
        assert sum(g[f"{measure}_share"] for g in data["by_type"]) == pytest.approx(100, abs=1e-3)
    assert sum(g["counted"] for g in data["by_type"]) == RESNET18["ptflops"]
    share = groups["conv"]["params_share"]
    assert share == pytest.approx(100 * groups["conv"]["params"] / 11_689_512, abs=1e-6)


def test_by_type_csv() -> None:
    result = cli("summarize", "resnet18", "--by-type", "-f", "csv", "-c", "thop")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    total = rows[-1]
    assert total["type"] == "TOTAL" and int(total["layers"]) == 68
    assert int(total["params"]) == 11_689_512 and int(total["counted"]) == RESNET18["thop"]
    assert float(total["macs_share"]) == 100.0
    bn = next(r for r in rows if r["type"] == "batchnorm")
    assert int(bn["layers"]) == 20 and int(bn["macs"]) == 0 and float(bn["macs_share"]) == 0.0
    assert sum(int(r["macs"]) for r in rows[:-1]) == RESNET18["archcalc"]


def test_by_type_markdown() -> None:
    result = cli("summarize", "resnet18", "--by-type", "-f", "markdown", "-q")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "| type | layers | params | % | MACs | % | FLOPs | % |" in lines
    conv = next(line for line in lines if line.startswith("| conv |"))
    assert "| 20 | 11,166,912 | 95.5% |" in conv
    assert any(line.startswith("| **total** | 68 | 11,689,512 | 100.0% |") for line in lines)
    with_count = cli("summarize", "resnet18", "--by-type", "-f", "markdown", "-c", "fvcore").stdout
    assert "| fvcore count | % |" in with_count


def test_by_type_table() -> None:
    result = cli("summarize", "resnet18", "--by-type", "-q")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["type", "layers", "params", "%", "MACs", "%", "FLOPs", "%"]
    assert next(line for line in lines if line.startswith("batchnorm")).split()[:3] == [
        "batchnorm",
        "20",
        "9,600",
    ]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[:5] == ["total", "68", "11,689,512", "100.0%", "1,814,073,344"]


def test_by_type_grouping_is_pure_and_sums() -> None:
    report = analyse(
        """
        input: 8x8x2
        layers:
          - conv: {filters: 3, kernel: 3, pad: 1}
          - relu
          - conv: {filters: 3, kernel: 1}
          - relu
        """,
        count="ptflops",
    )
    groups, whole = by_type(report)
    assert [(g.type, g.layers) for g in groups] == [("conv", 2), ("relu", 2)]
    conv = groups[0]
    # 8x8x3 outputs: 2·9 + 3·1 taps = 192·18 + 192·3 MACs; ptflops adds the two biases.
    assert conv.macs == 192 * 18 + 192 * 3 and conv.counted == conv.macs + 2 * 192
    assert groups[1].counted == 2 * 2 * 192 and whole.counted == conv.counted + 2 * 2 * 192
    assert conv.share("macs", whole) == 100.0 and groups[1].share("macs", whole) == 0.0


# --- docs/counting.md ----------------------------------------------------------------------


def test_counting_doc_is_current() -> None:
    from archcalc.docs_counting import render

    committed = (ROOT / "docs" / "counting.md").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m archcalc.docs_counting > docs/counting.md"


def test_counting_doc_has_every_op_and_the_resnet18_figures() -> None:
    text = (ROOT / "docs" / "counting.md").read_text(encoding="utf-8")
    for name in REGISTRY:
        assert f"| `{name}` |" in text
    row = next(line for line in text.splitlines() if line.startswith("| resnet18 |"))
    for figure in RESNET18.values():
        assert f"{figure:,}" in row


# --- the tools themselves, when installed --------------------------------------------------

EVERY_OP = """
    name: every op
    input: 20x20x3
    layers:
      - conv: {filters: 8, kernel: 3, pad: 1}
      - batchnorm
      - relu
      - conv: {filters: 8, kernel: 3, pad: 1, groups: 2, bias: false}
      - batchnorm: {affine: false}
      - relu6
      - leaky_relu
      - maxpool: {kernel: 3, stride: 2, pad: 1}
      - residual:
          body:
            - conv: {filters: 8, kernel: 3, pad: 1}
            - gelu
      - parallel:
          branches:
            - [sigmoid]
            - [tanh, silu]
            - [channel_slice: [0, 2, 4]]
            - []
      - lrn: 3
      - zeropad: 1
      - crop: [0, 1, 1, 0]
      - avgpool: {kernel: 2, stride: 2}
      - conv_transpose: {filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}
      - upsample: {scale: 2, mode: bilinear}
      - upsample: 2
      - adaptive_avgpool: 5
      - dropout: 0.1
      - identity
      - hardswish: {name: hs}
      - global_avgpool: {keepdims: true}
      - hardsigmoid
      - mul: {inputs: [hs, hardsigmoid1]}
      - sub: {inputs: [mul1, hs]}
      - div: {inputs: [sub1, hardsigmoid1]}
      - clip: {low: -1, high: 2}
      - affine: {scale: [0.5, 2, 1, 1, 1, 1], shift: 0.1}
      - dense: 4
      - softmax
      - global_maxpool
"""
ONE_D = """
    name: one-d
    input: 32x4
    layers:
      - conv: {filters: 6, kernel: 5, pad: 2}
      - batchnorm
      - relu
      - maxpool: 2
      - upsample: {scale: 3, mode: linear}
      - adaptive_avgpool: 7
      - lrn: 3
      - upsample: 2
      - avgpool: 2
      - global_avgpool
      - dense: 3
"""
THREE_D = """
    name: three-d
    input: 8x8x8x2
    layers:
      - conv: {filters: 4, kernel: 3, pad: 1}
      - upsample: {scale: 2, mode: linear}
      - adaptive_avgpool: 3
      - global_avgpool: {keepdims: true}
      - flatten
"""
INLINE = {"every-op": EVERY_OP, "one-d": ONE_D, "three-d": THREE_D}
# Bundled nets between them use every op in a real setting; the slow giants (VGG, U-Net,
# ResNet-152, Inception) follow the same rules and are left to `python -m archcalc.docs_counting`.
BUNDLED = (
    "resnet18",
    "alexnet",
    "mobilenet_v2",
    "googlenet",
    "squeezenet1_0",
    "lenet5-1998",
    "welcome-1d",
    "cs231n-conv-example",
)


def test_oracle_nets_use_every_op() -> None:
    used = {
        node.op.name
        for text in INLINE.values()
        for node in load("t.yaml", textwrap.dedent(text)).graph.nodes
    }
    assert used == set(REGISTRY)


def _spec(name: str) -> tuple[str, str | None]:
    return ("t.yaml", textwrap.dedent(INLINE[name])) if name in INLINE else (name, None)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("net", [*INLINE, *BUNDLED])
def test_tool_agrees(tool: str, net: str) -> None:
    require("torch")
    require("ptflops" if tool == "ptflops" else tool)
    spec, text = _spec(net)
    graph = load(spec, text).graph
    model, chw = torch_net(graph)
    expected = analyze(graph, diagnostics=Diagnostics(), count=tool).totals.counted
    assert run_tool(tool, model, chw) == expected


# Layers torchvision calls as functions (F.relu, F.adaptive_avg_pool2d, ...), marked
# `call: functional` in the specs: the tools that hook modules count them differently. These are
# the gaps measured between archcalc and each tool run on torchvision's own models before the
# marks existed (issue #11), ptflops and thop.
FUNCTIONAL_GAPS = {
    "mobilenet_v2": (62_720, 64_000),
    "densenet121": (100_352, 51_200),
    "googlenet": (3_226_160, 0),
    "inception_v3": (11_544_640, 2_002_400),
}


@pytest.mark.parametrize("net", FUNCTIONAL_GAPS)
def test_functional_marks_close_the_gaps_to_torchvision(net: str) -> None:
    graph = load(net).graph
    marked = [n for n in graph.nodes if n.call == "functional"]
    assert marked
    totals = [analyze(graph, count=c).totals.counted for c in ("ptflops", "thop")]
    for node in marked:
        node.call = "module"
    as_modules = [analyze(graph, count=c).totals.counted for c in ("ptflops", "thop")]
    assert tuple(m - t for m, t in zip(as_modules, totals)) == FUNCTIONAL_GAPS[net]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("net", ["densenet121", "inception_v3"])
def test_tool_agrees_on_functional_calls(tool: str, net: str) -> None:
    """The two nets with functional calls that test_tool_agrees leaves out for time."""
    test_tool_agrees(tool, net)


def test_functional_is_seen_by_tracing_only() -> None:
    op, layer = view("relu", (4, 4, 8))
    seen = {c: CONVENTIONS[c].count(op, layer, "functional") for c in ORDER}
    # ptflops counts F.relu once through its patched functional; hooks see nothing.
    assert seen == {"archcalc": 0, "fvcore": 0, "ptflops": 128, "thop": 0, "torchinfo": 0}
    op, layer = view("conv", (4, 4, 2), filters=3, kernel=3)
    assert CONVENTIONS["fvcore"].count(op, layer, "functional") == 2 * 2 * 3 * 9 * 2
    assert CONVENTIONS["thop"].count(op, layer, "functional") == 0


def test_call_must_be_module_or_functional(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: 8x8x3\nlayers:\n  - relu: {call: sideways}\n")
    result = cli("summarize", str(spec))
    assert result.exit_code == 2
    assert "bad.yaml:3:18: error: 'call' is module or functional, found the text 'sideways'" in (
        result.stderr
    )


def _fvcore() -> Any:
    """fvcore.nn, importable when fvcore was installed without its dependencies: iopath,
    termcolor, tabulate and tqdm serve only its checkpoint/printing code, not the counting, so
    stand-ins are lent while it imports, then withdrawn."""
    lent: dict[str, types.ModuleType] = {}
    for name in (
        "iopath",
        "iopath.common",
        "iopath.common.file_io",
        "termcolor",
        "tabulate",
        "tqdm",
    ):
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            module.HTTPURLHandler = module.PathManager = object  # type: ignore[attr-defined]
            module.colored = lambda text, *a, **k: text  # type: ignore[attr-defined]
            module.tabulate = lambda *a, **k: ""  # type: ignore[attr-defined]
            lent[name] = sys.modules[name] = module
    try:
        import fvcore.nn

        return fvcore.nn
    finally:
        for name in lent:
            del sys.modules[name]


def run_tool(tool: str, model: Any, chw: tuple[int, ...]) -> int:
    import torch

    x = torch.randn(1, *chw)
    with contextlib.redirect_stdout(io.StringIO()):
        if tool == "fvcore":
            analysis = _fvcore().FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return int(analysis.total())
        if tool == "ptflops":
            from ptflops import get_model_complexity_info

            macs, _ = get_model_complexity_info(
                model, chw, as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            assert macs is not None, "ptflops failed on the model"
            return int(macs)
        if tool == "thop":
            from thop import profile

            macs, _ = profile(model, inputs=(x,), verbose=False)
            return int(macs)
        from torchinfo import summary

        return int(summary(model, input_size=(1, *chw), verbose=0).total_mult_adds)


def torch_net(graph: Any) -> tuple[Any, tuple[int, ...]]:
    """The spec's network as a PyTorch module (NCHW), in eval mode, and its input's C, H, W."""
    from archcalc.analysis.shapes import infer_shapes
    from tests.torch_graph import torch_model

    shape = graph.input_shape
    return torch_model(graph, infer_shapes(graph, Diagnostics(), False)), (shape[-1], *shape[:-1])


def test_cli_offers_every_convention() -> None:
    from archcalc.cli.summarize import summarize

    option = next(p for p in summarize.params if p.name == "count")
    assert list(option.type.choices) == list(CONVENTIONS)  # type: ignore[attr-defined]
