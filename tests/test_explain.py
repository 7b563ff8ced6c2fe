"""`--explain`: the course's formulas with the numbers put in, and each formula's result equal to
the figure archcalc computes (and to the arithmetic on its own left-hand side)."""

from __future__ import annotations

import json
import re
import textwrap
from fractions import Fraction

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.cli import main
from archcalc.report import LayerRow, Report
from archcalc.spec import load
from archcalc.zoo import bundled_names


def report_of(text: str, **kwargs: object) -> Report:
    loaded = load("test.yaml", textwrap.dedent(text))
    return analyze(loaded.graph, diagnostics=loaded.diagnostics, explain=True, **kwargs)  # type: ignore[arg-type]


def explained(report: Report, name: str) -> dict[str, str]:
    row = next(r for r in report.layers if r.name == name)
    assert row.explain is not None
    return dict(row.explain)


def test_course_conv1_formulas() -> None:
    report = analyze(load("alexnet").graph, explain=True)
    conv1 = explained(report, "conv1")
    assert conv1["output"] == "(227 + 2·0 − 11)/4 + 1 = 55"
    assert conv1["params"] == "(11·11·3 + 1)·96 = 34,944"
    assert conv1["MACs"] == "55·55·96 · 11·11·3 = 105,415,200"
    assert conv1["RF"] == "1 + (11 − 1)·1 = 11"
    assert conv1["RF stride"] == "1·4 = 4"
    assert explained(report, "pool3")["RF"] == "163 + (3 − 1)·16 = 195"
    assert explained(report, "fc6")["params"] == "(9216 + 1)·4096 = 37,752,832"


def test_course_conv_example_formulas() -> None:
    report = analyze(load("cs231n-conv-example").graph, explain=True)
    conv = explained(report, report.layers[0].name)
    assert conv["output"] == "(32 + 2·2 − 5)/1 + 1 = 32"
    assert conv["params"] == "(5·5·3 + 1)·10 = 760"


def test_stride_fit_rounding_is_shown() -> None:
    report = report_of(
        """
        input: 7x7x1
        layers:
          - conv: {name: c, filters: 1, kernel: 3, stride: 3}
        """
    )
    # The course's 7x7 input, 3x3 filter, stride 3: (7 − 3)/3 + 1 = 2.33, frameworks floor it.
    assert explained(report, "c")["output"] == "(7 + 2·0 − 3)/3 + 1 = 2.33333 → 2 (rounded down)"


def test_dilation_and_per_axis_formulas() -> None:
    report = report_of(
        """
        input: 20x30x3
        layers:
          - conv: {name: c, filters: 4, kernel: [3, 5], dilation: [2, 1], pad: [2, 0]}
        """
    )
    c = explained(report, "c")
    assert c["output H"] == "(20 + 2·2 − (2·(3 − 1) + 1))/1 + 1 = 20"
    assert c["output W"] == "(30 + 2·0 − 5)/1 + 1 = 26"
    assert c["RF"] == "1 + (5 − 1)·1 = 5"  # 2·(3 − 1) + 1 = 5 rows, 5 columns
    assert c["RF offset H"] == "0 + ((5 − 1)/2 − 2)·1 = 0"
    assert c["RF offset W"] == "0 + ((5 − 1)/2 − 0)·1 = 2"


# --- every formula's result is the computed figure ----------------------------------------------


def _number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _result(formula: str) -> Fraction:
    """The formula's final number: after the last '→' if rounded, else after the last '='."""
    tail = formula.rsplit("→", 1)[1] if "→" in formula else formula.rsplit("=", 1)[1]
    match = re.search(r"-?[\d,]+(\.\d+)?", tail)
    assert match, formula
    return _number(match.group(0))


_ARITHMETIC = re.compile(r"[\d,.·+−()/ ]+")


def _lhs_value(formula: str) -> Fraction | None:
    """Evaluate the left-hand side when it is plain arithmetic (not a union or 'whole input')."""
    lhs = formula.split("=")[0]
    if not _ARITHMETIC.fullmatch(lhs):
        return None
    expr = lhs.replace(",", "").replace("·", "*").replace("−", "-")
    expr = re.sub(r"(\d+(\.\d+)?)", r"Fraction('\1')", expr)
    return eval(expr, {"Fraction": Fraction})  # only digits and operators reach here


def _expected(row: LayerRow, figure: str, per_sample: dict[str, int]) -> Fraction:
    shape = row.output_shape
    assert shape is not None
    field = row.receptive_field
    axes = {"L": 0, "H": -2, "W": -1, "D": -3}
    words = figure.split(" ")
    base, axis = words[0], words[-1] if words[-1] in axes else ""
    if base == "RF":
        kind = words[1] if len(words) > 1 and words[1] in ("stride", "offset") else "size"
        assert field is not None
        at = axes[axis] if axis else 0
        if len(words) > 1 and words[1] == "span":  # the first and last pixel a unit reads
            span = field.span[at]
            return Fraction(span[1] - span[0] + 1 if span else 0)
        if len(words) > 1 and words[1] == "holes":  # the pixels it skips between them
            return Fraction(len(field.skipped[at]))
        return Fraction(getattr(field, kind)[at])
    if base == "output":
        spatial = shape[:-1]
        if axis:
            rank = len(spatial)
            order = {1: "L", 2: "HW", 3: "DHW"}[rank]
            return Fraction(spatial[order.index(axis)])
        return Fraction(spatial[0] if spatial else shape[0])
    if figure == "channels":
        return Fraction(shape[-1])
    if figure == "params":
        return Fraction(row.params)
    return Fraction(per_sample[figure])


def _check_report(report: Report) -> int:
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.diagnostics import Diagnostics

    checked = 0
    spec = load(report.file) if report.file != "test.yaml" else None
    layers = infer_shapes(spec.graph, Diagnostics(), False) if spec else {}
    for row in report.layers:
        assert row.explain is not None
        per_sample = {"MACs": row.macs // report.batch, "FLOPs": row.flops // report.batch}
        if layers.get(row.name) is not None:
            node = spec.graph.node(row.name)  # type: ignore[union-attr]
            layer = layers[row.name]
            per_sample = {"MACs": node.op.macs(layer), "FLOPs": node.op.flops(layer)}  # type: ignore[arg-type]
        for figure, formula in row.explain:
            result = _result(formula)
            if report.batch > 1 and figure in ("MACs", "FLOPs"):
                assert result == (row.macs if figure == "MACs" else row.flops), formula
                formula = formula.split(";")[0]
                result = _result(formula)
            assert result == _expected(row, figure, per_sample), (row.name, figure, formula)
            lhs = _lhs_value(formula)
            if lhs is not None:
                if "→" in formula:
                    rounded = -(-lhs // 1) if "rounded up" in formula else lhs // 1
                    assert result == rounded, (row.name, formula)
                else:
                    assert lhs == _result(formula.split("→")[0]), (row.name, formula)
            checked += 1
    return checked


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_formula_matches_its_figure(name: str) -> None:
    report = analyze(load(name).graph, explain=True)
    assert _check_report(report) > len(report.layers)


def test_other_ops_formulas_match_their_figures() -> None:
    report = report_of(
        """
        input: 33x31x8
        layers:
          - conv: {filters: 16, kernel: 3, stride: 2, padding: same, bias: false}
          - batchnorm
          - conv: {filters: 16, kernel: 3, groups: 16, dilation: 2, pad: [1, 2, 0, 3]}
          - maxpool: {kernel: 3, stride: 2, ceil_mode: true}
          - parallel:
              branches:
                - [conv: {filters: 8, kernel: 1}]
                - [avgpool: {kernel: 3, stride: 1, pad: 1}]
          - residual:
              body:
                - conv: {filters: 24, kernel: [1, 3], pad: [0, 1]}
          - conv_transpose: {filters: 6, kernel: 4, stride: 2, padding: 1, output_padding: 1}
          - conv_transpose: {filters: 6, kernel: 3, groups: 2, padding: 1}
          - upsample: 2
          - adaptive_avgpool: 4
          - global_avgpool
          - dense: 10
        """
    )
    assert _check_report(report) > 20


def test_batch_scales_macs_in_the_formula() -> None:
    report = analyze(load("alexnet").graph, explain=True, batch=8)
    conv1 = explained(report, "conv1")
    assert conv1["MACs"] == "55·55·96 · 11·11·3 = 105,415,200; × batch 8 = 843,321,600"
    _check_report(report)


# --- the CLI ------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_json_explain_only_when_asked() -> None:
    code, out, _ = run("summarize", "alexnet", "--format", "json")
    assert code == 0 and "explain" not in json.loads(out)["layers"][0]
    code, out, _ = run("summarize", "alexnet", "--format", "json", "--explain")
    conv1 = json.loads(out)["layers"][0]
    assert code == 0
    assert {"figure": "MACs", "formula": "55·55·96 · 11·11·3 = 105,415,200"} in conv1["explain"]
    assert conv1["macs"] == 105_415_200


def test_terminal_explain_follows_the_table() -> None:
    code, out, _ = run("summarize", "alexnet", "--explain")
    assert code == 0
    table_at = out.index("conv1")
    arithmetic_at = out.index("The arithmetic")
    assert table_at < arithmetic_at
    assert "  output     (227 + 2·0 − 11)/4 + 1 = 55" in out[arithmetic_at:]
    assert "  params     (11·11·3 + 1)·96 = 34,944" in out[arithmetic_at:]
    code, out, _ = run("summarize", "alexnet")
    assert "The arithmetic" not in out


def test_explain_markdown_and_csv() -> None:
    code, out, _ = run("summarize", "alexnet", "--format", "markdown", "--explain")
    assert code == 0 and "### The arithmetic" in out and "(11·11·3 + 1)·96 = 34,944" in out
    code, _, err = run("summarize", "alexnet", "--format", "csv", "--explain")
    assert code == 2 and "--explain has no CSV form" in err
