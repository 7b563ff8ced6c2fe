"""`archcalc animate`: the frames against the analysis and against hand arithmetic.

output = floor((N + 2P − D·(K − 1) − 1)/S) + 1 per axis; a transposed conv gives
(N − 1)·S − 2P + K. The window positions drawn must be exactly the output cells, and the input
rows no window covers must be those the stride-fit diagnostic counts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.render.animate import MAX_FRAMES, UNCOVERED, build
from tests.oracles import require

SVG = "{http://www.w3.org/2000/svg}"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _never_seen(anim_diags: list) -> tuple[int, int]:
    """(rows, columns) the stride-fit diagnostic says are never seen."""
    text = " ".join(d.message for d in anim_diags)
    rows = re.search(r"(\d+) input rows? at the bottom", text)
    cols = re.search(r"(\d+) input columns? at the right", text)
    return (int(rows.group(1)) if rows else 0, int(cols.group(1)) if cols else 0)


@pytest.mark.parametrize(
    ("kind", "size", "k", "s", "p", "d", "out"),
    [
        ("conv", (7, 7), 3, 2, 1, 1, (4, 4)),  # (7 + 2 − 3)/2 + 1 = 4
        ("conv", (7, 7), 3, 3, 0, 1, (2, 2)),  # (7 − 3)/3 + 1 = 2.33 → 2
        ("conv", (9, 9), 3, 1, 0, 2, (5, 5)),  # span 2·2 + 1 = 5: 9 − 5 + 1 = 5
        ("conv", (5, 8), 3, 2, 0, 1, (2, 3)),  # rows (5 − 3)/2 + 1 = 2; cols (8 − 3)/2 + 1 = 3.5
        ("maxpool", (6, 6), 3, 2, 0, 1, (2, 2)),  # (6 − 3)/2 + 1 = 2.5 → 2
        ("avgpool", (4, 4), 2, 2, 0, 1, (2, 2)),
        ("transposed", (3, 3), 3, 2, 0, 1, (7, 7)),  # (3 − 1)·2 + 3 = 7
        ("transposed", (4, 4), 4, 2, 1, 1, (8, 8)),  # (4 − 1)·2 − 2 + 4 = 8 (DCGAN's up-conv)
    ],
)
def test_window_positions_are_the_output_cells(
    kind: str, size: tuple[int, int], k: int, s: int, p: int, d: int, out: tuple[int, int]
) -> None:
    anim = build(kind, size, (k, k), (s, s), (p, p), (d, d))
    assert anim.out == out
    assert anim.frames == out[0] * out[1]
    rows, cols = len(anim.grid), len(anim.grid[0])
    for taps in anim.taps:
        # a dilated window has K·K taps with D − 1 cells between them
        assert len(taps) == k * k
        assert all(0 <= r < rows and 0 <= c < cols for r, c in taps)
        assert all(anim.grid[r][c] != UNCOVERED for r, c in taps)
    # the uncovered rows and columns are the diagnostic's count, and no window reaches them
    assert (anim.uncovered_rows, anim.uncovered_cols) == _never_seen(anim.diagnostics)


def test_misfit_hand_counts() -> None:
    # 7 wide, 3-wide window at stride 3: windows start at 0 and 3 and end at 5; row 6 unseen
    anim = build("conv", (7, 7), (3, 3), (3, 3), (0, 0))
    assert (anim.uncovered_rows, anim.uncovered_cols) == (1, 1)
    assert anim.grid[6] == [UNCOVERED] * 7
    # 5 × 8 at stride 2: rows 0..4 all covered ((5 − 3)/2 + 1 = 2), column 7 never
    anim = build("conv", (5, 8), (3, 3), (2, 2), (0, 0))
    assert (anim.uncovered_rows, anim.uncovered_cols) == (0, 1)


def test_padding_and_inserted_zeros() -> None:
    anim = build("conv", (5, 5), (3, 3), (1, 1), (1, 1))
    assert len(anim.grid) == 7 and anim.grid[0] == ["pad"] * 7
    # transposed 3×3 at stride 2: 3 inputs spread to 5 cells with one zero between, padded by
    # K − 1 − P = 2 on each side: 9 cells
    anim = build("transposed", (3, 3), (3, 3), (2, 2), (0, 0))
    assert len(anim.grid) == 9
    assert anim.grid[2][2:7] == ["input", "zero", "input", "zero", "input"]


def test_svg_has_one_frame_per_window(tmp_path: Path) -> None:
    out = tmp_path / "conv.svg"
    code, output = run(
        "animate", "conv", "7x7", "--kernel", "3", "--stride", "2", "--pad", "1", "-o", str(out)
    )
    assert code == 0, output
    root = ET.parse(out).getroot()
    frames = [g for g in root.iter(f"{SVG}g") if g.get("class") == "frame"]
    assert len(frames) == 16  # 4 × 4 output
    assert "16 window positions → 4×4 output" in output


def test_gif_and_png_frames(tmp_path: Path) -> None:
    Image = require("PIL.Image")

    code, output = run(
        "animate", "conv", "7x7", "-k", "3", "-s", "3", "-o", str(tmp_path / "m.gif")
    )
    assert code == 0, output
    assert Image.open(tmp_path / "m.gif").n_frames == 4
    assert "never seen" in output  # the stride-fit warning is shown
    code, output = run(
        "animate", "maxpool", "4x4", "-k", "2", "-s", "2", "-o", str(tmp_path / "f.png")
    )
    assert code == 0, output
    assert sorted(p.name for p in tmp_path.glob("f-*.png")) == [f"f-00{i}.png" for i in range(1, 5)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv", "200x200", "-k", "3"], "at most 64×64"),
        (["conv", "30x30", "-k", "3"], f"at most {MAX_FRAMES}"),
        (["conv", "7x7", "-k", "9"], "do not make a layer"),
        (["conv", "7x7", "-k", "x"], "--kernel takes"),
        (["maxpool", "7x7", "--dilation", "2"], "conv only"),
        (["transposed", "3x3", "-k", "2", "-p", "3"], "pad"),
    ],
)
def test_bad_settings_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = run("animate", *args, "-o", str(tmp_path / "a.svg"))
    assert code == 2
    assert message in output and "Traceback" not in output
    assert not (tmp_path / "a.svg").exists()


def test_bad_suffix(tmp_path: Path) -> None:
    code, output = run("animate", "conv", "7x7", "-o", str(tmp_path / "a.mp4"))
    assert code == 2 and ".svg, .gif or .png" in output
