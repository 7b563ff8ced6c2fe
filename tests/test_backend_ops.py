"""Every op's forward, through the registry, against PyTorch on the same weights and input.

Table-driven over REGISTRY: an op without a row fails ``test_every_op_has_a_row``. Each row is
a small spec; the test runs it with archcalc's executor (the op's own ``forward``) and with the
torch translation of the same graph, and checks the output against torch (rtol 1e-4), the
output shape against the analysed one, and the arrays read against the analysed parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from archcalc.analysis import analyze
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.diagnostics import Diagnostics
from archcalc.ops import REGISTRY
from archcalc.spec import load
from tests.oracles import require


def spec(input_shape: str, *layers: str) -> str:
    return f"input: {input_shape}\nlayers:\n" + "".join(f"  - {line}\n" for line in layers)


# op name -> specs exercising it (geometry variants: stride, padding forms, dilation, groups).
ROWS: dict[str, list[str]] = {
    "conv": [
        spec("9x11x3", "conv: {filters: 4, kernel: 3, stride: 2, pad: 1}"),
        spec(
            "10x9x4",
            "conv: {filters: 6, kernel: [3, 2], dilation: 2, groups: 2, pad: [2, 1, 0, 1]}",
        ),
        spec("8x8x4", "conv: {filters: 8, kernel: 3, groups: 4, padding: same, bias: false}"),
        spec("7x7x5", "conv: {filters: 3, kernel: 1, stride: 2}"),
        spec("12x4", "conv: {filters: 5, kernel: 3, stride: 2, pad: 1}"),  # 1-D
        spec(
            "6x5x1",
            "conv: {filters: 1, kernel: 3, flip: true, weights: [[1, 2, 0], [0, -1, 3], [4, 0, 0]]}",
        ),
    ],
    "conv_transpose": [
        spec(
            "5x6x4", "conv_transpose: {filters: 3, kernel: 3, stride: 2, pad: 1, output_padding: 1}"
        ),
        spec("4x4x4", "conv_transpose: {filters: 4, kernel: 2, stride: 2, groups: 2, bias: false}"),
    ],
    "maxpool": [
        spec("4x4x1", "maxpool: {kernel: 2, stride: 2}"),
        spec("13x12x3", "maxpool: {kernel: 3, stride: 2, pad: 1, ceil_mode: true}"),
        spec("11x11x2", "maxpool: {kernel: 2, stride: 1, dilation: 2}"),
    ],
    "avgpool": [
        spec("4x4x1", "avgpool: {kernel: 2}"),
        spec("9x10x3", "avgpool: {kernel: 3, stride: 2, pad: 1, count_include_pad: false}"),
        spec("9x10x3", "avgpool: {kernel: 3, stride: 2, pad: 1, ceil_mode: true}"),
    ],
    "adaptive_avgpool": [
        spec("7x9x3", "adaptive_avgpool: {size: [3, 4]}"),
        spec("8x8x2", "adaptive_avgpool: 2"),
    ],
    "global_avgpool": [
        spec("5x6x4", "global_avgpool"),
        spec("5x6x4", "global_avgpool: {keepdims: true}"),
    ],
    "global_maxpool": [spec("5x6x4", "global_maxpool")],
    "dense": [
        spec("3x4x5", "flatten", "dense: 7"),
        spec("3x4x5", "dense: {units: 6, bias: false}"),  # per position on a feature map
    ],
    "flatten": [spec("3x4x5", "flatten", "dense: 3")],
    "batchnorm": [
        spec("5x5x6", "batchnorm: {eps: 0.001}"),
        spec("5x5x6", "batchnorm: {affine: false}"),
    ],
    "lrn": [spec("5x5x9", "lrn: {size: 5, alpha: 0.0001, beta: 0.75, k: 2}")],
    "dropout": [spec("5x5x3", "dropout: 0.5")],
    "relu": [spec("6x6x3", "relu")],
    "relu6": [spec("6x6x3", "relu6")],
    "leaky_relu": [spec("6x6x3", "leaky_relu: 0.2")],
    "sigmoid": [spec("6x6x3", "sigmoid")],
    "tanh": [spec("6x6x3", "tanh")],
    "gelu": [spec("6x6x3", "gelu")],
    "silu": [spec("6x6x3", "silu")],
    "hardsigmoid": [spec("6x6x3", "hardsigmoid"), spec("6x6x3", "hardsigmoid: {alpha: 0.2}")],
    "hardswish": [spec("6x6x3", "hardswish")],
    "clip": [spec("6x6x3", "clip: {low: -0.5, high: 0.25}"), spec("6x6x3", "clip: {max: 0.1}")],
    "softmax": [spec("3x3x10", "softmax"), spec("10", "softmax")],
    "add": [spec("6x6x4", "residual: {body: [{conv: {filters: 4, kernel: 3, pad: 1}}]}")],
    "concat": [
        spec(
            "6x6x4",
            "parallel: {branches: [[{conv: {filters: 2, kernel: 1}}], [{maxpool: {kernel: 3, stride: 1, pad: 1}}]]}",
        )
    ],
    "sub": [spec("6x6x4", "silu", "sub: {inputs: [input, silu1]}")],
    "div": [
        spec(
            "5x7x4",
            "global_avgpool: {keepdims: true}",
            "sigmoid",
            "div: {inputs: [input, sigmoid1]}",
        )
    ],
    "mul": [
        spec("6x6x4", "silu", "mul: {inputs: [input, silu1]}"),
        spec(
            "5x7x4",
            "global_avgpool: {keepdims: true}",
            "conv: {filters: 4, kernel: 1}",
            "hardsigmoid",
            "mul: {inputs: [input, hardsigmoid1]}",
        ),
        # two gates first: the product widens only at the third input
        spec(
            "5x7x4",
            "global_avgpool: {keepdims: true}",
            "sigmoid",
            "mul: {inputs: [sigmoid1, global_avgpool1, input]}",
        ),
    ],
    "zeropad": [spec("4x5x2", "zeropad: [1, 2, 0, 3]")],
    "upsample": [
        spec("4x5x2", "upsample: 2"),
        spec("4x5x2", "upsample: {scale: [2, 3], mode: bilinear}"),
    ],
    "identity": [spec("4x5x2", "identity")],
    "crop": [spec("6x7x3", "crop: [1, 2, 0, 3]"), spec("9x3", "crop: 2")],
    "affine": [
        spec("4x5x3", "affine: {scale: [0.5, 2, -1], shift: [0.1, 0, -0.3]}"),
        spec("6x3", "affine: {scale: 0.25, shift: 1}"),
    ],
    "channel_slice": [spec("4x5x6", "channel_slice: [4, 0, 2]", "conv: {filters: 2, kernel: 3}")],
}

CASES = [(op, i, text) for op, texts in ROWS.items() for i, text in enumerate(texts)]


def test_every_op_has_a_row() -> None:
    missing = sorted(set(REGISTRY) - set(ROWS))
    assert not missing, f"ops with no forward-vs-torch row: {missing}"


def _run(text: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    torch = require("torch")
    from tests.torch_graph import TorchNet, from_nchw, to_nchw

    graph = load("row.yaml", text=text).graph
    report = analyze(graph, batch=2)
    assert not report.has_errors, [d.message for d in report.diagnostics]
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed)
    rng = np.random.default_rng(seed + 7)
    x = rng.standard_normal((2, *graph.input_shape)).astype(np.float32)
    run = ex.execute(graph, layers, params, x)
    net = TorchNet(graph, layers, params)
    with torch.no_grad():
        t_in = to_nchw(x) if x.ndim > 2 else torch.from_numpy(x)
        expected = from_nchw(net(t_in))
    facts = {
        "rows": {r.name: r for r in report.layers},
        "runs": run.layers,
        "graph": graph,
        "layers": layers,
    }
    return run.output, expected, facts


@pytest.mark.parametrize(("op", "case", "text"), CASES, ids=[f"{op}-{i}" for op, i, _ in CASES])
def test_forward_matches_torch(op: str, case: int, text: str) -> None:
    ours, theirs, facts = _run(text)
    graph = facts["graph"]
    assert any(n.op.name == op for n in graph.nodes)  # type: ignore[attr-defined]
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    rows = facts["rows"]
    for run in facts["runs"]:  # type: ignore[attr-defined]
        row = rows[run.name]  # type: ignore[index]
        assert run.output_shape == row.output_shape, run.name
        weights = sum(int(np.prod(s)) for k, s in run.used.items() if k in row.weights)
        assert weights == row.params, run.name
        assert run.macs == row.macs, run.name


def test_batch_size_is_free() -> None:
    """The same layer gives the same per-sample answer at batch 1 and batch 5."""
    graph = load(
        "b.yaml", text=spec("9x9x3", "conv: {filters: 4, kernel: 3, stride: 2}", "relu")
    ).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, 3)
    x = np.random.default_rng(0).standard_normal((5, 9, 9, 3)).astype(np.float32)
    whole = ex.execute(graph, layers, params, x).output
    one = ex.execute(graph, layers, params, x[2:3]).output
    np.testing.assert_allclose(whole[2:3], one, rtol=1e-6)


def test_analysis_does_not_import_numpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, archcalc.ops, archcalc.analysis, archcalc.cli;"
        "from archcalc.spec import load; from archcalc.analysis import analyze;"
        "analyze(load('resnet50').graph);"
        "print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
