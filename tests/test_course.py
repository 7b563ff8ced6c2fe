"""The course notes' worked examples (shared/seeds/), each checked by the analysis."""

from __future__ import annotations

import pytest

from tests.helpers import analyse


@pytest.mark.parametrize(("stride", "out"), [(1, 5), (2, 3)])
def test_7x7_input_3x3_filter_fits(stride: int, out: int) -> None:
    # (7 − 3)/1 + 1 = 5 and (7 − 3)/2 + 1 = 3
    report = analyse(f"input: 7x7x1\nlayers: [conv: {{filters: 1, kernel: 3, stride: {stride}}}]")
    assert report.layers[0].output_shape == (out, out, 1)
    assert report.diagnostics == []


def test_7x7_input_3x3_filter_stride_3_does_not_fit() -> None:
    report = analyse("input: 7x7x1\nlayers: [conv: {filters: 1, kernel: 3, stride: 3}]")
    [d] = report.diagnostics
    assert d.severity == "warning" and d.code == "stride-fit"
    assert "doesn't fit" in d.message
    assert "(7 − 3)/3 + 1 = 2.33" in d.message
    assert "1 input row at the bottom and 1 input column at the right are never seen" in d.message
    # the nearest fixes: pad 1 → (7 + 2 − 3)/3 + 1 = 3; stride 2 or 4; input 6 or 9
    assert "pad 1 (→ 3)" in d.hint and "stride 2 (→ 3)" in d.hint and "stride 4 (→ 2)" in d.hint
    assert "6 (→ 2)" in d.hint and "9 (→ 3)" in d.hint
    assert report.layers[0].output_shape == (2, 2, 1)  # what frameworks produce by flooring


def test_stride_3_is_an_error_in_strict_mode() -> None:
    report = analyse(
        "input: 7x7x1\nstrict: true\nlayers: [conv: {filters: 1, kernel: 3, stride: 3}]"
    )
    assert report.has_errors
    assert report.diagnostics[0].severity == "error"
    flag = analyse("input: 7x7x1\nlayers: [conv: {filters: 1, kernel: 3, stride: 3}]", strict=True)
    assert flag.has_errors


def test_7x7_pad_1_keeps_size() -> None:
    # "pad with 1 pixel border => 7x7 output"; (F − 1)/2 padding preserves size for F = 3, 5, 7
    for f in (3, 5, 7):
        r = analyse(
            f"input: 7x7x1\nlayers: [conv: {{filters: 1, kernel: {f}, pad: {(f - 1) // 2}}}]"
        )
        assert r.layers[0].output_shape == (7, 7, 1)


def test_32x32x3_ten_5x5_filters_pad_2() -> None:
    report = analyse("input: 32x32x3\nlayers: [conv: {filters: 10, kernel: 5, stride: 1, pad: 2}]")
    row = report.layers[0]
    assert row.output_shape == (32, 32, 10)
    assert row.params == (5 * 5 * 3 + 1) * 10 == 760


def test_six_5x5_filters_give_28x28x6() -> None:
    assert analyse("input: 32x32x3\nlayers: [conv: {filters: 6, kernel: 5}]").layers[
        0
    ].output_shape == (28, 28, 6)


def test_repeated_5x5_convs_shrink_32_28_24() -> None:
    r = analyse("input: 32x32x3\nlayers:\n  - repeat: 2\n    conv: {filters: 8, kernel: 5}\n")
    assert [row.output_shape[:2] for row in r.layers if row.output_shape] == [(28, 28), (24, 24)]


def test_1x1_conv_reduces_depth() -> None:
    # 56x56x64 → 56x56x32 with 1x1x64 filters: 64·32 + 32 = 2,080 parameters
    row = analyse("input: 56x56x64\nlayers: [conv: {filters: 32, kernel: 1}]").layers[0]
    assert row.output_shape == (56, 56, 32)
    assert row.params == 2080


def test_fully_connected_on_32x32x3_stretches_to_3072() -> None:
    r = analyse("input: 32x32x3\nlayers: [flatten, dense: 10]")
    assert r.layers[0].output_shape == (3072,)
    assert r.layers[1].params == 3072 * 10 + 10


def test_pooling_4x4_slice_2x2_stride_2() -> None:
    row = analyse("input: 4x4x1\nlayers: [maxpool: {kernel: 2, stride: 2}]").layers[0]
    assert row.output_shape == (2, 2, 1)
    assert row.params == 0  # "introduces zero parameters"


def test_pool_output_formula_w2() -> None:
    # W2 = (W1 − F)/S + 1, D2 = D1
    row = analyse("input: 224x224x64\nlayers: [maxpool: {kernel: 2, stride: 2}]").layers[0]
    assert row.output_shape == (112, 112, 64)
