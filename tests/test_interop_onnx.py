"""ONNX import against two independent oracles: PyTorch (the model's own parameter count, conv
and linear MACs, every conv's and pool's output shape, and its output) and onnxruntime (the
exported file's output).

The nets are torchvision's designs rebuilt small in the test (PyPI torchvision does not import
beside this torch): ResNet bottlenecks, MobileNetV2/V3 (depthwise, squeeze-and-excitation,
hardswish), EfficientNet (SiLU, SE through a mean), an Inception block, a DenseNet block and
AlexNet with LRN. Each is exported with torch.onnx.export(dynamo=False) at opsets 13 and 18.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archcalc.analysis import analyze
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.diagnostics import Diagnostics
from archcalc.spec import load
from tests.helpers import cli
from tests.oracles import require
from tests.torchvision_nets import resnet

OPSETS = (13, 18)


def _nets() -> dict[str, Any]:
    """name → (build(), input size C, H, W); built lazily so that collection needs no torch."""
    torch = require("torch")
    nn = torch.nn
    F = nn.functional

    class SqueezeExcitation(nn.Module):  # torchvision.ops.SqueezeExcitation
        def __init__(self, c: int, squeeze: int, gate: Any) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, c, 1)
            self.activation = nn.ReLU()
            self.scale_activation = gate()

        def forward(self, x: Any) -> Any:
            s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return s * x

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int, v3: bool) -> None:
            super().__init__()
            mid = cin * expand
            act = nn.Hardswish if v3 else nn.ReLU6
            layers: list[Any] = [
                nn.Conv2d(cin, mid, 1, bias=False),
                nn.BatchNorm2d(mid),
                act(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                nn.BatchNorm2d(mid),
                act(),
            ]
            if v3:
                layers.append(SqueezeExcitation(mid, 8, nn.Hardsigmoid))
            layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.block = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            return x + self.block(x) if self.use_res else self.block(x)

    class MobileNet(nn.Module):
        def __init__(self, v3: bool) -> None:
            super().__init__()
            act = nn.Hardswish if v3 else nn.ReLU6
            self.features = nn.Sequential(
                nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), act()),
                InvertedResidual(16, 16, 1, 2, v3),
                InvertedResidual(16, 24, 2, 3, v3),
                InvertedResidual(24, 24, 1, 3, v3),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            tail = [nn.Linear(24, 32), nn.Hardswish(), nn.Dropout(0.2)] if v3 else [nn.Dropout(0.2)]
            self.classifier = nn.Sequential(*tail, nn.Linear(32 if v3 else 24, 10))

        def forward(self, x: Any) -> Any:
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class EfficientNet(nn.Module):  # SiLU everywhere, SE through a mean over H and W
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, 2, 1)
            self.dw = nn.Conv2d(16, 16, 5, 1, 2, groups=16)
            self.se_reduce = nn.Conv2d(16, 4, 1)
            self.se_expand = nn.Conv2d(4, 16, 1)
            self.head = nn.Conv2d(16, 32, 1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x: Any) -> Any:
            x = F.silu(self.stem(x))
            x = F.silu(self.dw(x))
            s = x.mean((2, 3), keepdim=True)
            x = x * torch.sigmoid(self.se_expand(F.silu(self.se_reduce(s))))
            x = F.silu(self.head(x))
            return F.softmax(self.fc(x.mean((2, 3))), dim=1)

    class Inception(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.branch1 = nn.Conv2d(16, 8, 1)
            self.branch2 = nn.Sequential(
                nn.Conv2d(16, 8, 1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1)
            )
            self.branch3 = nn.Sequential(
                nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 5, padding=2)
            )
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(16, 6, 1))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fc = nn.Linear(32, 5)

        def forward(self, x: Any) -> Any:
            x = self.pool(F.relu(self.stem(x)))
            x = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)
            x = F.adaptive_avg_pool2d(self.up(x), 1)
            return self.fc(x.view(x.size(0), -1))

    class DenseLayer(nn.Module):
        def __init__(self, cin: int, growth: int) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(cin)
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(4 * growth)
            self.relu2 = nn.ReLU()
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

        def forward(self, x: Any) -> Any:
            y = self.conv1(self.relu1(self.norm1(x)))
            return torch.cat([x, self.conv2(self.relu2(self.norm2(y)))], 1)

    class DenseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv0 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.block = nn.Sequential(DenseLayer(16, 8), DenseLayer(24, 8), DenseLayer(32, 8))
            self.transition = nn.Sequential(
                nn.BatchNorm2d(40), nn.ReLU(), nn.Conv2d(40, 20, 1, bias=False), nn.AvgPool2d(2, 2)
            )
            self.pad = nn.ZeroPad2d((0, 1, 0, 1))
            self.classifier = nn.Linear(20 * 17 * 17, 10)

        def forward(self, x: Any) -> Any:
            x = self.pad(self.transition(self.block(self.conv0(x))))
            return self.classifier(torch.flatten(x, 1))

    class LRNFunction(torch.autograd.Function):
        """nn.LocalResponseNorm traces to a pile of primitives; torchvision-era AlexNets and
        Caffe converts carry the ONNX LRN op itself, which this emits."""

        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return F.local_response_norm(x, 5, 1e-4, 0.75, 2.0)

        @staticmethod
        def symbolic(g: Any, x: Any) -> Any:
            return g.op("LRN", x, size_i=5, alpha_f=1e-4, beta_f=0.75, bias_f=2.0)

    class LRN(nn.Module):
        def forward(self, x: Any) -> Any:
            return LRNFunction.apply(x)

    class AlexNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 24, 11, 4, 2),
                nn.ReLU(inplace=True),
                LRN(),
                nn.MaxPool2d(3, 2),
                nn.Conv2d(24, 32, 5, padding=2),
                nn.ReLU(inplace=True),
                LRN(),
                nn.MaxPool2d(3, 2),
                nn.Conv2d(32, 48, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(0.5),
                nn.Linear(48 * 6 * 6, 64),
                nn.ReLU(inplace=True),
                nn.Dropout(0.5),
                nn.Linear(64, 10),
            )

        def forward(self, x: Any) -> Any:
            x = self.avgpool(self.features(x))
            return self.classifier(x.view(x.size(0), -1))

    return {
        "resnet": (lambda: resnet([2, 2], True, (8, 16), stem=16), (3, 64, 64)),
        "mobilenet_v2": (lambda: MobileNet(False), (3, 48, 48)),
        "mobilenet_v3": (lambda: MobileNet(True), (3, 48, 48)),
        "efficientnet": (EfficientNet, (3, 33, 33)),
        "inception": (Inception, (3, 29, 29)),
        "densenet": (DenseNet, (3, 32, 32)),
        "alexnet": (AlexNet, (3, 227, 227)),
    }


NETS = (
    "resnet",
    "mobilenet_v2",
    "mobilenet_v3",
    "efficientnet",
    "inception",
    "densenet",
    "alexnet",
)


def build(name: str, seed: int = 0) -> tuple[Any, Any]:
    """The net in eval mode with non-trivial batchnorm statistics, and an input batch."""
    torch = require("torch")
    make, chw = _nets()[name]
    torch.manual_seed(seed)
    model = make().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model, torch.randn(2, *chw)


def export(model: Any, x: Any, path: Path, opset: int, **kwargs: Any) -> Path:
    torch = require("torch")
    require("onnx")
    # PRESERVE keeps batchnorm as its own node (EVAL folds it into the conv before it), so the
    # file holds the model's own parameters.
    torch.onnx.export(
        model,
        (x,),
        str(path),
        opset_version=opset,
        dynamo=False,
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["image"],
        **kwargs,
    )
    return path


def torch_facts(model: Any, x: Any) -> tuple[int, int, dict[str, tuple[int, ...]], Any]:
    """Parameters, conv + linear MACs, each conv's and pool's output (channels-last), output."""
    torch = require("torch")
    nn = torch.nn
    macs = 0
    shapes: dict[str, tuple[int, ...]] = {}
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)

    def hook(name: str) -> Any:
        def record(module: Any, inputs: Any, out: Any) -> None:
            nonlocal macs
            per_sample = out[0]
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                macs += per_sample.numel() * module.in_channels // module.groups * k
            if isinstance(module, nn.Linear):
                macs += per_sample.numel() * module.in_features
            if isinstance(module, kinds):
                shapes[name] = (*per_sample.shape[1:], per_sample.shape[0])

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    with torch.no_grad():
        y = model(x)
    for h in handles:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    return params, macs, shapes, y.numpy()


def run_imported(path: Path, x_nchw: Any) -> Any:
    loaded = load(str(path))
    graph = loaded.graph
    layers = infer_shapes(graph, Diagnostics(), graph.strict)
    params = ex.init_params(graph, layers, given=graph.weights, random_missing=False)
    x = np.ascontiguousarray(np.moveaxis(x_nchw, 1, -1))
    return ex.execute(graph, layers, params, x).output


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("net", NETS)
def test_imported_net_matches_torch_and_onnxruntime(net: str, opset: int, tmp_path: Path) -> None:
    ort = require("onnxruntime")
    model, x = build(net)
    path = export(model, x[:1], tmp_path / f"{net}.onnx", opset)
    params, macs, shapes, expected = torch_facts(model, x)

    loaded = load(str(path))
    report = analyze(loaded.graph, diagnostics=loaded.diagnostics)
    assert not report.has_errors, [d.message for d in report.diagnostics]
    assert report.totals.params == params
    assert report.totals.macs == macs
    rows = {r.name: r.output_shape for r in report.layers}
    assert shapes
    for module, shape in shapes.items():
        assert rows[module.replace(".", "_")] == shape, module

    got = run_imported(path, x.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for sample in range(2):  # exported with batch 1
        (ort_out,) = session.run(None, {"image": x[sample : sample + 1].numpy()})
        np.testing.assert_allclose(got[sample : sample + 1], ort_out, rtol=1e-4, atol=1e-5)


def test_squeeze_excitation_and_hardswish_are_real_ops(tmp_path: Path) -> None:
    model, x = build("mobilenet_v3")
    for opset in OPSETS:  # opset 13 spells hardswish x · hardsigmoid(x); 18 has the op
        path = export(model, x[:1], tmp_path / f"v3-{opset}.onnx", opset)
        graph = load(str(path)).graph
        ops = [n.op.name for n in graph.nodes]
        assert ops.count("hardswish") == 8  # stem, 2 per block, classifier
        gates = [n for n in graph.nodes if n.op.name == "mul"]
        assert len(gates) == 3  # one SE per block
        for g in gates:  # x times its 1x1xC gate
            assert sorted(graph.node(i).op.name for i in g.inputs) == ["hardsigmoid", "hardswish"]


def test_cli_run_and_import_give_the_models_figures(tmp_path: Path) -> None:
    model, x = build("resnet")
    path = export(model, x[:1], tmp_path / "resnet.onnx", 18)
    params, macs, _, expected = torch_facts(model, x[:1])
    np.save(tmp_path / "x.npy", np.moveaxis(x[0].numpy(), 0, -1))  # one HxWxC sample
    np.save(tmp_path / "x_chw.npy", x[0].numpy())  # and as PyTorch holds it

    # an ONNX model from PyTorch takes C x H x W by default, channels last on request
    for given, layout in (("x_chw.npy", "auto"), ("x.npy", "nhwc"), ("x_chw.npy", "nchw")):
        result = cli(
            "run",
            str(path),
            "--input",
            str(tmp_path / given),
            "--layout",
            layout,
            "-o",
            str(tmp_path / "y.npy"),
        )
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected[0], rtol=1e-4, atol=1e-5)
    refused = cli("run", str(path), "--input", str(tmp_path / "x.npy"))
    _refused(refused, "channels last, but the model takes channels first", "--layout nhwc")

    spec, weights = tmp_path / "resnet.yaml", tmp_path / "resnet.npz"
    result = cli("import", str(path), "-o", str(spec), "--weights", str(weights))
    assert result.exit_code == 0, result.output
    assert "blocks:" in spec.read_text()  # folded: tests/test_interop_structure.py
    flat = cli("import", str(path), "--flat").stdout
    assert (
        "name: layer1_0_conv1" in flat and "inputs: [layer1_0_bn3, layer1_0_downsample_1]" in flat
    )
    figures = [cli("summarize", str(p), "--format", "json").stdout for p in (path, spec)]
    import json

    totals = [json.loads(f)["totals"] for f in figures]
    assert totals[0]["params"] == totals[1]["params"] == params
    assert totals[0]["macs"] == totals[1]["macs"] == macs
    result = cli(
        "run",
        str(spec),
        "--input",
        str(tmp_path / "x.npy"),
        "--weights",
        str(weights),
        "-o",
        str(tmp_path / "y2.npy"),
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y2.npy"), expected[0], rtol=1e-4, atol=1e-5)


def test_run_layout_moves_feature_maps_both_ways(tmp_path: Path) -> None:
    torch = require("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.randn(2, 3, 5, 7)
    path = export(model, x[:1], tmp_path / "fmap.onnx", 17)
    np.save(tmp_path / "x.npy", x.numpy())  # a batch, N x C x H x W
    result = cli(
        "run", str(path), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        expected = model(x).numpy()
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (2, 4, 5, 7)  # the output comes back channels-first too
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    spec = tmp_path / "s.yaml"
    spec.write_text("input: 5x7x3\nlayers:\n  - conv: {filters: 4, kernel: 3, padding: 1}\n")
    _refused(
        cli("run", str(spec), "--input", str(tmp_path / "x.npy"), "--random-weights"),
        "channels first, but the net takes channels last",
        "--layout nchw",
    )
    result = cli(
        "run", str(spec), "--input", str(tmp_path / "x.npy"), "--random-weights", "--layout", "nchw"
    )
    assert result.exit_code == 0, result.output


def test_every_command_reads_onnx(tmp_path: Path) -> None:
    model, x = build("inception")
    path = str(export(model, x[:1], tmp_path / "inception.onnx", 13))
    for args in (
        ["check", path],
        ["rf", path],
        ["verify", path],
        ["draw", path, "-o", str(tmp_path / "i.dot")],
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)


# --- bad model files ------------------------------------------------------------------------


def _refused(result: Any, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    model, x = build("resnet")
    whole = export(model, x[:1], tmp_path / "whole.onnx", 13).read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(whole[: len(whole) // 3])
    _refused(cli("summarize", str(cut)), "cut.onnx", "not a readable ONNX model", "truncated")
    text = tmp_path / "notes.onnx"
    text.write_text("these are my notes, not a model\n")
    _refused(cli("summarize", str(text)), "notes.onnx", "ONNX")
    _refused(cli("import", str(tmp_path / "missing.onnx")), "no such model file")
    _refused(cli("import", str(cut), "-o", str(tmp_path / "x.yaml")), "not a readable ONNX model")
    assert not (tmp_path / "x.yaml").exists()


def test_unsupported_op_names_type_and_node(tmp_path: Path) -> None:
    torch = require("torch")

    class Normed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.norm = torch.nn.LayerNorm([4, 6, 6])

        def forward(self, x: Any) -> Any:
            return self.norm(self.conv(x))

    path = export(Normed().eval(), torch.randn(1, 3, 8, 8), tmp_path / "ln.onnx", 18)
    for command in ("summarize", "run"):
        args = [command, str(path)] + (["--input", "[[1]]"] if command == "run" else [])
        _refused(cli(*args), "unsupported ONNX op 'LayerNormalization'", "/norm/LayerNormalization")


def test_shared_weights_are_refused_by_name(tmp_path: Path) -> None:
    """A conv called twice is one weight tensor read by two nodes: archcalc would count it
    twice, so the import says which nodes share what (as the Keras import does)."""
    torch = require("torch")

    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: Any) -> Any:
            return self.conv(torch.relu(self.conv(x)))

    path = export(Tied().eval(), torch.randn(1, 4, 8, 8), tmp_path / "tied.onnx", 13)
    for command in ("summarize", "import"):
        _refused(cli(command, str(path)), "/conv/Conv", "/conv_1/Conv", "'conv.weight'", "shared")


def test_dynamic_input_asks_for_input(tmp_path: Path) -> None:
    model, x = build("inception")
    path = export(
        model, x[:1], tmp_path / "dyn.onnx", 13, dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}}
    )
    _refused(cli("summarize", str(path)), "input 'image'", "dynamic size on axis 2", "--input")
    result = cli("summarize", str(path), "--input", "29x29x3", "--format", "json")
    assert result.exit_code == 0, result.output
    params, macs, _, _ = torch_facts(model, x[:1])
    import json

    totals = json.loads(result.stdout)["totals"]
    assert (totals["params"], totals["macs"]) == (params, macs)


# --- constants, layout transposes, opset-9 Upsample -------------------------------------------


def _affine_net() -> Any:
    torch = require("torch")
    nn = torch.nn

    class Normalised(nn.Module):
        """Input normalisation as exported nets start, a TensorFlow-style NHWC flatten, and
        arithmetic by scalars in the middle."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            self.conv = nn.Conv2d(3, 6, 3, 2, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fc = nn.Linear(6 * 10 * 10, 5)

        def forward(self, x: Any) -> Any:
            x = (x - self.mean) / self.std
            x = torch.relu(self.conv(x)) * 0.5 + 1.0
            x = self.up(1.0 - x)
            return self.fc(x.permute(0, 2, 3, 1).flatten(1))

    torch.manual_seed(0)
    return Normalised().eval(), torch.rand(2, 3, 10, 10)


@pytest.mark.parametrize("opset", [9, 13, 18])
def test_constants_transposes_and_upsample_import(opset: int, tmp_path: Path) -> None:
    ort = require("onnxruntime")
    model, x = _affine_net()
    path = export(model, x[:1], tmp_path / "n.onnx", opset)
    onnx = require("onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Sub", "Div", "Transpose"} <= ops
    assert ("Upsample" if opset == 9 else "Resize") in ops
    params, macs, _, expected = torch_facts(model, x)
    report = analyze(load(str(path)).graph)
    assert (report.totals.params, report.totals.macs) == (params, macs)
    types = [r.type for r in report.layers]
    assert types.count("affine") == 5  # − mean, / std, · 0.5, + 1, 1 − x
    got = run_imported(path, x.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ort_out,) = session.run(None, {"image": x[:1].numpy()})
    np.testing.assert_allclose(got[:1], ort_out, rtol=1e-4, atol=1e-5)


def test_a_channels_last_input_is_read_as_such(tmp_path: Path) -> None:
    torch = require("torch")

    class FromTF(torch.nn.Module):  # takes NHWC, as a tf2onnx model does
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.fc = torch.nn.Linear(4 * 5 * 7, 2)

        def forward(self, x: Any) -> Any:
            y = torch.relu(self.conv(x.permute(0, 3, 1, 2)))
            return self.fc(y.permute(0, 2, 3, 1).reshape(1, -1))

    torch.manual_seed(1)
    model, x = FromTF().eval(), torch.randn(1, 7, 9, 3)
    path = export(model, x, tmp_path / "tf.onnx", 13)
    graph = load(str(path)).graph
    assert graph.input_shape == (7, 9, 3)
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, given=graph.weights, random_missing=False)
    got = ex.execute(graph, layers, params, x.numpy()).output
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_sub_and_div_of_two_tensors(tmp_path: Path) -> None:
    torch = require("torch")

    class Ratio(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(3, 4, 1)
            self.b = torch.nn.Conv2d(3, 4, 1)
            self.c = torch.nn.Conv2d(3, 4, 1)

        def forward(self, x: Any) -> Any:
            d = self.a(x) - self.b(x)
            return d / torch.sigmoid(self.c(x.mean((2, 3), keepdim=True)))

    torch.manual_seed(2)
    model, x = Ratio().eval(), torch.randn(2, 3, 5, 6)
    path = export(model, x[:1], tmp_path / "ratio.onnx", 13)
    graph = load(str(path)).graph
    assert {"sub", "div"} <= {n.op.name for n in graph.nodes}
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(
        np.moveaxis(run_imported(path, x.numpy()), -1, 1), expected, rtol=1e-4, atol=1e-5
    )


def test_unsupported_arithmetic_and_transposes_are_named(tmp_path: Path) -> None:
    torch = require("torch")

    class Swap(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.relu(x.transpose(2, 3))

    class Ramp(torch.nn.Module):  # a constant that varies along width, not per channel
        def forward(self, x: Any) -> Any:
            return x + torch.arange(6.0)

    x = torch.randn(1, 3, 6, 6)
    for model, words in (
        (Swap(), ["ONNX op 'Transpose'", "perm [0, 1, 3, 2]"]),
        (Ramp(), ["ONNX op 'Add'", "varies along other axes than channels"]),
    ):
        path = export(model.eval(), x, tmp_path / f"{type(model).__name__}.onnx", 13)
        _refused(cli("summarize", str(path)), *words)
        _refused(cli("import", str(path)), *words)
