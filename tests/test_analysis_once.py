"""Each command loads its spec once and analyses it once, then hands the result on: rf's unit
windows, verify's run and draw's diagram use the analysis' graph, shapes and fields rather than
reading the spec again or re-inferring shapes (where an --input override could be forgotten)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import archcalc.analysis
import archcalc.analysis.shapes
import archcalc.spec
from tests.helpers import cli


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counted = {"load": 0, "infer_shapes": 0}

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(archcalc.spec, "load", counting("load", archcalc.spec.load))
    shapes = counting("infer_shapes", archcalc.analysis.shapes.infer_shapes)
    monkeypatch.setattr(archcalc.analysis, "infer_shapes", shapes)
    monkeypatch.setattr(archcalc.analysis.shapes, "infer_shapes", shapes)
    return counted


@pytest.mark.parametrize(
    "args",
    [
        ("rf", "alexnet", "--layer", "conv2", "--unit", "3,4", "--input", "195x195x3"),
        ("verify", "lenet5", "--input", "36x36x1"),
        ("draw", "alexnet", "-o", "{tmp}/a.dot", "--input", "195x195x3"),
    ],
    ids=["rf", "verify", "draw"],
)
def test_one_load_one_analysis(
    calls: dict[str, int], tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 0, result.output
    assert calls == {"load": 1, "infer_shapes": 1}


def test_rf_unit_window_uses_the_overridden_input() -> None:
    # conv2's unit 22 sees rows 160..210 (51 wide, stride 8): inside a 227-row input, but past
    # the end of a 195-row one, whose last real row is 194.
    args = ("rf", "alexnet", "--layer", "conv2", "--unit", "22,22")
    assert "none of it padding; real rows 160–210" in cli(*args).stdout
    smaller = cli(*args, "--input", "195x195x3").stdout
    assert "0 in padding before, 16 after; real rows 160–194" in smaller
