"""The bundled zoo: every spec's figures against published or hand-derived numbers, the
`archcalc zoo` command, the channel_slice op, and optional torch cross-checks."""

from __future__ import annotations

import csv
import io
import json
import re
from math import prod

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.cli import main
from archcalc.diagnostics import SpecError
from archcalc.report import Report
from archcalc.shapes import parse_shape
from archcalc.spec import load
from archcalc.zoo import bundled_names, bundled_path
from tests.oracles import require


def report_of(spec: str, text: str | None = None, input_shape: str | None = None) -> Report:
    loaded = load(spec, text)
    if input_shape:
        loaded.graph.input_shape = parse_shape(input_shape)
    return analyze(
        loaded.graph, batch=1, dtype="float32", strict=None, diagnostics=loaded.diagnostics
    )


def conv(cin: int, cout: int, k: int | tuple[int, ...] = 3, groups: int = 1, bias: bool = True):
    """Hand count of a conv's parameters: k·k·(cin/groups)·cout (+ cout biases)."""
    taps = prod(k) if isinstance(k, tuple) else k * k
    return taps * (cin // groups) * cout + (cout if bias else 0)


def fc(cin: int, cout: int) -> int:
    return cin * cout + cout


# Hand derivations for the specs without a published total (the spec comments show the same).
ZFNET = (
    conv(3, 96, 7)
    + conv(96, 256, 5)
    + conv(256, 384)
    + conv(384, 384)
    + conv(384, 256)
    + fc(9216, 4096)
    + fc(4096, 4096)
    + fc(4096, 1000)
)
UNET_ENCODER = sum(
    conv(a, b) + conv(b, b) for a, b in ((1, 64), (64, 128), (128, 256), (256, 512), (512, 1024))
)
UNET_DECODER = sum(
    conv(a, b, 2) + conv(a, b) + conv(b, b)
    for a, b in ((1024, 512), (512, 256), (256, 128), (128, 64))
) + conv(64, 2, 1)
WELCOME = conv(1, 16, (320,)) + conv(16, 32, (5,)) + conv(32, 32, (4,)) + conv(32, 64, (8,)) + 65
WELCOME_MACS = 99 * 16 * 320 + 48 * 32 * 5 * 16 + 23 * 32 * 4 * 32 + 16 * 64 * 8 * 32 + 16 * 64
LENET5_MACS = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10

# (spec, params, trainable params, exact MACs or None, torchvision's rounded GFLOPS or None).
# Figures are torchvision's documented ones unless noted.
ZOO = [
    ("lenet5", 61_706, 61_706, LENET5_MACS, None),  # the course figure; MACs by hand
    ("lenet5-1998", 60_840, 60_000, None, None),  # LeCun et al. 1998: 60,000 trainable
    ("alexnet-torchvision", 61_100_840, 61_100_840, 714_188_480, None),
    ("alexnet-2012-grouped", 60_965_224, 60_965_224, None, None),
    ("zfnet", ZFNET, ZFNET, None, None),  # by hand from Zeiler & Fergus Fig. 3
    ("vgg11", 132_863_336, 132_863_336, None, 7.61),
    ("vgg19", 143_667_240, 143_667_240, None, 19.63),
    ("googlenet", 6_624_904, 6_624_904, 1_498_376_192, None),
    ("resnet18", 11_689_512, 11_689_512, 1_814_073_344, None),
    ("resnet34", 21_797_672, 21_797_672, None, 3.66),
    ("resnet101", 44_549_160, 44_549_160, None, 7.80),
    ("resnet152", 60_192_808, 60_192_808, None, 11.51),
    ("mobilenet_v2", 3_504_872, 3_504_872, 300_774_272, None),
    ("squeezenet1_0", 1_248_424, 1_248_424, None, 0.82),
    ("densenet121", 7_978_856, 7_978_856, 2_834_161_664, None),
    # torchvision documents 27,161,264 with the aux head of 3,326,696; 5.71 GFLOPS
    ("inception_v3", 27_161_264 - 3_326_696, 27_161_264 - 3_326_696, None, 5.71),
    ("unet", UNET_ENCODER + UNET_DECODER, UNET_ENCODER + UNET_DECODER, None, None),
    ("welcome-1d", WELCOME, WELCOME, WELCOME_MACS, None),
]


@pytest.mark.parametrize(
    ("spec", "params", "trainable", "macs", "gflops"), ZOO, ids=[z[0] for z in ZOO]
)
def test_figures(spec: str, params: int, trainable: int, macs: int | None, gflops: float | None):
    report = report_of(spec)
    assert not report.has_errors
    assert report.totals.params == params
    assert report.totals.trainable_params == trainable
    if macs is not None:
        assert report.totals.macs == macs
    if gflops is not None:
        assert round(report.totals.macs / 1e9, 2) == gflops


def test_hand_derivations_match_the_comments():
    # The spec comments quote these totals; keep them honest.
    assert ZFNET == 62_357_608
    assert (UNET_ENCODER, UNET_DECODER) == (18_842_048, 12_188_610)
    assert WELCOME == 28_369


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_spec_analyses_cleanly(name: str):
    report = report_of(name)
    errors = [d for d in report.diagnostics if d.severity == "error"]
    assert errors == []
    assert all(row.output_shape is not None for row in report.layers)
    text = bundled_path(name).read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert text.startswith("#"), "a bundled spec opens with a comment citing its source"
    assert re.search(r"^source: \S", text, re.M), "a bundled spec has a 'source:' line"


def test_archcalc_check_passes_on_every_bundled_spec():
    result = CliRunner().invoke(main, ["check", *bundled_names(), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["spec"] for r in rows] == bundled_names()
    assert {r["status"] for r in rows} == {"ok"}


def test_zoo_has_the_required_specs():
    wanted = {z[0] for z in ZOO} | {"resnet50", "vgg16", "alexnet"}
    assert wanted <= set(bundled_names())


# -- structure checks against the papers --------------------------------------------------


def rows_by_name(report: Report) -> dict[str, object]:
    return {row.name: row for row in report.layers}


def test_googlenet_module_widths_follow_table_1():
    rows = rows_by_name(report_of("googlenet"))
    widths = {
        "3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512,
        "4d": 528, "4e": 832, "5a": 832, "5b": 1024,
    }  # fmt: skip
    sizes = {"3": 28, "4": 14, "5": 7}
    for module, channels in widths.items():
        out = rows[f"inception{module}.parallel1.concat1"].output_shape  # type: ignore[attr-defined]
        assert out == (sizes[module[0]], sizes[module[0]], channels)


def test_lenet5_1998_layers():
    report = report_of("lenet5-1998")
    rows = report.layers
    c3 = [r for r in rows if r.name.startswith("C3.")]
    assert sum(r.params for r in c3) == 1_516  # 25·60 weights + 16 biases
    assert rows_by_name(report)["C3.concat1"].output_shape == (10, 10, 16)  # type: ignore[attr-defined]
    assert sum(r.params for r in rows if r.name.startswith(("S2.", "S4."))) == 12 + 32
    inputs = sorted(r.output_shape[-1] for r in c3 if r.type == "channel_slice" and r.output_shape)
    assert inputs == [3] * 6 + [4] * 9 + [6]  # Table I: 6 of 3 maps, 9 of 4, 1 of all 6


def test_welcome_detector_scans_and_ors():
    report = report_of("welcome-1d")
    rows = rows_by_name(report)
    assert rows["detector"].output_shape == (16, 1)  # type: ignore[attr-defined]
    assert report.layers[-1].type == "global_maxpool"
    assert report.layers[-1].output_shape == (1,)
    assert report.layers[-1].receptive_field.whole  # type: ignore[union-attr]
    assert not [d for d in report.diagnostics if d.code == "stride-fit"]


def test_unet_skips_concatenate():
    rows = rows_by_name(report_of("unet"))
    assert rows["cat4"].output_shape == (64, 64, 1024)  # type: ignore[attr-defined]
    assert rows["cat4"].inputs == ["enc4.relu2", "up4"]  # type: ignore[attr-defined]
    assert rows["cat1"].output_shape == (512, 512, 128)  # type: ignore[attr-defined]
    assert rows["head"].output_shape == (512, 512, 2)  # type: ignore[attr-defined]


# -- archcalc zoo -------------------------------------------------------------------------


def test_zoo_lists_every_spec_with_its_figures():
    result = CliRunner().invoke(main, ["zoo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "input", "params", "MACs", "source"]
    assert len(lines) == 1 + len(bundled_names())
    line = next(x for x in lines if x.startswith("resnet18 "))
    assert "224x224x3" in line and "11,689,512" in line and "1,814,073,344" in line
    assert "torchvision resnet18" in line


def test_zoo_json():
    result = CliRunner().invoke(main, ["zoo", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [d["name"] for d in data] == bundled_names()
    googlenet = next(d for d in data if d["name"] == "googlenet")
    assert googlenet["params"] == 6_624_904
    assert googlenet["macs"] == 1_498_376_192
    assert googlenet["input"] == "224x224x3"
    lenet = next(d for d in data if d["name"] == "lenet5-1998")
    assert (lenet["params"], lenet["trainable_params"]) == (60_840, 60_000)
    assert all("error" not in d for d in data)


def test_zoo_prints_a_spec():
    result = CliRunner().invoke(main, ["zoo", "densenet121"])
    assert result.exit_code == 0
    assert result.output == bundled_path("densenet121").read_text(encoding="utf-8")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("resnet", "'resnet18'"), ("lenet", "'lenet5-1998'"), ("googlnet", "'googlenet'")],
)
def test_zoo_unknown_name(name: str, suggestion: str):
    result = CliRunner().invoke(main, ["zoo", name])
    assert result.exit_code == 2
    assert f"no bundled spec named '{name}'" in result.output
    assert "did you mean" in result.output and suggestion in result.output
    assert "Traceback" not in result.output


def test_zoo_unknown_name_without_neighbours():
    result = CliRunner().invoke(main, ["zoo", "qqqq"])
    assert result.exit_code == 2
    assert "archcalc zoo" in result.output


def test_zoo_format_only_for_the_list():
    result = CliRunner().invoke(main, ["zoo", "lenet5", "--format", "json"])
    assert result.exit_code == 2
    assert "--format and --wide apply to the list" in result.output
    assert CliRunner().invoke(main, ["zoo", "--format", "xml"]).exit_code == 2


def test_zoo_list_reports_a_broken_spec(tmp_path, monkeypatch):
    (tmp_path / "good.yaml").write_text("input: 8x8x1\nlayers: [conv: {filters: 2, kernel: 3}]\n")
    (tmp_path / "bad.yaml").write_text("input: 8x8x1\nlayers: [conv: {filters: 2, kernel: 9}]\n")
    (tmp_path / "unreadable.yaml").write_text("input: 8x8x1\nlayers: [nonsense]\n")
    monkeypatch.setattr("archcalc.zoo.specs_dir", lambda: tmp_path)
    result = CliRunner().invoke(main, ["zoo", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = {d["name"]: d for d in json.loads(result.output)}
    assert data["good"]["params"] == 9 * 2 + 2 and "error" not in data["good"]
    assert data["bad"]["params"] is None and "does not fit" in data["bad"]["error"]
    assert "unknown layer type 'nonsense'" in data["unreadable"]["error"]
    table = CliRunner().invoke(main, ["zoo"]).output
    assert re.search(r"^bad\s+8x8x1\s+error\s", table, re.M)


# -- channel_slice ------------------------------------------------------------------------


SLICE = "input: 6x6x4\nlayers:\n  - channel_slice: {channels: %s}\n"


@pytest.mark.parametrize(
    ("channels", "shape", "describe"),
    [
        ("[0, 2]", (6, 6, 2), "ch 0,2"),
        ("[3, 0, 1]", (6, 6, 3), "ch 3,0,1"),
        ("1", (6, 6, 1), "ch 1"),
    ],
)
def test_channel_slice(channels: str, shape: tuple[int, ...], describe: str):
    report = report_of("t.yaml", SLICE % channels)
    row = report.layers[0]
    assert (row.output_shape, row.describe, row.params, row.macs) == (shape, describe, 0, 0)
    assert row.receptive_field is not None and row.receptive_field.size == (1, 1)


def test_channel_slice_out_of_range_points_at_the_attribute():
    report = report_of("t.yaml", SLICE % "[1, 4]")
    (error,) = [d for d in report.diagnostics if d.severity == "error"]
    assert "channel 4 does not exist" in error.message and "0 to 3" in error.message
    column = (SLICE % "[1, 4]").splitlines()[2].index("[") + 1  # the list's opening bracket
    assert (error.pos.line, error.pos.column) == (3, column)  # type: ignore[union-attr]


def test_channel_slice_shorthand():
    report = report_of("t.yaml", "input: 6x6x4\nlayers: [channel_slice: [2, 3]]\n")
    assert report.layers[0].output_shape == (6, 6, 2)


def test_channel_slice_repeated_channel():
    report = report_of("t.yaml", SLICE % "[1, 1]")
    assert any("listed twice" in d.message for d in report.diagnostics)


@pytest.mark.parametrize("bad", ["[-1]", "[]", "'all'", "[0.5]"])
def test_channel_slice_rejects_bad_indices(bad: str):
    with pytest.raises(SpecError) as err:
        load("t.yaml", SLICE % bad)
    assert any(d.code == "value" for d in err.value.diagnostics)


# -- torch cross-checks: parameters, output shapes and MACs of the hand-derived specs -------


def _torch_figures(model, shape: tuple[int, ...]) -> tuple[int, tuple[int, ...], int]:
    """Parameters, output shape (channels last) and MACs (conv/linear, fvcore's rule)."""
    torch = require("torch")
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        if isinstance(module, torch.nn.ConvTranspose2d):
            macs += inputs[0].numel() * module.out_channels * prod(module.kernel_size)
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            per = module.in_channels // module.groups * prod(module.kernel_size)
            macs += output.numel() * per
        elif isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features

    for m in model.modules():
        m.register_forward_hook(count)
    x = torch.zeros(1, shape[-1], *shape[:-1])
    with torch.no_grad():
        y = model.eval()(x)
    out = (*y.shape[2:], y.shape[1]) if y.dim() > 2 else (y.shape[1],)
    return sum(p.numel() for p in model.parameters()), out, macs


def _check_against_torch(spec: str, model, input_shape: str | None = None):
    report = report_of(spec, input_shape=input_shape)
    shape = parse_shape(input_shape) if input_shape else report.input_shape
    params, out, macs = _torch_figures(model, shape)
    assert report.totals.params == params
    assert report.layers[-1].output_shape == out
    assert report.totals.macs == macs


def test_zfnet_against_torch():
    nn = require("torch").nn
    model = nn.Sequential(
        nn.Conv2d(3, 96, 7, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(96, 256, 5, 2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 384, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000), nn.Softmax(dim=1),
    )  # fmt: skip
    _check_against_torch("zfnet", model)


def test_alexnet_grouped_against_torch():
    nn = require("torch").nn
    model = nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.Conv2d(384, 384, 3, padding=1, groups=2),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000),
    )  # fmt: skip
    _check_against_torch("alexnet-2012-grouped", model)


def test_welcome_against_torch():
    nn = require("torch").nn
    model = nn.Sequential(
        nn.Conv1d(1, 16, 320, 160), nn.ReLU(), nn.Conv1d(16, 32, 5, 2), nn.ReLU(),
        nn.Conv1d(32, 32, 4, 2), nn.ReLU(), nn.Conv1d(32, 64, 8), nn.ReLU(),
        nn.Conv1d(64, 1, 1), nn.Sigmoid(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
    )  # fmt: skip
    _check_against_torch("welcome-1d", model)


def test_unet_against_torch():
    torch = require("torch")
    nn = torch.nn

    def double(a: int, b: int):
        return nn.Sequential(
            nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1), nn.ReLU()
        )

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [64, 128, 256, 512]
            self.down = nn.ModuleList(double(a, b) for a, b in zip([1, *chans], chans))
            self.bottom = double(512, 1024)
            self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * c, c, 2, 2) for c in reversed(chans))
            self.dec = nn.ModuleList(double(2 * c, c) for c in reversed(chans))
            self.head = nn.Conv2d(64, 2, 1)

        def forward(self, x):
            skips = []
            for block in self.down:
                x = block(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.bottom(x)
            for up, dec, skip in zip(self.ups, self.dec, reversed(skips)):
                x = dec(torch.cat([skip, up(x)], 1))
            return self.head(x)

    # A 64x64 input keeps the forward pass quick; parameters do not depend on it.
    _check_against_torch("unet", UNet(), input_shape="64x64x1")
