"""The library API (archcalc.analyze → Result): the CLI's figures and JSON, errors as
exceptions with positions, notebook display, live torch modules checked against a YAML spec of
the same net and against torchinfo."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import archcalc
from archcalc.diagnostics import SpecError, UsageError
from tests.helpers import cli
from tests.oracles import require

# The same small net as the torch module built in _small_torch_net.
SMALL_YAML = """\
name: small
input: 32x32x3
layers:
  - conv: {name: conv1, filters: 8, kernel: 5, padding: 2}
  - relu
  - maxpool: {kernel: 2}
  - conv: {name: conv2, filters: 16, kernel: 3, padding: 1, bias: false}
  - batchnorm
  - relu
  - adaptive_avgpool: {size: 1}
  - flatten
  - dense: {units: 10}
"""


def test_json_is_the_cli_contract() -> None:
    result = archcalc.analyze("alexnet", batch=2)
    shown = cli("summarize", "alexnet", "--batch", "2", "--format", "json")
    assert shown.exit_code == 0
    assert shown.stdout == result.to_json() + "\n"
    assert json.loads(result.to_json())["totals"]["params"] == 62_378_344


def test_course_example_from_yaml_text() -> None:
    # the course notes: a 32x32x3 input, ten 5x5 filters, pad 2 → 32x32x10, (5·5·3 + 1)·10 = 760
    text = "input: 32x32x3\nlayers:\n  - conv: {name: conv1, filters: 10, kernel: 5, padding: 2}\n"
    result = archcalc.analyze(text)
    row = result["conv1"]
    assert row.params == 760 and row.output_shape == (32, 32, 10)
    assert result.receptive_fields["conv1"] is not None
    assert "(5·5·3 + 1)·10 = 760" in result.explain("conv1")
    assert result.to_csv().splitlines()[1].startswith("conv1,")
    assert "| conv1 |" in result.to_markdown()


def test_library_errors_are_exceptions_with_positions() -> None:
    with pytest.raises(SpecError) as caught:
        archcalc.analyze("input: 32x32x3\nlayers:\n  - conv: {filters: 10, kernal: 5}\n")
    pos = caught.value.diagnostics[0].pos
    assert pos is not None and (pos.line, pos.column) == (3, 25)  # at "kernal"
    with pytest.raises(SpecError):
        archcalc.analyze("no-such-net")
    with pytest.raises(UsageError):
        archcalc.analyze("alexnet", dtype="float13")


def test_result_runs_and_verifies() -> None:
    np = require("numpy")
    result = archcalc.analyze(SMALL_YAML)
    assert result.verify().ok
    y = result.run(np.ones((2, 32, 32, 3)))
    assert y.shape == (2, 10)


def test_display_escapes_and_marks() -> None:
    text = (
        "name: <b>net&co</b>\ninput: 7x7x1\n"
        "layers:\n  - conv: {name: c, filters: 1, kernel: 2, stride: 2}\n"
    )
    result = archcalc.analyze(text)
    page = result._repr_html_()
    assert "<b>net&co</b>" not in page and "&lt;b&gt;net&amp;co&lt;/b&gt;" in page
    assert "<table>" in page and "stride-fit" not in page  # the message, not the code, is shown
    assert result.diagnostics and any(
        "⚠" in line or "≈" in line for line in str(result).splitlines()
    )
    assert "<details" in page and result.diagnostics[0].message.split("'")[0] in page
    assert repr(result).startswith("<archcalc.Result '<b>net&co</b>': input 7x7x1, 1 layers")


def test_import_archcalc_stays_light() -> None:
    code = (
        "import sys, archcalc; heavy = {'numpy', 'torch', 'yaml', 'click', 'rich', 'keras'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # analysing a spec brings in neither framework nor numpy (the analysis does no arrays)
    code = code.replace(
        "import sys, archcalc;", "import sys, archcalc; archcalc.analyze('resnet50');"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['yaml']"  # nor click: the library is not the CLI


def _small_torch_net(nn: Any) -> Any:
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def _figures(result: Any) -> list[tuple[Any, ...]]:
    return [(r.type, r.output_shape, r.params, r.macs, r.buffers) for r in result.rows]


def test_live_module_equals_the_yaml_spec() -> None:
    torch = require("torch")
    module = _small_torch_net(torch.nn)
    live = archcalc.analyze(module, input=(1, 3, 32, 32))
    spec = archcalc.analyze(SMALL_YAML)
    assert _figures(live) == _figures(spec)
    assert live.totals.params == sum(p.numel() for p in module.parameters())
    assert [r.name for r in live.rows][:2] == ["0", "1"]
    assert archcalc.analyze(module, input="32x32x3").totals.macs == spec.totals.macs


class _Block:
    """A torchvision BasicBlock, built in the test (torchvision does not import here)."""

    @staticmethod
    def make(nn: Any, c: int) -> Any:
        class BasicBlock(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(c)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(c)

            def forward(self, x: Any) -> Any:
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += x
                return self.relu(out)

        return BasicBlock()


def _resnet_style(nn: Any, torch: Any) -> Any:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = nn.Sequential(_Block.make(nn, 16), _Block.make(nn, 16))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, 10)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer1(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Tiny()


@pytest.mark.parametrize("size", [64, 65])
def test_live_module_equals_torchinfo(size: int) -> None:
    torch = require("torch")
    torchinfo = require("torchinfo")
    model = _resnet_style(torch.nn, torch)
    result = archcalc.analyze(model, input=(1, 3, size, size), count="torchinfo")
    stats = torchinfo.summary(model, input_size=(1, 3, size, size), verbose=0)
    assert result.totals.params == stats.total_params
    assert result.totals.counted == stats.total_mult_adds
    names = [r.name for r in result.rows]
    assert "layer1.0.conv1" in names and "layer1.1.bn2" in names
    # BasicBlock calls self.relu twice: two layers, two names
    assert names.count("layer1.0.relu") == 1 and "layer1.0.relu_1" in names
    assert len(set(names)) == len(names)
    assert result["layer1.0.conv1"].scope == ("layer1", "layer1.0")
    out = model(torch.zeros(1, 3, size, size))
    assert result.rows[-1].output_shape == tuple(out.shape[1:])


def test_a_module_called_twice_with_weights_is_flagged() -> None:
    """A conv called twice holds its weights once: archcalc's per-call count overstates the
    model's parameters by exactly one conv, and says so; a reused ReLU holds none."""
    torch = require("torch")
    nn = torch.nn

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.conv(self.act(self.conv(x))))

    model = Tied()
    result = archcalc.analyze(model, input=(1, 8, 16, 16))
    held = sum(p.numel() for p in model.parameters())
    assert [r.name for r in result.rows] == ["conv", "act", "conv_1", "act_1"]
    assert result.totals.params == 2 * held
    (warning,) = [d for d in result.report.diagnostics if d.code == "shared-weights"]
    assert warning.layer == "conv_1" and f"{held:,} parameters" in warning.message


def _mobilenet_style(nn: Any) -> Any:
    """MobileNetV3's pieces: hardswish, a depthwise conv, squeeze-and-excitation (x * gate)."""

    class SqueezeExcite(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, c // 4, 1)
            self.relu = nn.ReLU()
            self.fc2 = nn.Conv2d(c // 4, c, 1)
            self.scale_activation = nn.Hardsigmoid()

        def forward(self, x: Any) -> Any:
            return x * self.scale_activation(self.fc2(self.relu(self.fc1(self.avgpool(x)))))

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.Hardswish(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False),
        SqueezeExcite(16),
        nn.Hardtanh(0.0, 6.0),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def test_mobilenet_style_module_equals_torchinfo() -> None:
    torch = require("torch")
    torchinfo = require("torchinfo")
    model = _mobilenet_style(torch.nn)
    result = archcalc.analyze(model, input="57x57x3", count="torchinfo")
    stats = torchinfo.summary(model, input_size=(1, 3, 57, 57), verbose=0)
    assert result.totals.params == stats.total_params
    assert result.totals.counted == stats.total_mult_adds
    assert [r.type for r in result.rows if r.scope] == [
        "adaptive_avgpool",
        "conv",
        "relu",
        "conv",
        "hardsigmoid",
        "mul",
    ]
    assert result["4.mul"].output_shape == (15, 15, 16)


def test_unmappable_modules_are_named_with_their_type() -> None:
    torch = require("torch")
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Sequential(nn.PixelShuffle(2), nn.ReLU()), nn.Softplus()
    )
    with pytest.raises(SpecError) as caught:
        archcalc.analyze(model, input=(1, 3, 8, 8))
    messages = [d.message for d in caught.value.diagnostics]
    assert any("'1.0'" in m and "PixelShuffle" in m for m in messages)
    assert any("'2'" in m and "Softplus" in m for m in messages)
    assert all(d.pos is not None for d in caught.value.diagnostics)


def test_untraceable_module_says_why() -> None:
    torch = require("torch")

    class Branchy(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x if x.sum() > 0 else -x  # control flow on a value: fx cannot trace it

    with pytest.raises(SpecError) as caught:
        archcalc.analyze(Branchy(), input=(1, 3, 8, 8))
    assert caught.value.diagnostics[0].code == "trace"
    assert "torch.fx cannot trace Branchy" in str(caught.value)


def test_torch_module_needs_an_input_size() -> None:
    torch = require("torch")
    with pytest.raises(UsageError):
        archcalc.analyze(torch.nn.Conv2d(3, 4, 3))


def test_diagram_renders_svg() -> None:
    require("dot")
    result = archcalc.analyze(SMALL_YAML)
    svg = result.diagram()._repr_svg_()
    assert svg is not None and svg.lstrip().startswith("<?xml") and "conv1" in svg
    assert "conv2" in result.diagram().source


def test_python_api_doc_examples_run() -> None:
    import doctest
    from pathlib import Path

    require("torch")
    require("keras")
    doc = Path(__file__).parent.parent / "docs" / "python-api.md"
    failed, tried = doctest.testfile(str(doc), module_relative=False, verbose=False)
    assert tried > 10 and failed == 0
