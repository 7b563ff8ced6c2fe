"""PyTorch and ONNX export, checked by running what was written: the generated nn.Module with
the exported state dict (PyTorch), and the exported model (onnxruntime), against the NumPy
backend's output on the same weights; parameters and layer shapes against the analysis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from archcalc.analysis import analyze
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.diagnostics import Diagnostics
from archcalc.interop.torch_export import WIDTH, build_module, torch_code
from archcalc.shapes import parse_shape
from archcalc.spec import load
from tests.helpers import cli, examples
from tests.oracles import require
from tests.strategies import valid_nets

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
IMPORTED_OPS = """
    name: imported ops
    input: 12x10x2
    layers:
      - affine: {name: norm, scale: [2, 0.5], shift: -1}
      - conv: {name: c1, filters: 4, kernel: 3, padding: 1}
      - crop: {name: cut, cropping: [1, 2, 0, 3]}
      - conv: {name: c2, filters: 4, kernel: 1}
      - sub: {name: diff, inputs: [c2, cut]}
      - global_avgpool: {name: g, keepdims: true}
      - sigmoid: {name: s}
      - div: {name: ratio, inputs: [diff, s]}
      - affine: {name: half, scale: 0.5}
      - flatten
      - dense: 3
"""  # the ops the importers brought: input normalisation, Keras' Cropping2D, ONNX Sub/Div
INLINE = {"every-op": EVERY_OP, "one-d": ONE_D, "imported-ops": IMPORTED_OPS}
BUNDLED = {
    "resnet18": "64x64x3",
    "resnet50": "32x32x3",
    "densenet121": "32x32x3",
    "inception_v3": "75x75x3",
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
    generated = torch_code(graph, infer_shapes(graph, Diagnostics(), graph.strict), spec)
    assert code.read_text() == generated.source
    for check in (["check"], ["format", "--check", "--line-length", str(WIDTH)]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--isolated", str(code)],
            capture_output=True,
            text=True,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
    module = build_module(generated.source, generated.class_name)
    module.load_state_dict(torch.load(weights))  # strict: every key and shape
    module.eval()
    assert sum(p.numel() for p in module.parameters()) == report.totals.params
    assert sum(b.numel() for n, b in module.named_buffers() if "running" in n) == (
        report.totals.buffers
    )

    x = _input(graph.input_shape)
    graph, _, expected = _backend(spec, shape, x)
    seen: dict[str, tuple[int, ...]] = {}
    paths = {p: n for n, p in generated.paths.items()}
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


# Every bundled spec for the ONNX writer, at an input small enough to keep the run short (None:
# the spec's own). VGG's time is its 100+ million weights, not its input: VGG-16 and -19, which
# are VGG-11's ops at more depth, are left out (about 30 s each).
ONNX_INPUTS = {
    "alexnet": None,
    "alexnet-2012-grouped": "99x99x3",
    "alexnet-torchvision": "64x64x3",
    "cs231n-conv-example": None,
    "densenet121": "32x32x3",
    "googlenet": "96x96x3",
    "inception_v3": "75x75x3",
    "lenet5": None,
    "lenet5-1998": None,
    "mobilenet_v2": "32x32x3",
    "resnet18": "64x64x3",
    "resnet34": "32x32x3",
    "resnet50": "32x32x3",
    "resnet101": "32x32x3",
    "resnet152": "32x32x3",
    "squeezenet1_0": "64x64x3",
    "unet": "32x32x1",
    "vgg11": "32x32x3",
    "welcome-1d": None,
    "zfnet": "99x99x3",
}


def test_every_bundled_spec_is_exported_to_onnx() -> None:
    from archcalc.zoo import bundled_names

    assert sorted([*ONNX_INPUTS, "vgg16", "vgg19"]) == sorted(bundled_names())


def _export_onnx(spec: str, shape: str | None, out: Path) -> None:
    result = cli(
        "export", spec, "--to", "onnx", "-o", str(out), *(["--input", shape] if shape else [])
    )
    assert result.exit_code == 0, result.output


def _run_onnx(ort: Any, path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": _to_nchw(x)})[0]  # the batch axis is free
    return np.asarray(got if got.ndim == 2 else np.moveaxis(got, 1, -1))


@pytest.mark.parametrize("name", [*INLINE, *ONNX_INPUTS])
def test_onnx_export_runs_in_onnxruntime(name: str, tmp_path: Path) -> None:
    ort = require("onnxruntime")
    onnx = require("onnx")
    spec, shape = (_spec(name, tmp_path)[0], None) if name in INLINE else (name, ONNX_INPUTS[name])
    out = tmp_path / "net.onnx"
    _export_onnx(spec, shape, out)
    onnx.checker.check_model(str(out), full_check=True)
    graph = load(spec).graph
    if shape is not None:
        graph.input_shape = parse_shape(shape)
    model = onnx.load(str(out), load_external_data=False)
    assert {n.name for n in graph.nodes} <= {n.name for n in model.graph.node}
    report = analyze(graph, diagnostics=Diagnostics())
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim[1:]]
        for v in (*model.graph.value_info, *model.graph.output)
    }
    for row in report.layers:  # every layer's tensor has its analysed shape, channels first
        nchw = list(row.output_shape[-1:]) + list(row.output_shape[:-1])
        assert shapes[row.name] == (nchw if len(nchw) > 1 else list(row.output_shape)), row.name

    x = _input(graph.input_shape)
    _, _, expected = _backend(spec, shape, x)
    _close(_run_onnx(ort, out, x), expected)


# An adaptive pool whose bins are all alike is written as the plain pool it is.
_SAME_OP = {"adaptive_avgpool": "avgpool"}


def _figures(spec: str, shape: str | None) -> dict[str, Any]:
    args = ["summarize", spec, "--format", "json", *(["--input", shape] if shape else [])]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.stdout)
    rows = [
        (_SAME_OP.get(r["type"], r["type"]), r["output_shape"], r["params"], r["macs"])
        for r in report["layers"]
        if r["params"] or r["macs"] or r["type"] not in ("dropout", "identity")
    ]
    totals = {k: report["totals"][k] for k in ("params", "buffers", "macs", "flops")}
    return {"totals": totals, "layers": rows}


@pytest.mark.parametrize("name", sorted(ONNX_INPUTS))
def test_onnx_export_imports_back_with_the_spec_figures(name: str, tmp_path: Path) -> None:
    """spec → export --to onnx → import → summarize: the spec's own figures, layer by layer, at
    the spec's own input (nothing runs)."""
    require("onnx")
    out, written = tmp_path / "net.onnx", tmp_path / "net.yaml"
    _export_onnx(name, None, out)
    result = cli("import", str(out), "-o", str(written))
    assert result.exit_code == 0, result.output
    assert _figures(str(written), None) == _figures(name, None)


def test_export_never_overwrites_its_spec(tmp_path: Path) -> None:
    spec = tmp_path / "n.yaml"
    spec.write_text(textwrap.dedent(ONE_D))
    before = spec.read_text()
    result = cli("export", str(spec), "--to", "pytorch", "-o", str(spec))
    assert result.exit_code == 2 and "refusing to write over" in result.output
    assert spec.read_text() == before


GATES = """
    name: gates
    input: 9x9x4
    layers:
      - conv: {name: conv, filters: 8, kernel: 3, padding: 1}
      - hardswish: {name: act}
      - global_avgpool: {name: squeeze, keepdims: true}
      - conv: {name: reduce, filters: 2, kernel: 1}
      - relu
      - conv: {name: expand, filters: 8, kernel: 1}
      - hardsigmoid: {name: gate, alpha: 0.2, beta: 0.4}
      - mul: {name: scaled, inputs: [act, gate]}
      - global_avgpool: {name: pool}
      - dense: {name: fc, units: 3}
"""


def test_hardsigmoid_with_its_own_alpha_and_beta_survives_onnx_and_back(tmp_path: Path) -> None:
    require("onnx")
    spec, out, written = tmp_path / "gates.yaml", tmp_path / "gates.onnx", tmp_path / "back.yaml"
    spec.write_text(textwrap.dedent(GATES))
    _export_onnx(str(spec), None, out)
    result = cli("import", str(out), "-o", str(written))
    assert result.exit_code == 0, result.output
    assert "hardsigmoid: {name: gate, alpha: 0.2, beta: 0.4}" in written.read_text()
    assert _figures(str(written), None) == _figures(str(spec), None)

    # the imported model, with the weights the file carries, computes what the spec computes
    back = load(str(out)).graph
    layers = infer_shapes(back, Diagnostics(), back.strict)
    params = ex.init_params(back, layers, given=back.weights, random_missing=False)
    x = _input(back.input_shape)
    _, _, expected = _backend(str(spec), None, x)
    _close(ex.execute(back, layers, params, x).output, expected)


def test_every_op_has_an_onnx_translation() -> None:
    from archcalc.interop.onnx_export import EMITTERS
    from archcalc.ops import REGISTRY

    assert set(EMITTERS) == set(REGISTRY)


def test_an_op_without_onnx_translation_names_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("onnx")
    from archcalc.interop import onnx_export

    monkeypatch.delitem(onnx_export.EMITTERS, "lrn")
    out = tmp_path / "alexnet.onnx"
    result = cli("export", "alexnet", "--to", "onnx", "-o", str(out))
    assert result.exit_code == 2
    assert "layer 'norm1' (lrn) has no ONNX translation" in result.output
    assert not out.exists()


def test_onnx_export_without_onnx_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed: import raises
    out = tmp_path / "lenet.onnx"
    result = cli("export", "lenet5", "--to", "onnx", "-o", str(out))
    assert result.exit_code == 2
    assert "pip install 'archcalc[onnx]'" in result.output
    assert not out.exists()


@settings(max_examples=examples(25, ci=200), deadline=None)
@given(valid_nets())
def test_onnx_export_of_random_nets_runs_as_the_backend(text: str) -> None:
    """Every op in every form the strategy draws (odd sizes, same padding, ceil mode, groups,
    dilation, broadcasting merges, ...): onnxruntime computes what the NumPy backend does."""
    ort = require("onnxruntime")
    onnx = require("onnx")
    from archcalc.interop.onnx_export import onnx_model
    from archcalc.interop.torch_export import torch_arrays

    graph = load("net.yaml", text).graph
    layers = infer_shapes(graph, Diagnostics(), graph.strict)
    params = ex.init_params(graph, layers, 0)
    model = onnx_model(graph, layers, torch_arrays(graph, layers, params))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = _input(graph.input_shape)
    got = session.run(None, {"input": _to_nchw(x)})[0]
    got = got if got.ndim == 2 else np.moveaxis(got, 1, -1)
    _close(got, ex.execute(graph, layers, params, x).output)


@settings(max_examples=examples(25, ci=200), deadline=None)
@given(valid_nets())
def test_pytorch_export_of_random_nets_runs_as_the_backend(text: str) -> None:
    torch = require("torch")
    from archcalc.interop.torch_export import state_dict, torch_arrays

    graph = load("net.yaml", text).graph
    layers = infer_shapes(graph, Diagnostics(), graph.strict)
    params = ex.init_params(graph, layers, 0)
    code = torch_code(graph, layers, "net.yaml")
    module = build_module(code.source, code.class_name)
    state = state_dict(graph, code, torch_arrays(graph, layers, params))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    module.eval()
    x = _input(graph.input_shape)
    with torch.no_grad():
        got = module(torch.from_numpy(_to_nchw(x))).numpy()
    got = got if got.ndim == 2 else np.moveaxis(got, 1, -1)
    _close(got, ex.execute(graph, layers, params, x).output)


@pytest.mark.parametrize("model", ["mobilenet.onnx", "small.keras"])
def test_an_imported_model_exports_with_its_own_weights(model: str, tmp_path: Path) -> None:
    """A flat model read from ONNX or Keras: both exports compute what `run` computes on the
    model's own weights."""
    torch = require("torch")
    ort = require("onnxruntime")
    require("onnx")
    if model.endswith(".keras"):
        require("keras")
    path = str(Path(__file__).parent / "data" / "examples" / model)
    onnx_out, code, weights = tmp_path / "re.onnx", tmp_path / "re.py", tmp_path / "re.pt"
    _export_onnx(path, None, onnx_out)
    result = cli("export", path, "--to", "pytorch", "-o", str(code), "--weights", str(weights))
    assert result.exit_code == 0, result.output

    graph = load(path).graph
    layers = infer_shapes(graph, Diagnostics(), graph.strict)
    params = ex.init_params(graph, layers, given=graph.weights, random_missing=False)
    x = _input(graph.input_shape)
    expected = ex.execute(graph, layers, params, x).output
    _close(_run_onnx(ort, onnx_out, x), expected)
    generated = torch_code(graph, layers, path)
    module = build_module(code.read_text(), generated.class_name)
    module.load_state_dict(torch.load(weights))
    module.eval()
    with torch.no_grad():
        got = module(torch.from_numpy(_to_nchw(x))).numpy()
    _close(got if got.ndim == 2 else np.moveaxis(got, 1, -1), expected)
