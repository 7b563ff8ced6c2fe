"""Terminal output that fits and says things in proportion: widths, --depth, the legend,
diagnostics by verbosity, shown paths, readable generated names, one --format for every command."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.render.output import Column, fit_table
from tests.helpers import analyse

ROOT = Path(__file__).parent.parent


def run(*args: str, columns: int | None = None, lines: int | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": str(columns) if columns else "", "LINES": str(lines) if lines else ""}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


# -- width -----------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["resnet50", "mobilenet_v2", "densenet121", "inception_v3"])
@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_fits_the_width(net: str, width: int) -> None:
    code, out, _ = run("summarize", net, "--depth", "all", columns=width)
    assert code == 0
    # no row lost or split: one line per layer between the header and the blank line
    body = out.split("\n\n")[0].splitlines()[2:]
    assert max(len(line) for line in body) <= width
    if width >= 80:  # the totals and the legend too
        assert max(len(line) for line in out.splitlines()) <= width
    layers = json.loads(run("summarize", net, "-f", "json")[1])["layers"]
    assert len([line for line in body if not line.startswith("fit:")]) == len(layers)


def test_wide_and_a_pipe_show_every_column_in_full() -> None:
    _, narrow, _ = run("summarize", "resnet50", "--depth", "all", columns=80)
    _, wide, _ = run("summarize", "resnet50", "--depth", "all", "--wide", columns=80)
    _, piped, _ = run("summarize", "resnet50", "--depth", "all")
    assert wide == piped
    assert "layer1.0.shortcut.0" in wide and "4,089,184,256" in wide
    header = wide.splitlines()[1].split()
    assert header == ["layer", "type", "output", "params", "MACs", "RF", "fit"]
    assert "RF" not in narrow.splitlines()[1].split()  # the first column to go


def test_fitting_order_compact_numbers_then_names_then_columns() -> None:
    cols = [
        Column("name", "layer", shorten="left", least=6),
        Column("type", "type", shorten="right", least=6, drop=1),
        Column("n", "n", right=True, text=lambda v: f"{v:,}", compact=lambda v: f"{v / 1e6:.1f}M"),
        Column("extra", "extra", drop=3),
    ]
    rows = [
        {
            "name": "a.very.long.qualified.name",
            "type": "convolution",
            "n": 12_345_678,
            "extra": "x" * 10,
        }
    ]
    # wide enough: everything as it is
    kept, cells, _ = fit_table(cols, rows, 200)
    assert cells == [["a.very.long.qualified.name", "convolution", "12,345,678", "x" * 10]]
    # numbers go compact first, then the lowest-priority column, then text is shortened
    kept, cells, widths = fit_table(cols, rows, 40)
    assert [c.key for c in kept] == ["name", "type", "n"]
    assert cells[0][2] == "12.3M" and sum(widths) + 2 * (len(widths) - 1) <= 40
    kept, cells, widths = fit_table(cols, rows, 24)
    assert cells[0][0].startswith("…") and cells[0][0].endswith("qualified.name"[-4:])
    assert sum(widths) + 2 * (len(widths) - 1) <= 24


# -- depth -----------------------------------------------------------------------------------


def test_depth_folds_blocks_with_their_totals() -> None:
    code, out, _ = run("summarize", "resnet50", "--depth", "1", "--format", "csv", "--wide")
    assert code == 0
    # CSV stays one line per layer (the machine format), the table folds
    assert len(out.splitlines()) == 1 + 174 + 1
    _, table, _ = run("summarize", "resnet50", "--depth", "1", "--wide")
    rows = {line.split()[0]: line for line in table.splitlines()[2:] if line and line[0] != " "}
    # layer1: 75,008 + 2 × 70,400 = 215,808 parameters (see test_draw)
    assert "215,808" in rows["layer1"] and "stage" in rows["layer1"]
    assert [n for n in rows if n.startswith("layer")] == ["layer1", "layer2", "layer3", "layer4"]
    assert "blocks folded" not in table  # asked for, not chosen


def test_default_depth_fits_the_screen_and_says_so() -> None:
    _, out, _ = run("summarize", "resnet50", columns=100, lines=50)
    assert len(out.splitlines()) <= 50
    assert "blocks folded below depth" in out and "--depth all" in out
    # a small net is never folded
    _, alex, _ = run("summarize", "alexnet", columns=100, lines=50)
    assert "folded" not in alex and "conv5" in alex


def test_rf_folds_and_fits_too() -> None:
    _, out, _ = run("rf", "resnet50", "--depth", "1", columns=80)
    assert max(map(len, out.splitlines())) <= 80
    # a folded block shows the field of its output: layer1 ends with a 35x35 field (0.5 + 2 × 8)
    line = next(line for line in out.splitlines() if line.startswith("layer1 "))
    assert "35×35" in line


def test_legend_names_only_the_marks_shown() -> None:
    _, out, _ = run("summarize", "resnet50", "--wide")
    assert "fit: ≈ only padding left over" in out and "⚠" not in out
    _, clean, _ = run("summarize", "alexnet")
    assert "fit:" not in clean
    # the totals are the last lines: the answer ends the screen
    assert out.rstrip().splitlines()[-1].lstrip().startswith("143.28 MiB")


# -- diagnostics -----------------------------------------------------------------------------


def test_padding_remainders_are_one_line_by_default() -> None:
    _, _, err = run("summarize", "resnet50")
    assert err.splitlines() == [
        "info: 5 layers leave padding uncovered; no input pixel is lost (-v lists them)",
        "info: 3 layers skip pixels with a stride above their window size (-v lists them)",
    ]
    assert max(map(len, err.splitlines())) <= 80


def test_verbose_lists_every_one_and_quiet_none() -> None:
    _, _, err = run("summarize", "resnet50", "-v")
    assert err.count("info:") == 8
    # a bundled spec is named by its name, not by where it is installed
    assert err.startswith("resnet50:47:5: info: conv1: (224 + 2·3 − 7)/2 + 1 = 112.50")
    assert str(ROOT) not in err
    assert run("summarize", "resnet50", "-q")[2] == ""


@pytest.mark.parametrize("command", ["summarize", "check", "rf", "verify", "draw", "run", "zoo"])
def test_every_command_takes_quiet_and_verbose(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert "-q, --quiet" in result.output and "-v, --verbose" in result.output


def test_a_file_under_the_current_directory_is_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nets").mkdir()
    spec = tmp_path / "nets" / "bad.yaml"
    spec.write_text("input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernel: 3, stride: 3}\n")
    monkeypatch.chdir(tmp_path)
    _, _, err = run("check", str(spec))
    assert err.startswith("nets/bad.yaml:3:5: warning:")


# -- options that do something ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "rf", "draw"])
def test_no_batch_or_dtype_where_they_change_nothing(command: str) -> None:
    text = CliRunner().invoke(main, [command, "--help"]).output
    assert "--batch" not in text and "--dtype" not in text


@pytest.mark.parametrize(
    "args",
    [
        ["summarize", "alexnet"],
        ["check", "alexnet", "vgg16"],
        ["rf", "alexnet"],
        ["verify", "lenet5"],
        ["zoo"],
    ],
)
def test_one_format_option_for_every_table(args: list[str]) -> None:
    for fmt in ("json", "csv", "markdown"):
        code, out, _ = run(*args, "--format", fmt)
        assert code == 0, (args, fmt)
        if fmt == "json":
            json.loads(out)
        elif fmt == "csv":
            assert len(list(csv.reader(io.StringIO(out)))) >= 2
        else:
            assert out.count("|") > 4


def test_no_colour_with_no_color_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.cli.common import use_colour

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())


def test_version() -> None:
    from archcalc import __version__

    assert run("--version")[1] == f"archcalc, version {__version__}\n"


def test_license_file_is_mit() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_readme_and_ci_install_the_same_extras() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "pip install -e '.[test,oracles]' && python -m pytest"
    assert command in readme and command in ci


# -- generated names -------------------------------------------------------------------------


def test_a_counter_is_never_glued_to_a_digit() -> None:
    names = [
        r.name
        for r in analyse(
            "input: 8x8x3\nlayers: [conv: {filters: 4, kernel: 3}, relu6, relu6, relu]\n"
        ).layers
    ]
    assert names == ["conv1", "relu6_1", "relu6_2", "relu1"]


def test_an_unnamed_residual_block_adds_no_level() -> None:
    report = analyse(
        """
        input: 8x8x4
        blocks:
          unit:
            layers:
              - residual:
                  body: [conv: {filters: 4, kernel: 3, pad: 1}, relu]
              - residual:
                  body: [conv: {filters: 4, kernel: 3, pad: 1}]
                  shortcut: [conv: {filters: 4, kernel: 1}]
              - residual:
                  body: [conv: {filters: 4, kernel: 1}]
                  shortcut: [conv: {filters: 4, kernel: 1}]
        layers:
          - unit
        """
    )
    names = [r.name for r in report.layers]
    assert names == [
        "unit1.conv1",
        "unit1.relu1",
        "unit1.add1",
        "unit1.conv2",
        "unit1.shortcut.conv1",
        "unit1.add2",
        "unit1.conv3",
        "unit1.shortcut2.conv1",  # a second shortcut in the same block gets its own name
        "unit1.add3",
    ]
    # the residual blocks are still scopes (the tree and the diagram draw them)
    assert report.layers[0].scope == ("unit1", "unit1.residual1")


def test_numeric_names_count_on_under_repeat_as_torchvision_names_them() -> None:
    report = analyse(
        """
        input: 8x8x4
        blocks:
          basic:
            layers: [conv: {name: conv1, filters: 4, kernel: 3, pad: 1}, relu: {name: relu}]
        layers:
          - sequential:
              name: layer1
              layers:
                - repeat: 3
                  basic: {name: 0}
        """
    )
    assert [r.name for r in report.layers if r.type == "conv"] == [
        "layer1.0.conv1",
        "layer1.1.conv1",
        "layer1.2.conv1",
    ]


def test_bundled_resnets_use_torchvision_names() -> None:
    """As torchvision.models.resnet50().named_modules() names them (downsample → shortcut)."""
    layers = json.loads(run("summarize", "resnet50", "-f", "json")[1])["layers"]
    names = {layer["name"] for layer in layers}
    assert {
        "conv1",
        "bn1",
        "maxpool",
        "layer1.0.conv1",
        "layer1.0.bn3",
        "layer4.2.conv3",
        "fc",
    } <= names
    assert {"layer2.0.shortcut.0", "layer2.0.shortcut.1"} <= names
    assert not any(
        name[-1].isdigit() and name[-2:-1].isdigit() and "relu6" in name for name in names
    )


def test_no_generated_name_glues_a_counter_to_a_digit_in_any_bundled_net() -> None:
    from archcalc.zoo import bundled_names

    for net in bundled_names():
        for layer in json.loads(run("summarize", net, "-f", "json")[1])["layers"]:
            for part in layer["name"].split("."):
                assert not any(
                    part.startswith(f"{t}{d}") for t in ("relu6",) for d in "0123456789"
                ), (net, part)


def test_columns_env_wins_over_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.render.output import terminal_width

    monkeypatch.setenv("COLUMNS", "77")
    assert terminal_width(io.StringIO()) == 77
    monkeypatch.delenv("COLUMNS")
    assert terminal_width(io.StringIO()) is None  # a pipe: no limit
    assert os.environ.get("COLUMNS") is None


def test_verify_folds_blocks_with_sums_checked_by_execution() -> None:
    code, out, _ = run("verify", "resnet18", "--depth", "1", "--rf-samples", "0", "--wide")
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith("layer1 "))
    # two basic blocks of two 3×3 64→64 convs and two 64-channel batchnorms:
    # 2 · (2 · 9·64·64 + 2 · 2·64) = 147,968 parameters, measured by the run
    assert "147,968" in row and row.rstrip().endswith("PASS")
