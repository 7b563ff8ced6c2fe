"""`archcalc import` folds a model's repeated groups back into blocks and repeats.

Torchvision's designs rebuilt in the test (ResNet-18 and -50 with their stage depths, MobileNetV2
as torchvision writes it, a MobileNetV3-style net with squeeze-and-excitation, a DenseNet block),
exported to ONNX, imported, and checked against PyTorch: the folded spec is much shorter than the
flat one, names every conv and pool as torch names the module, analyses to the model's
parameters, MACs and shapes, and with the written weights runs to the model's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import cli
from tests.oracles import require
from tests.test_interop_onnx import NETS, build, export, torch_facts
from tests.torchvision_nets import resnet


def _torchvision_nets() -> dict[str, Any]:
    torch = require("torch")
    nn = torch.nn

    def conv_bn_act(cin: int, out: int, k: int, stride: int, groups: int = 1) -> Any:
        return nn.Sequential(  # torchvision.ops.Conv2dNormActivation
            nn.Conv2d(cin, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):  # torchvision.models.mobilenetv2.InvertedResidual
        def __init__(self, cin: int, out: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            self.use_res_connect = stride == 1 and cin == out
            layers: list[Any] = [] if expand == 1 else [conv_bn_act(cin, hidden, 1, 1)]
            layers += [
                conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, out, 1, bias=False),
                nn.BatchNorm2d(out),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):  # torchvision's settings, channels divided by 4
        def __init__(self) -> None:
            super().__init__()
            settings = [(1, 4, 1, 1), (6, 6, 2, 2), (6, 8, 3, 2), (6, 16, 4, 2), (6, 24, 3, 1)]
            features: list[Any] = [conv_bn_act(3, 8, 3, 2)]
            cin = 8
            for t, c, n, s in settings:
                for i in range(n):
                    features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            features.append(conv_bn_act(cin, 64, 1, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

        def forward(self, x: Any) -> Any:
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    class DenseLayer(nn.Module):  # torchvision's _DenseLayer, concatenating as it goes
        def __init__(self, cin: int, growth: int) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(cin)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(4 * growth)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

        def forward(self, x: Any) -> Any:
            y = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
            return torch.cat([x, y], 1)

    class DenseNet(nn.Module):  # DenseNet-121's layout (6 and 12 layers), growth 4
        def __init__(self) -> None:
            super().__init__()
            self.conv0 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
            self.denseblock1 = nn.Sequential(*(DenseLayer(8 + 4 * i, 4) for i in range(6)))
            self.transition1 = nn.Sequential(
                nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 16, 1, bias=False), nn.AvgPool2d(2)
            )
            self.denseblock2 = nn.Sequential(*(DenseLayer(16 + 4 * i, 4) for i in range(12)))
            self.classifier = nn.Linear(64, 10)

        def forward(self, x: Any) -> Any:
            x = self.denseblock2(self.transition1(self.denseblock1(self.conv0(x))))
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return {
        "densenet": (DenseNet, (3, 32, 32)),
        "resnet18": (lambda: resnet([2, 2, 2, 2], False), (3, 64, 64)),
        "resnet50": (lambda: resnet([3, 4, 6, 3], True), (3, 64, 64)),
        "mobilenet_v2": (MobileNetV2, (3, 64, 64)),
    }


def _model(name: str) -> tuple[Any, Any]:
    torch = require("torch")
    if name == "mobilenet_v3":  # tests/test_interop_onnx.py's, with squeeze-and-excitation
        return build(name)
    make, chw = _torchvision_nets()[name]
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model, torch.randn(1, *chw)


# the folded spec at most this share of the flat one's lines
SHORTER = {
    "resnet18": 0.75,
    "resnet50": 0.4,
    "mobilenet_v2": 0.5,
    "mobilenet_v3": 0.99,  # three blocks of three kinds: little to fold
    "densenet": 0.3,
}


@pytest.mark.parametrize("net", list(SHORTER))
def test_import_folds_repeated_blocks_and_keeps_the_figures(net: str, tmp_path: Path) -> None:
    model, x = _model(net)
    path = export(model, x, tmp_path / f"{net}.onnx", 17)
    params, macs, shapes, expected = torch_facts(model, x)
    spec, weights = tmp_path / f"{net}.yaml", tmp_path / f"{net}.npz"
    result = cli("import", str(path), "-o", str(spec), "--weights", str(weights))
    assert result.exit_code == 0, result.output
    folded = spec.read_text()
    flat = cli("import", str(path), "--flat").stdout
    assert "blocks:" in folded and "blocks:" not in flat
    assert len(folded.splitlines()) <= SHORTER[net] * len(flat.splitlines()), folded

    reports = [
        json.loads(cli("summarize", str(p), "--format", "json").stdout) for p in (path, spec)
    ]
    for report in reports:
        assert (report["totals"]["params"], report["totals"]["macs"]) == (params, macs)
    # every layer: the same op, shape, parameters and MACs, in the same multiset
    rows = [
        sorted((r["type"], tuple(r["output_shape"]), r["params"], r["macs"]) for r in rep["layers"])
        for rep in reports
    ]
    assert rows[0] == rows[1]
    # torch's own module names: layer1.0.conv1 (a projection sits under the residual's
    # shortcut, a dense layer's convolutions in the second branch of a parallel block)
    by_name = {
        re.sub(r"shortcut\.|parallel\d+\.b\d+\.", "", r["name"]): r for r in reports[1]["layers"]
    }
    assert shapes
    for module, shape in shapes.items():
        assert tuple(by_name[module]["output_shape"]) == shape, module

    np.save(tmp_path / "x.npy", np.moveaxis(x[0].numpy(), 0, -1))
    result = cli(
        "run",
        str(spec),
        "--weights",
        str(weights),
        "--input",
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected[0], rtol=1e-4, atol=1e-5)


def test_resnet50_stages_become_blocks_with_arguments_and_repeats(tmp_path: Path) -> None:
    model, x = _model("resnet50")
    path = export(model, x, tmp_path / "r50.onnx", 17)
    text = cli("import", str(path)).stdout
    # one definition per kind of bottleneck, called with its widths
    assert text.count("- conv: {name: conv1, filters: $") >= 1
    assert "- repeat: " in text
    assert "layer1.0.conv1" not in text and "name: layer1" in text


def test_a_model_without_structure_stays_flat(tmp_path: Path) -> None:
    torch = require("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    path = export(model, torch.randn(1, 3, 8, 8), tmp_path / "tiny.onnx", 17)
    text = cli("import", str(path)).stdout
    assert "blocks:" not in text
    assert text == cli("import", str(path), "--flat").stdout


@pytest.mark.parametrize("net", NETS)
def test_every_imported_net_folds_or_stays_flat_and_keeps_its_output(
    net: str, tmp_path: Path
) -> None:
    """tests/test_interop_onnx.py's nets (Inception branches, SE through a mean, LRN, ...): the
    written spec, folded where it can be, analyses and runs as the model does."""
    model, x = build(net)
    path = export(model, x[:1], tmp_path / f"{net}.onnx", 13)
    params, macs, _, expected = torch_facts(model, x[:1])
    spec, weights = tmp_path / f"{net}.yaml", tmp_path / f"{net}.npz"
    result = cli("import", str(path), "-o", str(spec), "--weights", str(weights))
    assert result.exit_code == 0, result.output
    flat = cli("import", str(path), "--flat").stdout
    assert len(spec.read_text().splitlines()) <= len(flat.splitlines())  # never longer
    totals = json.loads(cli("summarize", str(spec), "--format", "json").stdout)["totals"]
    assert (totals["params"], totals["macs"]) == (params, macs)
    np.save(tmp_path / "x.npy", np.moveaxis(x[0].numpy(), 0, -1))
    out = tmp_path / "y.npy"
    args = ["--input", str(tmp_path / "x.npy"), "--weights", str(weights), "-o", str(out)]
    result = cli("run", str(spec), *args)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), expected[0], rtol=1e-4, atol=1e-5)
