"""Receptive fields measured by execution against the analysis, including the borders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archcalc.analysis import analyze, analyze_graph
from archcalc.analysis.rf import dependencies
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import rf_probe
from archcalc.diagnostics import Diagnostics
from archcalc.spec import load
from tests.oracles import require

NETS = {
    # conv1 fits the rows, (11 − 3)/2 + 1 = 5, but not the 12 columns: (12 − 3)/2 + 1 = 5.5,
    # column 11 is never read. The 2x2 pool then drops conv1's fifth row and column.
    "misfit": "input: 11x12x2\nlayers:\n"
    "  - conv: {filters: 3, kernel: 3, stride: 2}\n"
    "  - maxpool: {kernel: 2}\n"
    "  - conv: {filters: 2, kernel: 3, pad: 1, dilation: 1}\n"
    "  - flatten\n  - dense: 3\n",
    "dilated": "input: 20x17x1\nlayers:\n"
    "  - conv: {filters: 2, kernel: 3, dilation: 3, pad: 2}\n"
    "  - avgpool: {kernel: 3, stride: 2, pad: 1, ceil_mode: true}\n"
    "  - conv: {filters: 2, kernel: [1, 5], stride: [1, 2]}\n"
    "  - global_avgpool\n",
    "residual": "input: 16x16x3\nlayers:\n"
    "  - conv: {filters: 4, kernel: 3, pad: 1}\n"
    "  - residual: {body: [{conv: {filters: 4, kernel: 3, pad: 1}}, relu, "
    "{conv: {filters: 4, kernel: 3, pad: 1}}]}\n"
    "  - maxpool: {kernel: 3, stride: 2}\n",
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_every_layer_full_scan(name: str) -> None:
    graph = load(f"{name}.yaml", text=NETS[name]).graph
    report = analyze(graph)
    layers = infer_shapes(graph, Diagnostics(), False)
    fields = {row.name: row.receptive_field for row in report.layers}
    samples = rf_probe.pick_samples(graph, layers, fields, count=100)
    assert len(samples) >= 3
    checks = rf_probe.measure_fields(graph, layers, fields, samples, full_scan=True)
    assert len(checks) == len(samples)
    for check in checks:
        assert check.probes, check.layer
        for probe in check.probes:
            assert probe.ok, (check.layer, probe)


def test_stride_misfit_shows_in_the_exact_reads() -> None:
    graph = load("m.yaml", text=NETS["misfit"]).graph
    report = analyze(graph)
    layers = infer_shapes(graph, Diagnostics(), False)
    # conv2's field: 3 + (2 − 1)·2 + (3 − 1)·4 = 13 rows with jump 4, unit 0 centred on row
    # 1 + ½·2 + (1 − 1)·4 = 2, so rows −4..8, clipped to 0..8. The pool's two units read conv1's
    # units 0..3, i.e. input rows 0..8: the whole net never reads rows 9 and 10 (nor column
    # 11), although dense1's field is "the whole input".
    assert dependencies(graph, layers, "conv2", (0, 0))[0] == set(range(9))
    assert dependencies(graph, layers, "dense1") == (set(range(9)), set(range(9)))
    dense = next(r for r in report.layers if r.name == "dense1").receptive_field
    assert dense is not None and dense.whole and dense.span == [(0, 8), (0, 8)]
    fields = {row.name: row.receptive_field for row in report.layers}
    checks = rf_probe.measure_fields(graph, layers, fields, ["conv2", "dense1"])
    assert all(c.ok for c in checks)
    whole = checks[-1]
    assert whole.whole and [rf_probe.span(p.measured) for p in whole.probes] == [(0, 8), (0, 8)]


def test_a_wrong_field_is_reported_with_the_measured_support() -> None:
    from dataclasses import replace
    from fractions import Fraction

    graph = load("r.yaml", text=NETS["residual"]).graph
    report = analyze(graph)
    layers = infer_shapes(graph, Diagnostics(), False)
    fields = {row.name: row.receptive_field for row in report.layers}
    right = fields["conv1"]
    assert right is not None
    fields["conv1"] = replace(right, size=(Fraction(5), Fraction(5)))
    (check,) = rf_probe.measure_fields(graph, layers, fields, ["conv1"])
    assert not check.ok  # the envelope of the units inside the input says 5 rows
    assert all(p.measured == p.expected for p in check.probes)  # the exact reads hold
    assert check.size == (3, 3)  # measured from two neighbouring units inside the input


def test_a_wrong_rule_is_measured_over_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the analysis' exact reads are wrong, the disagreeing units are re-measured over
    every single row and the truth is reported."""
    from archcalc.ops.base import REGISTRY, Window

    graph = load("r.yaml", text=NETS["residual"]).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    fields = {row.name: row.receptive_field for row in analyze(graph).layers}
    conv = type(REGISTRY["conv"])  # claims every other pixel: holes that are not there
    real = conv.windows
    monkeypatch.setattr(
        conv,
        "windows",
        lambda self, layer: [Window(w.span, w.stride, w.pad_before, 2) for w in real(self, layer)],
    )
    (check,) = rf_probe.measure_fields(graph, layers, fields, ["conv1"])
    assert not check.ok
    # Every probed unit was wrong; the measurement is the conv's true 3-pixel window.
    assert all(p.measured != p.expected for p in check.probes)
    for p in check.probes:
        u = p.unit[p.axis]
        assert p.measured == set(range(max(0, u - 1), min(15, u + 1) + 1))


def test_verify_alexnet_at_an_input_its_strides_do_not_fit() -> None:
    """At 150x150 conv1 covers (150 − 11)/4 + 1 = 35.75 → 35 windows: rows 147..149 are never
    read, and the measured fields of the deep layers stop at row 146."""
    from archcalc.backend.verify import verify

    graph = load("alexnet").graph
    spec_shape = graph.input_shape
    graph.input_shape = (150, 150, 3)
    result = verify(analyze_graph(graph), spec_shape, rf_samples=2)
    assert result.ok, result.mismatches()
    deep = [f for f in result.fields if f.whole]
    assert deep and all(rf_probe.span(p.measured) == (0, 146) for p in deep[0].probes)


# --- #9 item 5: the envelope is not what real units fill -------------------------------------

ISSUE = """
input: 7x7x1
layers:
  - conv: {name: c, filters: 1, kernel: 1, stride: 3, pad: 1}
  - global_avgpool: {name: g}
"""


def test_issue_case_exact_span_and_holes() -> None:
    """The smallest failing net of #9: the conv's units read input rows −1 (padding), 2 and 5,
    so the pooled unit depends on rows and columns 2 and 5 only — not on 0..5 as the envelope
    clipped to the input said, nor on 0..6 (the whole input)."""
    graph = load("i.yaml", text=ISSUE).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    assert dependencies(graph, layers, "g") == ({2, 5}, {2, 5})
    # A unit whose row is padding reads nothing, on either axis.
    assert dependencies(graph, layers, "c", (0, 1)) == (set(), set())
    assert dependencies(graph, layers, "c", (1, 2)) == ({2}, {5})
    g = analyze(graph).layers[-1].receptive_field
    assert g is not None and g.whole
    assert g.to_json() == {
        "size": [7, 7],
        "stride": [7, 7],
        "offset": [3, 3],
        "holes": [True, True],
        "span": [[2, 5], [2, 5]],
    }


def test_issue_case_matches_the_gradient() -> None:
    torch = require("torch")
    conv = torch.nn.Conv2d(1, 1, 1, stride=3, padding=1)
    torch.nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 7, 7, requires_grad=True)
    conv(x).mean().backward()
    assert x.grad is not None
    rows = {int(i) for i in (x.grad[0, 0].abs() > 0).any(dim=1).nonzero().flatten()}
    assert rows == {2, 5}


def test_issue_case_passes_verify_and_shows_the_exact_span(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from archcalc.cli import main

    runner = CliRunner()
    spec = tmp_path / "i.yaml"
    spec.write_text(ISSUE, encoding="utf-8")
    result = runner.invoke(main, ["verify", str(spec), "--format", "json"])
    assert result.exit_code == 0, result.output
    rf = json.loads(result.output)["layers"][-1]["checks"]["rf"]
    assert rf["ok"] and rf["measured"]["axis0@0"] == [2, 5] and rf["measured"]["holes"]
    result = runner.invoke(main, ["rf", str(spec), "-q"])
    assert "the whole input; reads rows 2–5, columns 2–5 only, with holes" in result.output
    result = runner.invoke(main, ["rf", str(spec), "-q", "--layer", "g", "--unit", "0"])
    assert "real rows 2–5 except 2 skipped (3, 4)" in result.output
    result = runner.invoke(main, ["summarize", str(spec), "--explain"])
    assert "RF span   [2, 5]: 5 − 2 + 1 = 4" in result.output


SLICE = """
input: 12x12x1
layers:
  - conv: {name: a, filters: 2, kernel: 3, pad: 1}
  - conv: {name: one, filters: 2, kernel: 1, inputs: [a]}
  - conv: {name: five, filters: 3, kernel: 5, pad: 2, inputs: [a]}
  - concat: {name: cat, inputs: [one, five]}
  - channel_slice: {name: s, channels: [0, 1]}
  - conv: {name: after, filters: 1, kernel: 1}
"""


def test_a_channel_slice_of_a_concat_keeps_only_its_branch() -> None:
    """The slice keeps the 1x1 branch's channels: a unit reads 3x3 pixels, not the 7x7 union
    of both branches that the envelope (the standard union at a merge) gives."""
    graph = load("s.yaml", text=SLICE).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    assert dependencies(graph, layers, "after", (5, 5)) == ({4, 5, 6}, {4, 5, 6})
    assert dependencies(graph, layers, "cat", (5, 5)) == (set(range(2, 9)), set(range(2, 9)))
    after = analyze(graph).layers[-1].receptive_field
    assert after is not None and after.size == (7, 7) and after.span == [(2, 4), (2, 4)]
    fields = {row.name: row.receptive_field for row in analyze(graph).layers}
    checks = rf_probe.measure_fields(graph, layers, fields, ["cat", "s", "after"])
    assert all(c.ok for c in checks)


@pytest.mark.parametrize("groups", [1, 2])
def test_grouped_conv_of_a_concat_then_a_slice(groups: int) -> None:
    """Output group 0 of a grouped conv reads only input group 0 (the 1x1 branch); with one
    group every output reads both branches."""
    spec = SLICE.replace(
        "  - channel_slice: {name: s, channels: [0, 1]}\n",
        f"  - conv: {{name: g, filters: 4, kernel: 1, groups: {groups}}}\n"
        "  - channel_slice: {name: s, channels: [0]}\n",
    ).replace("filters: 3, kernel: 5", "filters: 2, kernel: 5")
    graph = load("g.yaml", text=spec).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    expected = {4, 5, 6} if groups == 2 else set(range(2, 9))
    assert dependencies(graph, layers, "after", (5, 5)) == (expected, expected)
    fields = {row.name: row.receptive_field for row in analyze(graph).layers}
    assert all(c.ok for c in rf_probe.measure_fields(graph, layers, fields, ["s", "after"]))


@pytest.mark.parametrize(("size", "wide"), [(1, False), (2, False), (3, True)])
def test_lrn_mixes_neighbouring_channels(size: int, wide: bool) -> None:
    """Channel 0 of an LRN depends on channels 0 .. (size − 1)//2 at its position, through the
    normaliser: with size 3 the 5x5 branch (channel 1) reaches the slice of channel 0."""
    spec = f"""
input: 12x12x1
layers:
  - conv: {{name: one, filters: 1, kernel: 1}}
  - conv: {{name: five, filters: 1, kernel: 5, pad: 2, inputs: [input]}}
  - concat: {{name: cat, inputs: [one, five]}}
  - lrn: {{name: n, size: {size}}}
  - channel_slice: {{name: s, channels: [0]}}
"""
    graph = load("l.yaml", text=spec).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    expected = set(range(3, 8)) if wide else {5}
    assert dependencies(graph, layers, "s", (5, 5)) == (expected, expected)
    fields = {row.name: row.receptive_field for row in analyze(graph).layers}
    checks = rf_probe.measure_fields(graph, layers, fields, ["s"], full_scan=True)
    assert all(c.ok for c in checks)


# Found by the property suite's CI profile: the unit probed along the rows sits in a padding
# column, so it reads nothing, though its window along the rows alone lies inside the input.
PADDED_CROSS_AXIS = """
input: 5x8x1
layers:
  - maxpool: {name: p, kernel: 3, stride: 4, dilation: 2}
  - zeropad: {name: z, padding: [0, 0, 2, 0]}
"""


def test_a_unit_reading_only_padding_on_another_axis_has_no_envelope_to_match() -> None:
    loaded = load("z.yaml", PADDED_CROSS_AXIS)
    analysis = analyze_graph(loaded.graph, diagnostics=loaded.diagnostics)
    fields = {name: found.field for name, found in analysis.fields.items()}
    (check,) = rf_probe.measure_fields(loaded.graph, analysis.layers, fields, ["z"])
    rows = [p for p in check.probes if p.axis == 0]
    assert rows and all(p.expected == frozenset() for p in rows)  # column 1 is padding
    assert all(p.envelope is None for p in rows)
    assert check.ok, check.probes
