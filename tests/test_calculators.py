"""`archcalc conv` / `archcalc pool`, and the student traps in summarize, check and the
calculators (dense without flatten, a two-number input, --course)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from tests.helpers import analyse

ROOT = Path(__file__).parent.parent


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_conv_the_notes_example() -> None:
    code, out, _ = cli(
        "conv", "32x32x3", "--filters", "10", "--kernel", "5", "--stride", "1", "--pad", "2"
    )
    assert code == 0
    # (32 + 2·2 − 5)/1 + 1 = 32; (5·5·3 + 1)·10 = 760; 32·32·10 · 5·5·3 = 768,000
    assert "→ 32x32x10; params 760, MACs 768,000, receptive field 5x5" in out
    assert "output     (32 + 2·2 − 5)/1 + 1 = 32" in out
    assert "params     (5·5·3 + 1)·10 = 760" in out
    assert "MACs       32·32·10 · 5·5·3 = 768,000" in out


def test_conv_that_does_not_fit_prints_the_fraction_and_the_nearest_fits() -> None:
    code, out, _ = cli("conv", "7x7x1", "-n", "1", "-k", "3", "-s", "3")
    assert code == 0  # a warning: frameworks floor it
    assert "(7 − 3)/3 + 1 = 2.33" in out
    assert "fits exactly with pad 1 (→ 3), stride 2 (→ 3) or stride 4 (→ 2)" in out
    assert "→ 2x2x1" in out
    for flag in ("--strict", "--course"):
        code, out, _ = cli("conv", "7x7x1", "-n", "1", "-k", "3", "-s", "3", flag)
        assert code == 1 and "error:" in out and "(7 − 3)/3 + 1 = 2.33" in out


def test_pool_the_notes_examples() -> None:
    code, out, _ = cli("pool", "4x4x1", "--kernel", "2", "--stride", "2")
    assert code == 0 and "maxpool 2×2 → 2x2x1; params 0" in out
    assert "(4 + 2·0 − 2)/2 + 1 = 2" in out
    # W2 = (W1 − F)/S + 1: (224 − 2)/2 + 1 = 112
    code, out, _ = cli("pool", "224x224x64", "-k", "2", "-s", "2", "--avg")
    assert "avgpool 2×2 → 112x112x64" in out
    # ceil_mode: (7 − 2)/2 + 1 = 3.5 → 4
    code, out, _ = cli("pool", "7x7x1", "-k", "2", "-s", "2", "--ceil-mode")
    assert code == 0 and "→ 4x4x1" in out and "ceil_mode rounds up to 4" in out
    # the default pooling stride is the window: 3x3 windows on 9x9 → 3x3
    assert "→ 3x3x1" in cli("pool", "9x9x1", "-k", "3")[1]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        # dilation 2 makes a 3x3 window span 5: (32 + 2·2 − 5)/1 + 1 = 32 with pad 2
        (
            ["-n", "8", "-k", "3", "-d", "2", "-p", "2"],
            "→ 32x32x8; params 224, MACs 221,184, receptive field 5x5",
        ),
        # groups: 3 groups of 1 input channel: (3·3·1 + 1)·6 = 60 params
        (["-n", "6", "-k", "3", "-g", "3", "-p", "same"], "→ 32x32x6; params 60"),
        # transposed: (32 − 1)·2 + 3 = 65
        (["-n", "4", "-k", "3", "-s", "2", "--transpose"], "→ 65x65x4"),
        (["-n", "4", "-k", "3", "--no-bias"], "params 108"),
    ],
)
def test_conv_options(args: list[str], shown: str) -> None:
    code, out, err = cli("conv", "32x32x3", *args)
    assert code == 0, err
    assert shown in out


def test_a_chain_on_the_command_line_and_as_an_inline_spec() -> None:
    code, out, _ = cli(
        "conv",
        "227x227x3",
        "-n",
        "96",
        "-k",
        "11",
        "-s",
        "4",
        "--then",
        "relu",
        "--then",
        "maxpool: {kernel: 3, stride: 2}",
    )
    assert code == 0
    assert "conv1: conv 11×11/4, 96 → 55x55x96; params 34,944" in out
    assert "maxpool1: maxpool 3×3/2 → 27x27x96" in out
    assert "total: params 34,944, MACs 105,415,200" in out
    code, inline, _ = cli(
        "conv",
        "{input: 227x227x3, layers: [conv: {filters: 96, kernel: 11, "
        "stride: 4}, relu, maxpool: {kernel: 3, stride: 2}]}",
    )
    assert code == 0 and inline == out


def test_json_is_the_report_contract() -> None:
    code, out, _ = cli("conv", "32x32x3", "-n", "10", "-k", "5", "-p", "2", "--format", "json")
    assert code == 0
    data = json.loads(out)
    [layer] = data["layers"]
    assert layer["output_shape"] == [32, 32, 10] and layer["params"] == 760
    assert layer["receptive_field"]["size"] == [5, 5]
    assert any(e["figure"] == "params" for e in layer["explain"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv", "32x32x3", "-k", "3"], "conv needs --filters"),
        (["conv", "32x32x3", "-n", "2", "-k", "three"], "expected a size such as 3 or 3x5"),
        (
            ["conv", "32x32x3", "-n", "2", "-k", "3", "--then", "maxpool: {kernl: 2}"],
            "<command line>:4:15: error: maxpool has no attribute 'kernl'",
        ),
        (["pool", "4x4x1", "-k", "9"], "error"),
        (["conv", "axb", "-n", "2", "-k", "3"], "expected a shape like 227x227x3"),
    ],
)
def test_bad_calculator_input(args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code in (1, 2)
    assert message in out + err
    assert "Traceback" not in err


# --- student traps --------------------------------------------------------------------


ALEXNET = (ROOT / "specs" / "alexnet.yaml").read_text()


def test_dense_without_flatten_is_flagged_with_what_frameworks_would_do() -> None:
    without = ALEXNET.replace("  - flatten\n", "")
    report = analyse(without)
    # per position: fc6 is 256·4096 + 4096 and runs at 6·6 positions; fc7, fc8 follow; the
    # total drops from 62,378,344 to 25.7 M — what nn.Linear / Dense would silently build
    assert report.totals.params == 62_378_344 - (9216 - 256) * 4096
    assert round(report.totals.params / 1e6, 1) == 25.7
    [d] = [d for d in report.diagnostics if d.code == "dense-per-position"]
    assert d.severity == "warning" and d.layer == "fc6"
    assert "applied at each of its 36 positions" in d.message
    assert "1,052,672 params" in d.message and "37,752,832 params" in d.message
    assert "flatten" in d.hint
    # with the flatten, nothing is said
    assert not [d for d in analyse(ALEXNET).diagnostics if d.code == "dense-per-position"]


def test_two_number_input_says_how_it_was_read() -> None:
    report = analyse("input: 32x32\nlayers: [conv: {filters: 4, kernel: 3}]")
    [d] = [d for d in report.diagnostics if d.code == "input-two-numbers"]
    assert d.severity == "warning"
    assert "read as a 1-D signal: length 32 with 32 channels" in d.message
    assert "32x32x1" in d.hint and "32x32x3" in d.hint
    assert (d.pos.line, d.pos.column) == (1, 8)
    # a real 1-D signal (length x a few channels) is not flagged
    assert not [d for d in analyse("input: 16000x1\nlayers: [relu]").diagnostics]


def test_course_mode_makes_traps_and_non_fitting_filters_errors(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 32x32\nlayers: [conv: {filters: 4, kernel: 3}]\n")
    code, _, _ = cli("check", str(spec))
    assert code == 0
    code, out, err = cli("check", str(spec), "--course")
    assert code == 1 and "FAIL" in out and "(course mode)" in err
    code, _, err = cli("summarize", str(ROOT / "tests" / "data" / "stride3.yaml"), "--course")
    assert code == 1 and "error: conv1: the filter doesn't fit" in err
    code, out, _ = cli("conv", "32x32", "-n", "4", "-k", "3", "--course")
    assert code == 1 and "read as a 1-D signal" in out
