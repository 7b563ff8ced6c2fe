"""Receptive fields: hand-derived values, published values, multi-path graphs, the `rf` command,
and a measured check against torch autograd (the support of an input gradient)."""

from __future__ import annotations

import json
import textwrap
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.analysis.rf import UnitWindow, unit_window
from archcalc.analysis.shapes import infer_shapes
from archcalc.cli import main
from archcalc.diagnostics import Diagnostics
from archcalc.report import Report
from archcalc.spec import load
from archcalc.zoo import bundled_names
from tests.oracles import require


def report_of(text: str, **kwargs: object) -> Report:
    loaded = load("test.yaml", textwrap.dedent(text))
    return analyze(loaded.graph, diagnostics=loaded.diagnostics, **kwargs)  # type: ignore[arg-type]


def field(report: Report, name: str) -> dict[str, object]:
    row = next(r for r in report.layers if r.name == name)
    assert row.receptive_field is not None, f"{name}: {row.rf_note}"
    return row.receptive_field.to_json()


def window_of(text: str, name: str, unit: tuple[int, ...]) -> UnitWindow:
    graph = load("test.yaml", textwrap.dedent(text)).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    return unit_window(graph, layers, name, unit)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --- hand-derived single-path values -----------------------------------------------------------


def test_course_alexnet_layers() -> None:
    # r' = r + (F − 1)·j, j' = j·S, by hand from the course's AlexNet table (227x227 input).
    report = analyze(load("alexnet").graph)
    expected = {
        "conv1": (11, 4, 5),  # 1 + 10·1; centre (11 − 1)/2 = 5
        "pool1": (19, 8, 9),  # 11 + 2·4; centre 5 + 1·4
        "conv2": (51, 8, 9),  # 19 + 4·8; pad 2 keeps the centre
        "pool2": (67, 16, 17),  # 51 + 2·8
        "conv3": (99, 16, 17),  # 67 + 2·16
        "conv4": (131, 16, 17),
        "conv5": (163, 16, 17),
        "pool3": (195, 32, 33),  # 163 + 2·16
    }
    for name, (size, stride, offset) in expected.items():
        assert field(report, name) == {
            "size": [size, size],
            "stride": [stride, stride],
            "offset": [offset, offset],
        }, name
    fc6 = next(r.receptive_field for r in report.layers if r.name == "fc6")
    assert fc6 is not None and fc6.whole and field(report, "fc6")["size"] == [227, 227]


def test_course_conv_example() -> None:
    # 5x5 filters, pad 2: every unit sees 5x5 and unit 0 is centred on pixel 0.
    report = analyze(load("cs231n-conv-example").graph)
    assert field(report, report.layers[0].name) == {
        "size": [5, 5],
        "stride": [1, 1],
        "offset": [0, 0],
    }


def test_dilated_3x3_sees_5x5() -> None:
    spec = """
        input: 16x16x1
        layers:
          - conv: {name: c, filters: 1, kernel: 3, dilation: 2}
    """
    # The envelope is 5x5; the unit reads every other pixel of it: holes on both axes.
    assert field(report_of(spec), "c") == {
        "size": [5, 5],
        "stride": [1, 1],
        "offset": [2, 2],
        "holes": [True, True],
    }
    w = window_of(spec, "c", (0, 3))
    assert w.window == [(0, 4), (3, 7)] and w.padding == [(0, 0), (0, 0)]
    assert w.reads == ({0, 2, 4}, {3, 5, 7}) and w.holes == [True, True]


def test_three_stacked_3x3_see_7x7() -> None:
    spec = """
        input: 32x32x3
        layers:
          - conv: {name: a, filters: 8, kernel: 3, pad: 1}
          - conv: {name: b, filters: 8, kernel: 3, pad: 1}
          - conv: {name: c, filters: 8, kernel: 3, pad: 1}
    """
    report = report_of(spec)
    assert [field(report, n)["size"] for n in "abc"] == [[3, 3], [5, 5], [7, 7]]
    assert field(report, "c")["offset"] == [0, 0]
    w = window_of(spec, "c", (0, 10))
    assert w.window == [(-3, 3), (7, 13)]
    assert w.padding == [(3, 0), (0, 0)]
    assert w.inside == [(0, 3), (7, 13)]


def test_non_square_kernels_and_strides() -> None:
    spec = """
        input: 20x40x1
        layers:
          - conv: {name: a, filters: 4, kernel: [3, 5], stride: [1, 2]}
          - conv: {name: b, filters: 4, kernel: 3}
    """
    report = report_of(spec)
    assert field(report, "a") == {"size": [3, 5], "stride": [1, 2], "offset": [1, 2]}
    # rows: 3 + 2·1 = 5, centre 1 + 1·1; columns: 5 + 2·2 = 9, centre 2 + 1·2
    assert field(report, "b") == {"size": [5, 9], "stride": [1, 2], "offset": [2, 4]}
    assert window_of(spec, "b", (1, 3)).window == [(1, 5), (6, 14)]


def test_asymmetric_padding_offset() -> None:
    # Four sides [top, bottom, left, right]: 2 rows on top shift the first centre up by 2 − 1.
    spec = """
        input: 10x10x1
        layers:
          - conv: {name: c, filters: 1, kernel: 3, padding: [2, 0, 0, 1]}
    """
    assert field(report_of(spec), "c")["offset"] == [-1, 1]
    w = window_of(spec, "c", (0, 0))
    assert w.window == [(-2, 0), (0, 2)] and w.padding == [(2, 0), (0, 0)]


def test_same_padding_offsets() -> None:
    # TensorFlow's 'same' on 8 with a 3-wide window and stride 2: total padding
    # (4 − 1)·2 + 3 − 8 = 1, all of it after, so unit 0 is centred on pixel 1.
    spec = """
        input: 8x9x1
        layers:
          - conv: {name: c, filters: 1, kernel: 3, stride: 2, padding: same}
    """
    # columns: 9 → 5 outputs, total padding 4·2 + 3 − 9 = 2 → 1 before: centre 0.
    assert field(report_of(spec), "c") == {"size": [3, 3], "stride": [2, 2], "offset": [1, 0]}
    w = window_of(spec, "c", (3, 4))
    assert w.window == [(6, 8), (7, 9)] and w.padding == [(0, 1), (0, 1)]


def test_half_pixel_offset_of_even_windows() -> None:
    spec = """
        input: 8x8x1
        layers:
          - maxpool: {name: p, kernel: 2}
    """
    assert field(report_of(spec), "p") == {"size": [2, 2], "stride": [2, 2], "offset": [0.5, 0.5]}


def test_global_pool_and_dense_see_the_whole_input() -> None:
    spec = """
        input: 30x20x3
        layers:
          - conv: {filters: 4, kernel: 3}
          - global_avgpool: {name: gap}
          - dense: {name: fc, units: 10}
    """
    report = report_of(spec)
    for name in ("gap", "fc"):
        assert field(report, name) == {"size": [30, 20], "stride": [30, 20], "offset": [14.5, 9.5]}
        row = next(r for r in report.layers if r.name == name)
        assert row.receptive_field is not None and row.receptive_field.whole
    assert window_of(spec, "fc", (7,)).window == [(0, 29), (0, 19)]


# --- transposed convs and upsampling ------------------------------------------------------------


def test_conv_transpose_stride_1_is_a_conv() -> None:
    # o = i − P + t: the window is [o + P − (F − 1), o + P], i.e. a conv with padding F − 1 − P.
    spec = """
        input: 8x8x2
        layers:
          - conv_transpose: {name: t, filters: 2, kernel: 3, padding: 1}
    """
    assert field(report_of(spec), "t") == {"size": [3, 3], "stride": [1, 1], "offset": [0, 0]}


def test_conv_transpose_stride_2_is_not_defined_but_units_are_exact() -> None:
    spec = """
        input: 5x5x1
        layers:
          - conv_transpose: {name: t, filters: 1, kernel: 4, stride: 2, padding: 1}
          - conv: {name: c, filters: 1, kernel: 3}
          - global_maxpool: {name: g}
    """
    report = report_of(spec)
    rows = {r.name: r for r in report.layers}
    assert rows["t"].receptive_field is None
    assert "stride-2 transposed conv" in rows["t"].rf_note
    assert rows["c"].receptive_field is None and "follows t" in rows["c"].rf_note
    assert next(r for r in report.layers if r.name == "g").receptive_field.whole  # type: ignore[union-attr]
    assert any(d.code == "rf-undefined" and d.layer == "t" for d in report.diagnostics)
    # Output o gathers input i with o = 2i − 1 + t, t = 0..3 (by hand):
    # o=0: i ∈ {0 (t=1), −1 (t=3)}; o=1: i ∈ {1, 0}; o=2: {1, 0}; o=3: {2, 1}.
    assert window_of(spec, "t", (0, 1)).window == [(-1, 0), (0, 1)]
    assert window_of(spec, "t", (0, 1)).inside == [(0, 0), (0, 1)]
    assert window_of(spec, "t", (2, 3)).window == [(0, 1), (1, 2)]
    # c's unit 0 covers t's outputs 0..2 → inputs −1..1.
    assert window_of(spec, "c", (0, 0)).window == [(-1, 1), (-1, 1)]


def test_upsample_is_not_defined_but_units_are_exact() -> None:
    spec = """
        input: 6x6x1
        layers:
          - upsample: {name: up, scale: 2}
          - conv: {name: c, filters: 1, kernel: 3}
    """
    report = report_of(spec)
    assert "upsampling by 2" in next(r for r in report.layers if r.name == "up").rf_note
    # nearest: output o copies input ⌊o/2⌋; c's unit 3 covers up's outputs 3..5 → inputs 1..2.
    assert window_of(spec, "c", (3, 0)).window == [(1, 2), (0, 1)]
    bilinear = spec.replace("scale: 2}", "scale: 2, mode: bilinear}")
    # (o + ½)/2 − ½ for o = 3..5 is 1.25, 1.75, 2.25: neighbours 1..3. For o = 0..2 it is
    # −0.25 (clamped to 0, all weight on pixel 0), 0.25, 0.75: pixels 0..1.
    assert window_of(bilinear, "c", (3, 0)).window == [(1, 3), (0, 1)]


# --- multi-path graphs --------------------------------------------------------------------------


MISALIGNED = """
    input: 9x9x4
    layers:
      - parallel:
          name: mix
          branches:
            - [conv: {name: wide, filters: 4, kernel: 3, stride: 2, pad: 1}]
            - [conv: {name: narrow, filters: 4, kernel: 2, stride: 2, pad: 1}]
"""


def test_misaligned_paths_are_named_and_united() -> None:
    report = report_of(MISALIGNED)
    merge = next(r for r in report.layers if r.type == "concat")
    # wide: centre (3 − 1)/2 − 1 = 0, window [−1, 1]; narrow: centre ½ − 1 = −½, window [−1, 0].
    assert merge.receptive_field is not None
    assert merge.receptive_field.to_json() == {
        "size": [3, 3],
        "stride": [2, 2],
        "offset": [0, 0],
    }
    (diag,) = [d for d in report.diagnostics if d.code == "rf-misaligned"]
    assert diag.layer == merge.name
    assert "b1 (via mix.b1.wide)" in diag.message and "b2 (via mix.b2.narrow)" in diag.message
    assert "centre 0×0" in diag.message and "centre -0.5×-0.5" in diag.message
    assert "union" in diag.message


STRIDE_MISMATCH = """
    input: 9x9x4
    layers:
      - residual:
          name: res
          body:
            - conv: {name: c1, filters: 4, kernel: 3, pad: 1}
          shortcut:
            - conv: {name: sc, filters: 4, kernel: 3, stride: 2, pad: 5}
"""


def test_stride_mismatch_names_body_and_shortcut() -> None:
    report = report_of(STRIDE_MISMATCH)
    (diag,) = [d for d in report.diagnostics if d.code == "rf-stride-mismatch"]
    assert diag.severity == "warning"
    assert "body (via res.c1) has stride 1×1" in diag.message
    assert "shortcut (via res.shortcut.sc) has stride 2×2" in diag.message
    # Exact per-unit windows: body [i − 1, i + 1]; shortcut centre 1 − 5 = −4, stride 2:
    # [2i − 5, 2i − 3]. Unit 4: [3, 5] ∪ [3, 5]; unit 8: [7, 9] ∪ [11, 13] = [7, 13].
    merge = next(r.name for r in report.layers if r.type == "add")
    assert window_of(STRIDE_MISMATCH, merge, (4, 4)).window == [(3, 5), (3, 5)]
    assert window_of(STRIDE_MISMATCH, merge, (8, 0)).window == [(7, 13), (-5, 1)]


def test_identity_shortcut_is_named() -> None:
    spec = """
        input: 8x8x4
        layers:
          - conv: {name: c0, filters: 4, kernel: 3, pad: 1}
          - residual:
              name: res
              body:
                - conv: {name: c1, filters: 4, kernel: 2, pad: [[1, 0], [1, 0]]}
    """
    report = report_of(spec)
    (diag,) = [d for d in report.diagnostics if d.code == "rf-misaligned"]
    # body: 3 + 1 = 4 wide, centre 0 + (½ − 1) = −½; the shortcut keeps c0's 3, centre 0.
    assert "body (via res.c1) has stride 1×1, centre -0.5×-0.5, size 4×4" in diag.message
    assert "identity shortcut (from c0) has stride 1×1, centre 0×0, size 3×3" in diag.message
    assert "union: size 4×4, centre -0.5×-0.5" in diag.message


def test_aligned_resnet_has_no_rf_diagnostics() -> None:
    report = analyze(load("resnet50").graph)
    assert not [d for d in report.diagnostics if d.code.startswith("rf-")]


# --- published values ---------------------------------------------------------------------------


def test_vgg16_last_pool_212_stride_32() -> None:
    # Araujo et al. (Distill 2019) table: VGG-16 at 224, field 212, effective stride 32.
    report = analyze(load("vgg16").graph)
    got = field(report, "block5.maxpool1")
    assert got["size"] == [212, 212] and got["stride"] == [32, 32]


TORCHVISION_ALEXNET = """
    name: torchvision AlexNet features
    input: 224x224x3
    layers:
      - conv: {filters: 64, kernel: 11, stride: 4, pad: 2}
      - relu
      - maxpool: {kernel: 3, stride: 2}
      - conv: {filters: 192, kernel: 5, pad: 2}
      - relu
      - maxpool: {kernel: 3, stride: 2}
      - conv: {filters: 384, kernel: 3, pad: 1}
      - relu
      - conv: {filters: 256, kernel: 3, pad: 1}
      - relu
      - conv: {filters: 256, kernel: 3, pad: 1}
      - relu
      - maxpool: {name: last, kernel: 3, stride: 2}
"""


def test_torchvision_alexnet_last_pool_195_stride_32() -> None:
    got = field(report_of(TORCHVISION_ALEXNET), "last")
    assert got["size"] == [195, 195] and got["stride"] == [32, 32]
    if "alexnet-torchvision" in bundled_names():  # the bundled spec must agree
        report = analyze(load("alexnet-torchvision").graph)
        pools = [r for r in report.layers if r.type == "maxpool"]
        assert pools[-1].receptive_field is not None
        assert pools[-1].receptive_field.to_json()["size"] == [195, 195]


# --- the `rf` command -----------------------------------------------------------------------------


def test_rf_table_and_json() -> None:
    code, out, _ = run("rf", "alexnet")
    assert code == 0
    assert "pool3" in out and "195×195" in out and "32×32" in out
    code, out, _ = run("rf", "vgg16", "--layer", "block5.maxpool1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [r["name"] for r in data["layers"]] == ["block5.maxpool1"]
    assert data["layers"][0]["receptive_field"]["size"] == [212, 212]


def test_rf_unit_window_and_padding() -> None:
    # conv2 of the course AlexNet: size 51, stride 8, offset 9. Unit 0: 9 ± 25 = [−16, 34].
    code, out, _ = run("rf", "alexnet", "--layer", "conv2", "--unit", "0,26")
    assert code == 0
    assert "rows: [-16, 34], 51 wide; 16 in padding before, 0 after; real rows 0–34" in out
    # column 26: 9 + 26·8 = 217 ± 25 = [192, 242]; the input ends at 226.
    assert "columns: [192, 242], 51 wide; 0 in padding before, 16 after" in out
    code, out, _ = run("rf", "alexnet", "-l", "conv2", "-u", "0,26", "-f", "json")
    unit = json.loads(out)["unit"]
    assert unit["window"] == [[-16, 34], [192, 242]]
    assert unit["padding"] == [[16, 0], [0, 16]]
    assert unit["inside"] == [[0, 34], [192, 226]]


def test_rf_unknown_layer_suggests() -> None:
    code, _, err = run("rf", "alexnet", "--layer", "conv22")
    assert code == 2 and "no layer named 'conv22'" in err and "did you mean 'conv2'" in err


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("27,0", "unit index 27 is out of range on axis 0"),
        ("-1,0", "out of range"),
        ("1", "has 2 spatial axes, but --unit gives 1 index"),
        ("a,b", "--unit takes integers"),
    ],
)
def test_rf_bad_unit(unit: str, message: str) -> None:
    code, _, err = run("rf", "alexnet", "--layer", "conv2", "--unit", unit)
    assert code == 2 and message in err and "Traceback" not in err


def test_rf_unit_needs_layer() -> None:
    code, _, err = run("rf", "alexnet", "--unit", "0,0")
    assert code == 2 and "--unit needs --layer" in err


# --- measured: the support of an input gradient -------------------------------------------------


MEASURED = """
    input: 23x19x1
    layers:
      - conv: {name: a, filters: 2, kernel: 3, stride: 2, pad: 1}
      - conv: {name: b, filters: 2, kernel: 3, dilation: 2}
      - avgpool: {name: c, kernel: 2, stride: 1}
      - conv: {name: d, filters: 1, kernel: [3, 5], pad: [1, 2]}
"""


def _reads(grad: Any) -> tuple[set[int], ...]:
    """Every row and column where the input gradient is not zero."""
    nonzero = (grad.abs() > 0)[0, 0]
    return tuple(
        {int(i) for i in nonzero.any(dim=1 - axis).nonzero().flatten()} for axis in range(2)
    )


def _support(grad: Any) -> list[tuple[int, int] | None]:
    """First and last row/column where the input gradient is not zero."""
    nonzero = (grad.abs() > 0)[0, 0]
    found: list[tuple[int, int] | None] = []
    for axis in range(2):
        hit = nonzero.any(dim=1 - axis).nonzero().flatten()
        found.append((int(hit.min()), int(hit.max())) if len(hit) else None)
    return found


def _measured(torch: Any, net: Any, shape: tuple[int, int], unit: tuple[int, int]) -> Any:
    """Backpropagate from one output unit (all weights 1, input 1: no cancellation)."""
    x = torch.ones(1, 1, *shape, requires_grad=True)
    net(x)[0, 0, unit[0], unit[1]].backward()
    return x.grad


def test_measured_window_matches_gradient_support() -> None:
    torch = require("torch")
    nn = torch.nn

    def ones(m: object) -> object:
        nn.init.ones_(m.weight)  # type: ignore[attr-defined]
        nn.init.zeros_(m.bias)  # type: ignore[attr-defined]
        return m

    net = nn.Sequential(
        ones(nn.Conv2d(1, 2, 3, stride=2, padding=1)),
        ones(nn.Conv2d(2, 2, 3, dilation=2)),
        nn.AvgPool2d(2, stride=1),
        ones(nn.Conv2d(2, 1, (3, 5), padding=(1, 2))),
    )
    out = net(torch.ones(1, 1, 23, 19))
    report = report_of(MEASURED)
    assert tuple(out.shape[2:]) == report.layers[-1].output_shape[:2]
    checked = 0
    for unit in [(0, 0), (0, 4), (3, 2), (5, 1), (out.shape[2] - 1, out.shape[3] - 1)]:
        grad = _measured(torch, net, (23, 19), unit)
        assert _support(grad) == window_of(MEASURED, "d", unit).inside, unit
        assert _reads(grad) == window_of(MEASURED, "d", unit).reads, unit
        checked += 1
    assert checked == 5


def test_measured_transposed_and_upsampled_windows() -> None:
    torch = require("torch")
    nn = torch.nn
    spec = """
        input: 7x6x1
        layers:
          - conv_transpose: {name: t, filters: 1, kernel: 4, stride: 2, padding: 1}
          - upsample: {name: up, scale: 2, mode: bilinear}
          - conv: {name: c, filters: 1, kernel: 3}
    """
    deconv = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1)
    conv = nn.Conv2d(1, 1, 3)
    for m in (deconv, conv):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    net = nn.Sequential(
        deconv, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv
    )
    out = net(torch.ones(1, 1, 7, 6))
    report = report_of(spec)
    assert tuple(out.shape[2:]) == report.layers[-1].output_shape[:2]
    for unit in [(0, 0), (1, 2), (5, 7), (9, 4), (out.shape[2] - 1, out.shape[3] - 1)]:
        grad = _measured(torch, net, (7, 6), unit)
        assert _support(grad) == window_of(spec, "c", unit).inside, unit
        assert _reads(grad) == window_of(spec, "c", unit).reads, unit


def test_field_window_formula_matches_unit_walk() -> None:
    # Field.window (the closed form c + i·j ± (r − 1)/2) and the exact walk agree on an
    # aligned graph.
    report = report_of(MEASURED)
    row = report.layers[-1]
    assert row.receptive_field is not None
    for unit in [(0, 0), (2, 3), (4, 1)]:
        closed = row.receptive_field.window(unit)
        walked = window_of(MEASURED, "d", unit).window
        assert [(Fraction(a), Fraction(b)) for a, b in walked] == closed  # type: ignore[misc]


def test_measured_skip_connection_window() -> None:
    # A tiny U-Net: a strided path and a skip path meet at a concat; the exact window of a
    # unit is the union of both paths' windows (which differ in stride and size from unit to
    # unit after the transposed conv).
    torch = require("torch")
    nn = torch.nn
    spec = """
        input: 16x14x1
        layers:
          - conv: {name: e1, filters: 1, kernel: 3, pad: 1}
          - avgpool: {name: down, kernel: 2}
          - conv: {name: e2, filters: 1, kernel: 3, pad: 1}
          - conv_transpose: {name: up, filters: 1, kernel: 2, stride: 2}
          - concat: {name: cat, inputs: [up, e1]}
          - conv: {name: out, filters: 1, kernel: 3, dilation: 2, pad: 2}
    """
    e1, e2 = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)
    up = nn.ConvTranspose2d(1, 1, 2, stride=2)
    out = nn.Conv2d(2, 1, 3, dilation=2, padding=2)
    for m in (e1, e2, up, out):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)

    def net(x: Any) -> Any:
        skip = e1(x)
        deep = up(e2(nn.functional.avg_pool2d(skip, 2)))
        return out(torch.cat([deep, skip], dim=1))

    report = report_of(spec)
    assert tuple(net(torch.ones(1, 1, 16, 14)).shape[2:]) == report.layers[-1].output_shape[:2]
    for unit in [(0, 0), (1, 1), (2, 5), (7, 8), (15, 13)]:
        grad = _measured(torch, net, (16, 14), unit)
        assert _support(grad) == window_of(spec, "out", unit).inside, unit
        assert _reads(grad) == window_of(spec, "out", unit).reads, unit
