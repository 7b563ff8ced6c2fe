"""Table-driven tests over the op registry: every layer type's shape rule, parameter count,
MACs and FLOPs against values derived by hand from the formulas in the comments.

Adding a layer type means adding one row here; the last test fails until you do.
"""

from __future__ import annotations

import pytest

from archcalc.ops import REGISTRY
from tests.helpers import analyse

# (op, layer YAML, input, output, params, buffers, MACs, FLOPs), each derived by hand:
ROWS = [
    # (32 + 2·2 − 5)/1 + 1 = 32; params (5·5·3 + 1)·10 = 760; MACs 32·32·10 · 5·5·3 = 768,000
    (
        "conv",
        "conv: {filters: 10, kernel: 5, pad: 2}",
        "32x32x3",
        (32, 32, 10),
        760,
        0,
        768_000,
        2 * 768_000 + 10240,
    ),
    # 1-D: (100 − 9)/1 + 1 = 92; params 9·1·4 = 36 (no bias); MACs 92·4·9 = 3312
    ("conv", "conv: {filters: 4, kernel: 9, bias: false}", "100x1", (92, 4), 36, 0, 3312, 6624),
    # dilation 2: span 5, (9 − 5)/1 + 1 = 5; params 3·3·2·3 + 3 = 57; MACs 5·5·3 · 9·2 = 1350
    (
        "conv",
        "conv: {filters: 3, kernel: 3, dilation: 2}",
        "9x9x2",
        (5, 5, 3),
        57,
        0,
        1350,
        2700 + 75,
    ),
    # depthwise: groups = 8; params 3·3·1·8 + 8 = 80; MACs 8·8·8 · 9·1 = 4608
    (
        "conv",
        "conv: {filters: 8, kernel: 3, pad: 1, groups: 8}",
        "8x8x8",
        (8, 8, 8),
        80,
        0,
        4608,
        9216 + 512,
    ),
    # non-square kernel and stride: (10 − 3)/1 + 1 = 8, (12 − 5)/... stride [1, 2]: (12 − 5)/2 + 1 = 4.5 → 4
    (
        "conv",
        "conv: {filters: 2, kernel: [3, 5], stride: [1, 2], bias: false}",
        "10x12x1",
        (8, 4, 2),
        30,
        0,
        8 * 4 * 2 * 15,
        2 * 8 * 4 * 2 * 15,
    ),
    # 'same' at stride 2: ceil(7/2) = 4
    (
        "conv",
        "conv: {filters: 1, kernel: 3, stride: 2, padding: same, bias: false}",
        "7x7x1",
        (4, 4, 1),
        9,
        0,
        16 * 9,
        32 * 9,
    ),
    # transposed: (4 − 1)·2 − 2·1 + (3 − 1) + 1 = 7; params 3·3·5·6 + 6 = 276; MACs 4·4·5 · 6 · 9 = 4320
    (
        "conv_transpose",
        "conv_transpose: {filters: 6, kernel: 3, stride: 2, pad: 1}",
        "4x4x5",
        (7, 7, 6),
        276,
        0,
        4320,
        8640 + 294,
    ),
    # (4 − 2)/2 + 1 = 2; a 2x2 max needs 3 comparisons per output
    ("maxpool", "maxpool: 2", "4x4x1", (2, 2, 1), 0, 0, 0, 4 * 3),
    # ceil_mode: (112 − 3)/2 + 1 = 55.5 → 56 (GoogLeNet's pools)
    (
        "maxpool",
        "maxpool: {kernel: 3, stride: 2, ceil_mode: true}",
        "112x112x1",
        (56, 56, 1),
        0,
        0,
        0,
        56 * 56 * 8,
    ),
    ("avgpool", "avgpool: {kernel: 2, stride: 2}", "4x4x3", (2, 2, 3), 0, 0, 0, 12 * 4),
    # bins of 13 → 6: each bin 3 wide (the bins overlap) → 6·3 per axis
    ("adaptive_avgpool", "adaptive_avgpool: 6", "13x13x2", (6, 6, 2), 0, 0, 0, 2 * 18 * 18),
    ("global_avgpool", "global_avgpool", "7x7x2048", (2048,), 0, 0, 0, 7 * 7 * 2048),
    ("global_maxpool", "global_maxpool", "7x7x4", (4,), 0, 0, 0, 48 * 4),
    # 9216·4096 + 4096 = 37,752,832 (AlexNet fc6)
    ("dense", "dense: 4096", "9216", (4096,), 37_752_832, 0, 37_748_736, 2 * 37_748_736 + 4096),
    ("flatten", "flatten", "6x6x256", (9216,), 0, 0, 0, 0),
    # gamma and beta are learned; running mean and variance are buffers
    ("batchnorm", "batchnorm", "4x4x64", (4, 4, 64), 128, 128, 0, 2 * 1024),
    ("lrn", "lrn: {size: 5}", "2x2x8", (2, 2, 8), 0, 0, 0, 32 * 13),
    ("dropout", "dropout: 0.5", "10", (10,), 0, 0, 0, 0),
    ("relu", "relu", "2x2x2", (2, 2, 2), 0, 0, 0, 8),
    ("relu6", "relu6", "2x2x2", (2, 2, 2), 0, 0, 0, 16),
    ("leaky_relu", "leaky_relu: 0.2", "2x2x2", (2, 2, 2), 0, 0, 0, 16),
    ("sigmoid", "sigmoid", "10", (10,), 0, 0, 0, 40),
    ("tanh", "tanh", "10", (10,), 0, 0, 0, 50),
    ("gelu", "gelu", "10", (10,), 0, 0, 0, 50),
    ("silu", "silu", "10", (10,), 0, 0, 0, 50),
    # min(max(x/6 + 1/2, 0), 1): multiply, add, two comparisons = 4 per element
    ("hardsigmoid", "hardsigmoid", "2x2x2", (2, 2, 2), 0, 0, 0, 32),
    # x times the hard sigmoid: 5 per element
    ("hardswish", "hardswish", "10", (10,), 0, 0, 0, 50),
    # one comparison per bound per element
    ("clip", "clip: {low: -1, high: 1}", "10", (10,), 0, 0, 0, 20),
    ("clip", "clip: {min: 0}", "10", (10,), 0, 0, 0, 10),
    ("affine", "affine: {scale: [2, 3, 4], shift: -1}", "2x2x3", (2, 2, 3), 0, 0, 0, 24),
    ("affine", "affine: {scale: 0.5}", "2x2x3", (2, 2, 3), 0, 0, 0, 12),
    ("crop", "crop: [1, 2, 0, 3]", "10x10x2", (7, 7, 2), 0, 0, 0, 0),
    ("crop", "crop: 2", "9x4", (5, 4), 0, 0, 0, 0),
    # exp per element, 9 adds and 10 divisions for one vector of 10
    ("softmax", "softmax", "10", (10,), 0, 0, 0, 29),
    ("zeropad", "zeropad: [1, 2, 0, 3]", "4x4x1", (7, 7, 1), 0, 0, 0, 0),
    ("upsample", "upsample: 2", "3x3x4", (6, 6, 4), 0, 0, 0, 0),
    ("upsample", "upsample: {scale: 2, mode: bilinear}", "3x3x4", (6, 6, 4), 0, 0, 0, 3 * 2 * 144),
    ("identity", "identity", "3x3x4", (3, 3, 4), 0, 0, 0, 0),
    # keeps channels 0 and 2 of 3, in that order; moves data, computes nothing
    ("channel_slice", "channel_slice: [2, 0]", "4x4x3", (4, 4, 2), 0, 0, 0, 0),
]

# Merges take two branches; the row's layer is applied to `relu` and `sigmoid` of the input.
MERGE_ROWS = [
    ("add", "4x4x3", (4, 4, 3), 48),
    ("concat", "4x4x3", (4, 4, 6), 0),
    ("mul", "4x4x3", (4, 4, 3), 48),
    ("sub", "4x4x3", (4, 4, 3), 48),
    ("div", "4x4x3", (4, 4, 3), 48),
]


def test_mul_broadcasts_a_gate() -> None:
    # squeeze-and-excitation: a 1x1xC gate scales every position, one multiply per element
    report = analyse(
        "input: 5x6x8\nlayers:\n  - global_avgpool: {name: g, keepdims: true}\n"
        "  - sigmoid\n  - mul: {inputs: [input, sigmoid1]}\n"
    )
    row = report.layers[-1]
    assert (row.output_shape, row.flops) == ((5, 6, 8), 5 * 6 * 8)
    bad = analyse("input: 5x6x8\nlayers:\n  - maxpool: 2\n  - mul: {inputs: [input, maxpool1]}\n")
    assert bad.has_errors


@pytest.mark.parametrize(
    ("op", "layer", "shape", "out", "params", "buffers", "macs", "flops"),
    ROWS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)],
)
def test_op_rules(
    op: str,
    layer: str,
    shape: str,
    out: tuple[int, ...],
    params: int,
    buffers: int,
    macs: int,
    flops: int,
) -> None:
    report = analyse(f"input: {shape}\nlayers:\n  - {layer}\n")
    row = report.layers[0]
    assert row.type == op
    assert row.output_shape == out
    assert (row.params, row.buffers, row.macs, row.flops) == (params, buffers, macs, flops)
    assert not report.has_errors


@pytest.mark.parametrize(("op", "shape", "out", "flops"), MERGE_ROWS)
def test_merge_rules(op: str, shape: str, out: tuple[int, ...], flops: int) -> None:
    report = analyse(
        f"input: {shape}\nlayers:\n  - relu: {{name: a, inputs: [input]}}\n  - sigmoid: {{name: b, inputs: [input]}}\n  - {op}: {{inputs: [a, b]}}\n"
    )
    row = report.layers[-1]
    assert (row.type, row.output_shape, row.params, row.flops) == (op, out, 0, flops)


def test_every_op_has_a_row() -> None:
    covered = {r[0] for r in ROWS} | {r[0] for r in MERGE_ROWS}
    assert set(REGISTRY) - covered == set(), "add a row for each new layer type"


def test_batch_scales_costs_not_params() -> None:
    one = analyse("input: 8x8x3\nlayers: [conv: {filters: 4, kernel: 3}]")
    four = analyse("input: 8x8x3\nlayers: [conv: {filters: 4, kernel: 3}]", batch=4)
    assert four.totals.macs == 4 * one.totals.macs
    assert four.totals.activation_bytes == 4 * one.totals.activation_bytes
    assert four.totals.params == one.totals.params


def test_dtype_sets_bytes() -> None:
    r = analyse("input: 8x8x3\nlayers: [conv: {filters: 4, kernel: 3}]", dtype="float16")
    assert r.totals.param_bytes == 2 * (3 * 3 * 3 * 4 + 4)
    assert r.layers[0].activation_bytes == 2 * 6 * 6 * 4


def test_frozen_layers_are_not_trainable() -> None:
    r = analyse(
        "input: 8x8x3\nlayers:\n  - conv: {filters: 4, kernel: 3, trainable: false}\n  - batchnorm\n"
    )
    assert r.totals.params == 112 + 8
    assert r.totals.trainable_params == 8
    assert r.totals.buffers == 8
    assert r.totals.keras_params == 128
