"""Receptive fields measured by execution.

A probe is an input marked with ones on a set of rows (axis 0) or columns (axis 1) and zeros
elsewhere. Run through every op's ``support`` rule (the forward with all-ones weights and no
additive terms, re-binarised after each layer), it reaches a unit exactly when the unit depends
on some marked row. For each sampled unit the analysis says exactly which rows it depends on
(:func:`archcalc.analysis.rf.dependencies`: the set E, holes included); every probe of the same
axis that ran deep enough is compared with it: the unit must be reached exactly when the probe
marks a row of E. The probes are

- for each sampled unit, the complement of E: proves the unit reads nothing outside E (nothing
  past its edges, nothing in its holes);
- single rows of E: the first and last row (so the span is tight), the first and last of every
  run between holes, and a few rows spread inside (so E is read where it claims to be).

A unit that disagrees is re-measured over every single row, so the value reported is the real
support. All probes of one batch run together; they are channel-uniform (every channel of a
marked row is marked), and unless a channel slice would tell channels apart, every mask is
reduced to "some channel depends on a marked input" and kept as one channel broadcast over the
rest, so the probe costs one channel of each layer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from archcalc.analysis.rf import Field, dependencies
from archcalc.backend.executor import Progress, layer_of
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.shapes import Shape, numel

Rows = frozenset[int]

_SPREAD = 1  # rows of E probed singly besides its ends and the ends of its runs
_MAX_RUNS = 8  # runs of E whose ends are probed singly (a dilated E has many)


@dataclass
class AxisProbe:
    """One sampled unit's dependency along one axis of the input."""

    axis: int
    unit: tuple[int, ...]  # the unit's index per spatial axis; () for a layer that sees all
    expected: Rows  # rows the analysis says the unit depends on, exactly
    envelope: Rows | None  # the rows its envelope (window and taps) says, for a unit inside
    measured: Rows | None = None  # rows measured: E itself when every probe agreed
    probes: int = 0  # probes compared with E

    @property
    def ok(self) -> bool:
        return self.measured == self.expected and self.envelope in (None, self.expected)

    @property
    def index(self) -> int:
        return self.unit[self.axis] if self.unit else 0


def span(rows: Rows | None) -> tuple[int, int] | None:
    return (min(rows), max(rows)) if rows else None


def has_holes(rows: Rows | None) -> bool:
    return bool(rows) and len(rows) != max(rows) - min(rows) + 1  # type: ignore[arg-type]


@dataclass
class FieldCheck:
    layer: str
    field: Field | None  # the analysed field (None where not defined: units still have E)
    probes: list[AxisProbe]
    size: tuple[int, ...] | None = None  # measured from two interior units, when they exist
    stride: tuple[int, ...] | None = None
    offset: tuple[Fraction, ...] | None = None

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.probes)

    @property
    def whole(self) -> bool:
        return not any(p.unit for p in self.probes)


def pick_samples(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    fields: Mapping[str, Field | None],
    count: int,
) -> list[str]:
    """Up to ``count`` layers spread over the net with a spatial output (evenly spaced, first
    and last included; their fields need not be defined), plus the first layer that sees the
    whole input."""
    if count <= 0 or len(graph.input_shape) < 2:
        return []
    windowed, whole = [], []
    for node in graph.nodes:
        f, layer = fields.get(node.name), layers[node.name]
        if layer is None:
            continue
        if (f is not None and f.whole) or len(layer.output) == 1:
            whole.append(node.name)
        elif len(layer.output) == len(graph.input_shape):
            windowed.append(node.name)
    chosen: list[str] = []
    if windowed:
        n = min(count, len(windowed))
        picks = {round(i * (len(windowed) - 1) / max(n - 1, 1)) for i in range(n)}
        chosen = [windowed[i] for i in sorted(picks)]
    if whole:
        chosen.append(whole[0])
    return chosen


def _units(f: Field | None, out: int, n: int, axis: int) -> list[int]:
    """The units probed along an axis: both ends (where padding and dropped rows show) and a
    middle pair, preferring one whose envelope lies inside the input (to measure the size)."""
    mid = out // 2
    if f is not None and not f.whole:
        inside = [u for u in range(out) if _inside(f, axis, u, n)]
        if len(inside) >= 2:
            mid = inside[len(inside) // 2 - 1]
    pair = [mid, mid + 1] if mid + 1 < out else [mid - 1, mid] if mid > 0 else [mid]
    return sorted({0, out - 1, *pair})


def _inside(f: Field, axis: int, unit: int, n: int) -> bool:
    lo, hi = f.window((0,) * axis + (unit,) + (0,) * (len(f.size) - axis - 1))[axis]
    return lo >= 0 and hi <= n - 1


def _envelope(f: Field | None, axis: int, unit: tuple[int, ...], spatial: Shape) -> Rows | None:
    """The rows the envelope says a unit reads along ``axis`` (its window minus the holes), for
    a unit whose window lies inside the input along every axis; None otherwise. (A unit whose
    window leaves the input on another axis may read only padding there, and so nothing.)"""
    if f is None or f.whole or f.taps is None:
        return None
    window = f.window(unit)
    if any(lo < 0 or hi > n - 1 for (lo, hi), n in zip(window, spatial)):
        return None
    lo = int(window[axis][0])
    taps = f.taps[axis]
    size = int(f.size[axis])
    return frozenset(lo + i for i in range(size) if taps is None or taps >> i & 1)


def _singles(rows: Rows) -> set[int]:
    """The rows of E probed one at a time: its ends, the ends of its runs, and a few inside."""
    ordered = sorted(rows)
    if not ordered:
        return set()
    picked = {ordered[0], ordered[-1]}
    runs = [i for i in range(1, len(ordered)) if ordered[i] != ordered[i - 1] + 1]
    for i in runs[:_MAX_RUNS]:
        picked.update((ordered[i - 1], ordered[i]))
    step = max(1, len(ordered) // (_SPREAD + 1))
    picked.update(ordered[step::step][:_SPREAD])
    return picked


@dataclass
class _Plan:
    layer: str
    probe: AxisProbe
    depth: int  # index of the layer's node


def measure_fields(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    fields: Mapping[str, Field | None],
    samples: list[str],
    dtype: Any = np.float32,
    budget: int = 2**30,
    full_scan: bool = False,
    progress: Progress | None = None,
) -> list[FieldCheck]:
    """Measure, by running probes, which input rows and columns units of the ``samples``
    layers depend on, and compare with the analysis (see the module's docstring).
    ``full_scan`` probes every single row and column instead."""
    if not samples:
        return []
    spatial = graph.input_shape[:-1]
    index_of = {node.name: i for i, node in enumerate(graph.nodes)}
    checks: dict[str, FieldCheck] = {}
    plans: list[_Plan] = []
    for name in samples:
        f, layer = fields.get(name), layer_of(layers, name)
        checks[name] = FieldCheck(name, f, [])
        whole = len(layer.output) == 1 or (f is not None and f.whole)
        out = layer.output[:-1]
        middle = tuple(o // 2 for o in out)
        for axis, n in enumerate(spatial):
            for u in [0] if whole else _units(f, out[axis], n, axis):
                unit = () if whole else (*middle[:axis], u, *middle[axis + 1 :])
                reads = dependencies(graph, layers, name, None if whole else unit)  # type: ignore[arg-type]
                env = None if whole else _envelope(f, axis, unit, spatial)
                probe = AxisProbe(axis, unit, reads[axis], env)
                checks[name].probes.append(probe)
                plans.append(_Plan(name, probe, index_of[name]))

    # The probes: per axis, sets of rows, each run as deep as the deepest plan that asked.
    wanted: dict[tuple[int, Rows], int] = {}

    def want(axis: int, rows: Rows, depth: int) -> None:
        if rows:
            wanted[(axis, rows)] = max(wanted.get((axis, rows), -1), depth)

    for plan in plans:
        axis, n, rows = plan.probe.axis, spatial[plan.probe.axis], plan.probe.expected
        for r in range(n) if full_scan else _singles(rows):
            want(axis, frozenset({r}), plan.depth)
        want(axis, frozenset(range(n)) - rows, plan.depth)
    probes = sorted(wanted.items(), key=lambda item: (item[1], item[0][0], sorted(item[0][1])))
    reached = _run_probes(graph, layers, plans, probes, dtype, budget, progress)

    redo: list[_Plan] = []
    for plan, hits in zip(plans, reached):
        agree = True
        for ((probe_axis, marked), _), hit in zip(probes, hits):
            if hit is None or probe_axis != plan.probe.axis:
                continue
            plan.probe.probes += 1
            agree &= hit == bool(marked & plan.probe.expected)
        plan.probe.measured = plan.probe.expected if agree else None
        if not agree:
            redo.append(plan)
    if redo:
        # Re-measure the disagreeing units over every single row, to report the truth.
        deepest = max(p.depth for p in redo)
        scan = [((a, frozenset({r})), deepest) for a, n in enumerate(spatial) for r in range(n)]
        again = _run_probes(graph, layers, redo, scan, dtype, budget, progress)
        for plan, hits in zip(redo, again):
            plan.probe.measured = frozenset(
                min(one) for ((a, one), _), hit in zip(scan, hits) if hit and a == plan.probe.axis
            )
    for check in checks.values():
        _derive(check, spatial)
    return list(checks.values())


def _derive(check: FieldCheck, spatial: Shape) -> None:
    """Size, stride and offset from two neighbouring units whose support is not clipped."""
    if check.whole:
        return
    sizes, strides, offsets = [], [], []
    for axis, n in enumerate(spatial):
        measured = sorted((p.index, span(p.measured)) for p in check.probes if p.axis == axis)
        pair = [
            (a, b)
            for a, b in itertools.pairwise(measured)
            if b[0] == a[0] + 1
            and a[1] is not None
            and b[1] is not None
            and min(a[1][0], b[1][0]) > 0
            and max(a[1][1], b[1][1]) < n - 1
        ]
        if not pair:
            return
        (u, (a0, b0)), (_u1, (a1, _b1)) = pair[0]  # type: ignore[misc]
        sizes.append(b0 - a0 + 1)
        strides.append(a1 - a0)
        offsets.append(Fraction(a0 + b0, 2) - u * (a1 - a0))
    check.size, check.stride, check.offset = tuple(sizes), tuple(strides), tuple(offsets)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _run_probes(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    plans: list[_Plan],
    probes: list[tuple[tuple[int, Rows], int]],
    dtype: Any,
    budget: int,
    progress: Progress | None = None,
) -> list[list[bool | None]]:
    """For each plan, whether each probe ``((axis, rows), depth)`` reaches its unit; None when
    the probe was only run through the first ``depth`` nodes, short of the plan's layer."""
    shape = graph.input_shape
    itemsize = np.dtype(dtype).itemsize
    samples = {p.layer for p in plans}
    # Channels can be told apart only through a channel slice; without one, "some channel of
    # this position depends on a marked input" is all any later unit can see.
    any_channel = not any(node.op.selects_channels for node in graph.nodes)
    result: list[list[bool | None]] = [[None] * len(probes) for _ in plans]
    depths = sorted({d for _, d in probes})
    total = sum((d + 1) * sum(1 for _, pd in probes if pd == d) for d in depths)
    done = 0
    for depth in depths:
        members = [k for k, (_, d) in enumerate(probes) if d == depth]
        nodes = graph.nodes[: depth + 1]
        ones = {  # read-only views of a single 1: no memory for the weights' shapes
            node.name: {
                name: np.broadcast_to(np.ones((), dtype=dtype), s)
                for name, s in {
                    **node.op.weights(layer_of(layers, node.name)),
                    **node.op.buffers(layer_of(layers, node.name)),
                }.items()
            }
            for node in nodes
        }
        per_probe = itemsize * (
            numel(shape)
            + sum(
                numel(layer_of(layers, n.name).output[: -1 if any_channel else None]) for n in nodes
            )
        )
        chunk = max(1, min(128, budget // max(per_probe, 1)))
        last = graph.last_uses(depth)
        here = [k for k, plan in enumerate(plans) if plan.depth <= depth]
        for sl in _chunks(len(members), chunk):
            batch = [probes[k][0] for k in members[sl]]
            x = np.zeros((len(batch), *shape[:-1], 1), dtype=dtype)
            for b, (axis, rows) in enumerate(batch):
                index: list[Any] = [b] + [slice(None)] * len(shape)
                index[1 + axis] = sorted(rows)
                x[tuple(index)] = 1
            env: dict[str, np.ndarray] = {INPUT: np.broadcast_to(x, (len(batch), *shape))}
            for i, node in enumerate(nodes):
                layer = layer_of(layers, node.name)
                masks = [env[src] for src in node.inputs]
                if any_channel:
                    y = node.op.support_any_channel(layer, masks, ones[node.name])
                else:
                    y = node.op.support(layer, masks, ones[node.name])
                if y.ndim >= 2 and y.shape[-1] > 1 and y.strides[-1] == 0:
                    # the same on every channel: binarise one and keep it broadcast
                    one = (y[..., :1] > 0).astype(dtype)
                    env[node.name] = np.broadcast_to(one, y.shape)
                else:
                    env[node.name] = (y > 0).astype(dtype)
                for src in set(node.inputs):
                    if last.get(src) == i and src not in samples:
                        env.pop(src)
                done += len(batch)
                if progress is not None:
                    progress(f"receptive fields: {node.name}", done, total)
            for k in here:
                plan = plans[k]
                where: tuple[Any, ...] = (slice(None), *plan.probe.unit)
                at = env[plan.layer][where].reshape(len(batch), -1).max(axis=1) > 0
                for j, v in zip(members[sl], at):
                    result[k][j] = bool(v)
    return result
