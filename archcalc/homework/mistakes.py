"""The catalogue of common mistakes: what a wrong answer is, when it is a known slip.

One entry per mistake, in one table. Each names the figures it can spoil and how to get the
wrong value it produces: mostly by analysing the same net with the slip made (padding
forgotten = padding 0 everywhere), so the wrong value is as exact as the right one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.homework.net import FigureError, Net, ceil_or_floor_shape
from archcalc.shapes import numel

WINDOWED = ("conv", "pool")  # families whose windows have padding and stride


@dataclass(frozen=True)
class Case:
    """One question about one net: what the mistakes are computed from."""

    net: Net
    ask: str
    layer: str | None

    def with_change(self, change: Callable[[Any], dict[str, Any] | None]) -> list[Any]:
        """The figure with the slip made at the asked layer (at every layer for a total)."""
        if self.layer is not None:
            name = self.net.row(self.layer).name
            only = change
            change = lambda node: only(node) if node.name == name else None  # noqa: E731
        other = self.net.variant(change)
        if other is None:
            return []
        try:
            return [other.figure(self.ask, self.layer)]
        except FigureError:
            return []

    def rows(self) -> list[Any]:
        """The asked layer's row, or every row for a whole-net total."""
        if self.layer is None and self.ask in ("params", "macs", "flops"):
            return self.net.report.layers
        return [self.net.row(self.layer)]


@dataclass(frozen=True)
class Mistake:
    id: str
    asks: frozenset[str]
    says: str  # shown to the student: what this slip is and what to do instead
    wrong: Callable[[Case], list[Any]]  # the answers the slip produces


def _windowed(attrs: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any] | None]:
    return lambda node: attrs(node) if node.op.family in WINDOWED else None


def _channels_left_out(case: Case) -> list[Any]:
    total = case.net.figure(case.ask, case.layer)
    cut = 0
    for row in case.rows():
        kernel = row.weights.get("kernel") if row.family == "conv" else None
        if kernel is None or kernel[-2] == 1:
            continue
        per_channel = numel(kernel) // kernel[-2]
        if case.ask == "params":
            cut += numel(kernel) - per_channel
        else:  # MACs: each output element's taps over one input channel instead of all
            cut += row.macs - row.macs // kernel[-2]
    return [total - cut] if cut else []


def _pool_params(case: Case) -> list[Any]:
    total = case.net.figure(case.ask, case.layer)
    as_conv = as_taps = 0
    for row in case.rows():
        layer = case.net.layers.get(row.name)
        if row.family != "pool" or layer is None or "kernel" not in layer.attrs:
            continue
        taps = numel(layer.per_axis("kernel")) * layer.input[-1]
        as_taps += taps
        as_conv += (taps + 1) * layer.input[-1]
    return [total + v for v in {as_taps, as_conv} if v]


def _off_by_one(case: Case) -> list[Any]:
    value = case.net.figure(case.ask, case.layer)
    if case.ask == "exact_size":
        return [value - 1, value + 1]
    return [(*[s + d for s in value[:-1]], value[-1]) for d in (-1, 1) if len(value) > 1]


def _floor_ceil(case: Case) -> list[Any]:
    row = case.net.row(case.layer)
    if case.ask == "exact_size":
        import math

        value = case.net.figure("exact_size", case.layer)
        return [math.floor(value), math.ceil(value)] if value.denominator != 1 else []
    other = ceil_or_floor_shape(case.net, row.name)
    return [other] if other is not None else []


def _keras_count(case: Case) -> list[Any]:
    buffers = sum(row.buffers for row in case.rows())
    return [case.net.figure(case.ask, case.layer) + buffers] if buffers else []


def _macs_flops(case: Case) -> list[Any]:
    macs = case.net.figure("macs", case.layer)
    return [2 * macs] if case.ask == "macs" else [macs]


CATALOGUE: tuple[Mistake, ...] = (
    Mistake(
        "biases-left-out",
        frozenset({"params", "param_bytes"}),
        "the biases are left out: each filter (or unit) also learns one bias, +1 per filter",
        lambda c: c.with_change(lambda n: {"bias": False} if n.attrs.get("bias") else None),
    ),
    Mistake(
        "input-channels-left-out",
        frozenset({"params", "macs"}),
        "the input channels are left out: a filter spans the whole input depth "
        "(F·F·C weights, not F·F)",
        _channels_left_out,
    ),
    Mistake(
        "padding-forgotten",
        frozenset({"output_shape", "exact_size", "macs", "flops", "fits", "lost"}),
        "the padding is forgotten: N + 2P, not N, goes into (N + 2P − F)/S + 1",
        lambda c: c.with_change(
            _windowed(lambda n: {"padding": 0} if n.attrs.get("padding") else {})
        ),
    ),
    Mistake(
        "stride-ignored",
        frozenset({"output_shape", "exact_size", "macs", "flops"}),
        "the stride is ignored: divide by S in (N + 2P − F)/S + 1",
        lambda c: c.with_change(_windowed(lambda n: {"stride": 1} if "stride" in n.attrs else {})),
    ),
    Mistake(
        "floor-vs-ceil",
        frozenset({"output_shape", "exact_size"}),
        "the size is rounded the wrong way: a window that does not fit is dropped (floor) unless the "
        "layer uses ceil_mode",
        _floor_ceil,
    ),
    Mistake(
        "off-by-one",
        frozenset({"output_shape", "exact_size"}),
        "the size is off by one: it is (N + 2P − F)/S + 1 — the + 1 counts the first "
        "window's position",
        _off_by_one,
    ),
    Mistake(
        "pooling-params-counted",
        frozenset({"params"}),
        "parameters are counted for a pooling layer: pooling has a window but no weights (0 params)",
        _pool_params,
    ),
    Mistake(
        "macs-vs-flops",
        frozenset({"macs", "flops"}),
        "MACs and FLOPs are mixed up: one multiply-accumulate is 2 floating-point operations "
        "(FLOPs ≈ 2 × MACs)",
        _macs_flops,
    ),
    Mistake(
        "keras-batchnorm-statistics",
        frozenset({"params"}),
        "batchnorm's running mean and variance are counted: Keras' count_params() includes "
        "them, but they are stored statistics, not learned parameters",
        _keras_count,
    ),
)
BY_ID = {m.id: m for m in CATALOGUE}


def recognise(case: Case, given: Any, same: Callable[[Any, Any], bool]) -> list[Mistake]:
    """The catalogued mistakes whose wrong value is the given answer."""
    found = []
    for mistake in CATALOGUE:
        if case.ask not in mistake.asks:
            continue
        try:
            wrongs = mistake.wrong(case)
        except FigureError:
            continue
        right = case.net.figure(case.ask, case.layer)
        if any(w != right and same(given, w) for w in wrongs):
            found.append(mistake)
    return found
