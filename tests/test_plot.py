"""`archcalc plot`: the plotted figures against hand arithmetic, the plot files themselves.

The CS231n example is one 5×5 conv, 10 filters, pad 2, on an N×N×3 input: params
(5·5·3 + 1)·10 = 760 for any N, MACs N·N·10·75 = 750·N², receptive field 5.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.cli.plot import collect_points, parse_range
from archcalc.render.plots import MAX_POINTS, frontier
from tests.oracles import require


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_points_follow_the_hand_formulas() -> None:
    name, points, skipped, designed = collect_points(
        "cs231n-conv-example", [8, 16, 32], 1, "float32", None
    )
    assert name == "cs231n conv example" and not skipped and designed == 32
    assert [p.params for p in points] == [760, 760, 760]
    assert [p.macs for p in points] == [750 * 8 * 8, 750 * 16 * 16, 750 * 32 * 32]
    assert [p.rf for p in points] == [5, 5, 5]
    # activation memory grows with the positions: 4× the pixels, 4× the bytes
    assert points[1].activation_bytes == 4 * points[0].activation_bytes


def test_sizes_too_small_for_the_net_are_skipped() -> None:
    # LeNet-5: conv 5 → pool 2 → conv 5 → pool 2; 12 → 8 → 4 → 0: no net; 16 → 12 → 6 → 2 → 1
    _, points, skipped, _ = collect_points("lenet5", [12, 16, 32], 1, "float32", None)
    assert skipped == [12] and [p.size for p in points] == [16, 32]


def test_ranges() -> None:
    assert parse_range("32:512:32") == list(range(32, 513, 32))
    spread = parse_range("32:512")
    assert spread[0] == 32 and spread[-1] == 512 and len(spread) == 32
    assert parse_range("5:7") == [5, 6, 7]


def test_frontier() -> None:
    # b beats c on both; a has the fewest params, b the fewest MACs: a and b are the frontier
    pts = [("a", 1, 10), ("b", 5, 2), ("c", 6, 3), ("d", 2, 12)]
    assert frontier(pts) == ["a", "b"]


def test_plot_files(tmp_path: Path) -> None:
    require("matplotlib")
    out = tmp_path / "cost.svg"
    code, output = run("plot", "lenet5", "--vs", "input", "24:64:8", "-o", str(out))
    assert code == 0, output
    assert ET.parse(out).getroot().tag.endswith("svg")
    out2 = tmp_path / "cmp.png"
    code, output = run("plot", "lenet5", "alexnet", "resnet18", "-o", str(out2))
    assert code == 0, output
    assert out2.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lenet5", "--vs", "input", "64:32"], "FROM ≤ TO"),
        (["lenet5", "--vs", "input", "1:1000:1"], f"at most {MAX_POINTS}"),
        (["lenet5", "--vs", "depth", "1:3"], "--vs takes 'input'"),
        (["lenet5"], "two or more specs"),
        (["lenet5", "alexnet", "--vs", "input", "32:64"], "one SPEC"),
    ],
)
def test_bad_usage(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = run("plot", *args, "-o", str(tmp_path / "p.svg"))
    assert code == 2 and message in output and "Traceback" not in output


def test_refuses_to_overwrite_a_spec(tmp_path: Path) -> None:
    spec = tmp_path / "net.svg"
    spec.write_text("input: 8x8x1\nlayers:\n  - conv: {filters: 2, kernel: 3}\n")
    code, output = run("plot", str(spec), "lenet5", "-o", str(spec))
    assert code == 2 and "refusing" in output
