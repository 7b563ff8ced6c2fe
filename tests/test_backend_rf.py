"""Receptive fields measured by execution against the analysis, including the borders."""

from __future__ import annotations

import pytest

from archcalc.analysis import analyze, analyze_graph
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import rf_probe
from archcalc.diagnostics import Diagnostics
from archcalc.spec import load

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


def test_stride_misfit_shows_in_the_clipped_expectation() -> None:
    graph = load("m.yaml", text=NETS["misfit"]).graph
    report = analyze(graph)
    layers = infer_shapes(graph, Diagnostics(), False)
    # conv2's field: 3 + (2 − 1)·2 + (3 − 1)·4 = 13 rows with jump 4, unit 0 centred on row
    # 1 + ½·2 + (1 − 1)·4 = 2, so rows −4..8, clipped to 0..8. The pool's two units read conv1's
    # units 0..3, i.e. input rows 0..8: the whole net never reads rows 9 and 10, although
    # dense1's field is "the whole input".
    assert rf_probe.analysed_reads(graph, layers, "conv2", 0, 0) == (0, 8)
    assert rf_probe.analysed_reads(graph, layers, "dense1", 0, None) == (0, 8)
    assert rf_probe.analysed_reads(graph, layers, "dense1", 1, None) == (0, 8)
    fields = {row.name: row.receptive_field for row in report.layers}
    checks = rf_probe.measure_fields(graph, layers, fields, ["conv2", "dense1"])
    assert all(c.ok for c in checks)
    assert any("drops them" in c.note for c in checks)


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
    assert not check.ok
    assert check.size == (3, 3)  # measured over every row after the edge probes disagreed


def test_verify_alexnet_at_an_input_its_strides_do_not_fit() -> None:
    """At 150x150 conv1 covers (150 − 11)/4 + 1 = 35.75 → 35 windows: rows 147..149 are never
    read, and the measured fields of the deep layers stop at row 146."""
    from archcalc.backend.verify import verify

    graph = load("alexnet").graph
    spec_shape = graph.input_shape
    graph.input_shape = (150, 150, 3)
    result = verify(analyze_graph(graph), spec_shape, rf_samples=2)
    assert result.ok, result.mismatches()
    deep = [f for f in result.fields if f.field.whole]
    assert deep and all(p.measured == (0, 146) for p in deep[0].probes)
