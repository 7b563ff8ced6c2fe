"""PyTorch and ONNX export, checked by running what was written: the generated nn.Module with
the exported state dict (PyTorch), and the exported model (onnxruntime), against the NumPy
backend's output on the same weights; parameters and layer shapes against the analysis."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archcalc.analysis import analyze
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.diagnostics import Diagnostics
from archcalc.interop.torch_export import build_module, class_name, module_paths
from archcalc.shapes import parse_shape
from archcalc.spec import load
from tests.helpers import cli
from tests.oracles import require

# Every op and the padding forms PyTorch's layers cannot express themselves.
EVERY_OP = """
    name: every op
    input: 19x17x3
    layers:
      - conv: {name: stem, filters: 8, kernel: 3, stride: 2, padding: same}
      - batchnorm
      - hardswish
      - conv: {filters: 8, kernel: [3, 2], padding: [0, 1, 1, 0], groups: 8, bias: false}
      - relu6: {name: act}
      - global_avgpool: {keepdims: true}
      - conv: {filters: 8, kernel: 1}
      - hardsigmoid: {alpha: 0.2, beta: 0.5}
      - mul: {name: gated, inputs: [act, hardsigmoid1]}
      - maxpool: {kernel: 3, stride: 2, padding: same}
      - avgpool: {kernel: 3, stride: 1, padding: same, count_include_pad: false}
      - avgpool: {kernel: 2, stride: 1, padding: [0, 1, 0, 1]}
      - lrn: 3
      - zeropad: [1, 0, 0, 2]
      - parallel:
          name: mix
          branches:
            - [conv: {filters: 4, kernel: 1}, leaky_relu: 0.1]
            - [channel_slice: [0, 3, 5], sigmoid]
            - [maxpool: {kernel: 3, stride: 1, pad: 1, ceil_mode: true}, tanh]
      - residual:
          body: [conv: {filters: 15, kernel: 3, pad: 1, dilation: 1}, silu]
      - conv_transpose: {filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}
      - upsample: {scale: 2, mode: bilinear}
      - upsample: [1, 2]
      - adaptive_avgpool: [4, 2]
      - gelu
      - clip: {low: -0.5, high: 0.5}
      - flatten
      - batchnorm: {name: flat_bn}
      - dropout: 0.2
      - dense: {name: fc, units: 5}
      - softmax
"""
ONE_D = """
    name: one-d
    input: 33x2
    layers:
      - conv: {filters: 4, kernel: 5, stride: 2, padding: same}
      - maxpool: 2
      - flatten
      - dense: 3
"""
INLINE = {"every-op": EVERY_OP, "one-d": ONE_D}
BUNDLED = {
    "resnet18": "64x64x3",
    "mobilenet_v2": "64x64x3",
    "googlenet": "96x96x3",
    "squeezenet1_0": "96x96x3",
    "alexnet": None,
    "unet": "64x64x1",
    "lenet5-1998": None,
}


def _spec(name: str, tmp_path: Path) -> tuple[str, str | None]:
    if name in INLINE:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(INLINE[name]))
        return str(path), None
    return name, BUNDLED[name]


def _backend(spec: str, shape: str | None, x_cl: np.ndarray) -> tuple[Any, Any, Any]:
    loaded = load(spec)
    graph = loaded.graph
    if shape is not None:
        graph.input_shape = parse_shape(shape)
    layers = infer_shapes(graph, Diagnostics(), graph.strict)
    params = ex.init_params(graph, layers, 0)  # what export writes (seed 0)
    return graph, layers, ex.execute(graph, layers, params, x_cl).output


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    # float32 sums in a different order: errors scale with the output's magnitude (random
    # He-initialised nets give logits in the tens)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def _input(graph_shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((2, *graph_shape)).astype(np.float32)


def _to_nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


@pytest.mark.parametrize("name", [*INLINE, *BUNDLED])
def test_pytorch_export_runs_and_matches_the_backend(name: str, tmp_path: Path) -> None:
    torch = require("torch")
    spec, shape = _spec(name, tmp_path)
    code, weights = tmp_path / "net.py", tmp_path / "net.pt"
    args = ["export", spec, "--to", "pytorch", "-o", str(code), "--weights", str(weights)]
    result = cli(*args, *(["--input", shape] if shape else []))
    assert result.exit_code == 0, result.output

    graph = load(spec).graph
    if shape is not None:
        graph.input_shape = parse_shape(shape)
    report = analyze(graph, diagnostics=Diagnostics())
    module = build_module(code.read_text(), class_name(graph))
    module.load_state_dict(torch.load(weights))  # strict: every key and shape
    module.eval()
    assert sum(p.numel() for p in module.parameters()) == report.totals.params
    assert sum(b.numel() for n, b in module.named_buffers() if "running" in n) == (
        report.totals.buffers
    )

    x = _input(graph.input_shape)
    graph, _, expected = _backend(spec, shape, x)
    seen: dict[str, tuple[int, ...]] = {}
    paths = {p: n for n, p in module_paths(graph).items()}
    for path, m in module.named_modules():
        if path in paths:
            m.register_forward_hook(
                lambda mod, i, o, key=paths[path]: seen.__setitem__(key, tuple(o.shape[1:]))
            )
    with torch.no_grad():
        got = module(torch.from_numpy(_to_nchw(x))).numpy()
    got = got if got.ndim == 2 else np.moveaxis(got, 1, -1)
    _close(got, expected)
    rows = {r.name: r.output_shape for r in report.layers}
    checked = 0
    for node in graph.nodes:
        if node.op.name in ("conv", "conv_transpose", "maxpool", "dense", "batchnorm"):
            s = seen[node.name]
            assert (s if len(s) == 1 else (*s[1:], s[0])) == rows[node.name], node.name
            checked += 1
    assert checked


@pytest.mark.parametrize("name", ["every-op", "resnet18", "googlenet"])
def test_onnx_export_runs_in_onnxruntime(name: str, tmp_path: Path) -> None:
    ort = require("onnxruntime")
    require("onnx")
    require("torch")
    spec, shape = _spec(name, tmp_path)
    out = tmp_path / "net.onnx"
    result = cli(
        "export", spec, "--to", "onnx", "-o", str(out), *(["--input", shape] if shape else [])
    )
    assert result.exit_code == 0, result.output
    graph = load(spec).graph
    if shape is not None:
        graph.input_shape = parse_shape(shape)
    x = _input(graph.input_shape)
    _, _, expected = _backend(spec, shape, x)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = np.concatenate(
        [session.run(None, {"input": _to_nchw(x[i : i + 1])})[0] for i in range(len(x))]
    )  # the model takes one sample
    got = got if got.ndim == 2 else np.moveaxis(got, 1, -1)
    _close(got, expected)
    if name in INLINE:
        return  # a hardsigmoid with its own alpha exports as Mul/Add/Clip, which is not read back
    # archcalc reads its own export back with the same figures
    a = analyze(load(str(out)).graph, diagnostics=Diagnostics()).totals
    b = analyze(graph, diagnostics=Diagnostics()).totals
    assert (a.params, a.macs) == (b.params, b.macs)


def test_export_never_overwrites_its_spec(tmp_path: Path) -> None:
    spec = tmp_path / "n.yaml"
    spec.write_text(textwrap.dedent(ONE_D))
    before = spec.read_text()
    result = cli("export", str(spec), "--to", "pytorch", "-o", str(spec))
    assert result.exit_code == 2 and "refusing to write over" in result.output
    assert spec.read_text() == before
