"""The catalogue of common mistakes: each entry recognises the wrong answer it produces, worked
out by hand here, and nothing else."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from archcalc.homework.answers import Tolerance, number_matches, parse_number
from archcalc.homework.mistakes import BY_ID, CATALOGUE, Case, recognise
from archcalc.homework.net import Net
from archcalc.spec import load


def net(text: str) -> Net:
    loaded = load("test.yaml", textwrap.dedent(text))
    return Net.of(loaded.graph, loaded.diagnostics)


def same(given: Any, wrong: Any) -> bool:
    if isinstance(wrong, tuple):
        return bool(given == wrong)
    return number_matches(parse_number(given), float(wrong), Tolerance())


CONV = "input: 32x32x3\nlayers: [conv: {name: c, filters: 10, kernel: 5, stride: 1, pad: 2}]"
STRIDED = "input: 7x7x1\nlayers: [conv: {name: c, filters: 1, kernel: 3, stride: 2, pad: 1}]"
ODD = "input: 7x7x1\nlayers: [conv: {name: c, filters: 1, kernel: 3, stride: 3}]"
POOL = "input: 4x4x8\nlayers: [maxpool: {name: p, kernel: 2, stride: 2}]"
BN = "input: 8x8x3\nlayers: [conv: {name: c, filters: 4, kernel: 3, bias: false}, batchnorm]"

# (mistake, net, ask, layer, the wrong answer worked out by hand, the right one)
CASES = [
    ("biases-left-out", CONV, "params", "c", 5 * 5 * 3 * 10, 760),
    ("input-channels-left-out", CONV, "params", "c", (5 * 5 + 1) * 10, 760),
    ("input-channels-left-out", CONV, "macs", "c", 32 * 32 * 10 * 5 * 5, 768_000),
    # (7 + 2·1 − 3)/2 + 1 = 4; without padding (7 − 3)/2 + 1 = 3
    ("padding-forgotten", STRIDED, "output_shape", "c", (3, 3, 1), (4, 4, 1)),
    # stride ignored: (7 + 2 − 3)/1 + 1 = 7
    ("stride-ignored", STRIDED, "output_shape", "c", (7, 7, 1), (4, 4, 1)),
    # (7 − 3)/3 + 1 = 2.33: frameworks floor to 2, ceil gives 3
    ("floor-vs-ceil", ODD, "output_shape", "c", (3, 3, 1), (2, 2, 1)),
    ("floor-vs-ceil", ODD, "exact_size", "c", 2, 7 / 3),
    # forgetting the + 1: (32 + 4 − 5)/1 = 31
    ("off-by-one", CONV, "output_shape", "c", (31, 31, 10), (32, 32, 10)),
    # a 2x2 pool counted as a conv with 8 filters: (2·2·8 + 1)·8
    ("pooling-params-counted", POOL, "params", "p", (2 * 2 * 8 + 1) * 8, 0),
    ("macs-vs-flops", CONV, "macs", "c", 2 * 768_000, 768_000),
    ("macs-vs-flops", CONV, "flops", None, 768_000, 1_546_240),
    # batchnorm on 4 channels: 8 learned (scale, shift) + 8 stored (mean, variance)
    ("keras-batchnorm-statistics", BN, "params", None, 3 * 3 * 3 * 4 + 8 + 8, 3 * 3 * 3 * 4 + 8),
]


@pytest.mark.parametrize(("mistake", "spec", "ask", "layer", "wrong", "right"), CASES)
def test_each_mistake_is_recognised(
    mistake: str, spec: str, ask: str, layer: str | None, wrong: Any, right: Any
) -> None:
    case = Case(net(spec), ask, layer)
    assert case.net.figure(ask, layer) == pytest.approx(right)
    found = [m.id for m in recognise(case, wrong, same)]
    assert found and found[0] == mistake, found
    # the right answer is never taken for a mistake, nor is an unrelated wrong one
    assert recognise(case, right, same) == []
    assert recognise(case, (99, 99, 1) if isinstance(wrong, tuple) else 123_457, same) == []


def test_every_catalogued_mistake_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(BY_ID) == {m.id for m in CATALOGUE}


def test_a_slip_at_one_layer_is_looked_for_at_that_layer_only() -> None:
    # stride ignored at pool1 of AlexNet: (55 − 3)/1 + 1 = 53, with conv1 left as it is
    case = Case(
        net(
            "input: 227x227x3\nlayers: [conv: {filters: 96, kernel: 11, stride: 4}, "
            "maxpool: {name: pool1, kernel: 3, stride: 2}]"
        ),
        "output_shape",
        "pool1",
    )
    assert [m.id for m in recognise(case, (53, 53, 96), same)] == ["stride-ignored"]
