"""Receptive fields measured by execution.

:func:`measure_fields` feeds "probe" images (a single row, or column, of ones) through every
op's ``support`` rule (the forward with all-ones weights and no additive terms, re-binarised
after each layer) and reads which probes reach a chosen output unit. That is the dependency
support of the unit, found by execution; it is then compared with the analysed field clipped to
the input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from archcalc.analysis.rf import Field
from archcalc.backend.executor import Progress, layer_of
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.shapes import Shape, numel


@dataclass
class AxisProbe:
    """One sampled unit's dependency support along one axis."""

    axis: int
    unit: int  # index of the unit along the axis
    expected: tuple[int, int] | None  # analysed window clipped to the input; None = none
    measured: tuple[int, int] | None = None  # first and last reached probe; None = none
    # Probes inside the measured range that did not reach: a dilated window's support has
    # holes. The receptive field is the extent, so holes are reported, not failed.
    gaps: bool = False

    @property
    def ok(self) -> bool:
        return self.expected == self.measured


@dataclass
class FieldCheck:
    layer: str
    field: Field
    probes: list[AxisProbe]
    note: str = ""
    size: tuple[int, ...] | None = None  # measured from two interior units, when they exist
    stride: tuple[int, ...] | None = None
    offset: tuple[Fraction, ...] | None = None

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.probes)


def _window(f: Field, axis: int, unit: int) -> tuple[Fraction, Fraction]:
    # Fractions throughout: a field's figures may be ints or Fractions.
    centre = Fraction(f.offset[axis]) + unit * Fraction(f.stride[axis])
    half = (Fraction(f.size[axis]) - 1) / 2
    return centre - half, centre + half


def _clipped(lo: Fraction, hi: Fraction, n: int) -> tuple[int, int] | None:
    a, b = max(lo, Fraction(0)), min(hi, Fraction(n - 1))
    if a > b:
        return None
    return math.ceil(a), math.floor(b)


class _NoRule(Exception):
    pass


def analysed_reads(
    graph: Graph, layers: Mapping[str, Layer | None], name: str, axis: int, unit: int | None
) -> tuple[int, int] | None:
    """Input rows (along ``axis``) that a unit of layer ``name`` depends on, by the analysed
    window rules walked backwards, with every layer's range clipped to the units that exist.

    This is the analysed receptive field as the net can realise it: where a stride does not fit
    and a layer drops its last rows, deeper windows that would reach past them read nothing
    there. ``unit`` None means every unit (a layer that sees the whole input). None is returned
    when the unit reads no input row at all. Each op's step is its own ``input_span`` rule.
    """
    Range = tuple[int, int] | None  # None = every position
    index = {node.name: i for i, node in enumerate(graph.nodes)}
    # Walk the nodes backwards from ``name`` (topological order reversed), carrying for each
    # node the hull of the output positions some later node needs. The window maps are
    # monotone, so the hull of the ranges maps to the hull of their images.
    need: dict[str, Range] = {name: None if unit is None else (unit, unit)}
    reads: tuple[int, int] | None = None

    def add(src: str, rng: Range) -> None:
        nonlocal reads
        if src == INPUT:
            n = graph.input_shape[axis]
            got = (0, n - 1) if rng is None else (max(rng[0], 0), min(rng[1], n - 1))
            if got[0] <= got[1]:
                reads = got if reads is None else (min(reads[0], got[0]), max(reads[1], got[1]))
            return
        if src in need:
            old = need[src]
            need[src] = (
                None if old is None or rng is None else (min(old[0], rng[0]), max(old[1], rng[1]))
            )
        else:
            need[src] = rng

    for node in reversed(graph.nodes[: index[name] + 1]):
        if node.name not in need:
            continue
        rng = need.pop(node.name)
        layer = layer_of(layers, node.name)
        for src, shape in zip(node.inputs, layer.inputs):
            if len(shape) == 1:  # a flat vector: no axis to follow
                add(src, None)
            elif rng is None:
                add(src, (0, shape[axis] - 1))
            else:
                try:  # the op's own rule for the inputs a range of outputs reads
                    span = node.op.input_span(layer, axis, rng[0], rng[1])
                except NotImplementedError:
                    raise _NoRule from None
                if span is None:
                    continue
                lo, hi = max(span[0], 0), min(span[1], shape[axis] - 1)
                if lo <= hi:  # else the window covers only padding
                    add(src, (lo, hi))
    return reads


def pick_samples(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    fields: Mapping[str, Field | None],
    count: int,
    skip: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[str]:
    """Up to ``count`` layers spread over the net whose field is a window (evenly spaced,
    first and last included), plus the first layer that sees the whole input."""
    if count <= 0 or len(graph.input_shape) < 2:
        return []
    windowed, whole = [], []
    for node in graph.nodes:
        f, layer = fields.get(node.name), layers[node.name]
        if f is None or layer is None or node.name in skip:
            continue
        if f.whole:
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


def _units(f: Field, out: int, n: int, axis: int) -> list[int]:
    """The middle unit and a neighbour, preferring units whose window lies inside the input."""
    inside = [u for u in range(out) if _window(f, axis, u)[0] >= 0 and _window(f, axis, u)[1] < n]
    if len(inside) >= 2:
        mid = inside[len(inside) // 2 - 1]
        return [mid, mid + 1]
    mid = out // 2
    return [mid, mid + 1] if mid + 1 < out else ([mid - 1, mid] if mid > 0 else [mid])


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
    """Measure the receptive field of units of the ``samples`` layers by running probes.

    A probe is an input with ones on one row (axis 0) or one column (axis 1) and zeros
    elsewhere. A unit depends on the probe exactly when its window covers that row; running
    all probes as a batch through the ops' ``support`` rules gives, for every sampled unit,
    which rows and columns it depends on. By default only the rows around the edges the
    analysis predicts are probed (one inside and one outside each edge);
    ``full_scan`` probes every row and column. A unit that disagrees is re-measured with a
    full scan, so the value reported is the real support.
    """
    if not samples:
        return []
    spatial = graph.input_shape[:-1]
    plans: list[
        tuple[str, Field, int, int, tuple[int, ...]]
    ] = []  # layer, field, axis, unit, position
    checks: dict[str, FieldCheck] = {}
    index_of = {node.name: i for i, node in enumerate(graph.nodes)}
    wanted: list[dict[int, int]] = [{} for _ in spatial]  # probe index -> deepest node needing it
    for name in samples:
        f, layer = fields[name], layers[name]
        assert f is not None and layer is not None
        checks[name] = FieldCheck(name, f, [])
        out = layer.output[:-1] if not f.whole else ()
        middle = tuple(o // 2 for o in out)
        for axis, n in enumerate(spatial):
            units = [0] if f.whole else _units(f, out[axis], n, axis)
            for unit in units:
                if f.whole:
                    clipped: tuple[int, int] | None = (0, n - 1)
                else:
                    lo, hi = _window(f, axis, unit)
                    if lo.denominator != 1 or hi.denominator != 1:
                        checks[name].note = "the analysed window is not whole pixels"
                        continue
                    clipped = _clipped(lo, hi, n)
                expected = clipped
                if f.whole or not (lo >= 0 and hi <= n - 1):
                    # Clipped at the border: follow the windows back, so rows that a layer
                    # drops (a stride that does not fit) are not expected to be read.
                    try:
                        expected = analysed_reads(
                            graph, layers, name, axis, None if f.whole else unit
                        )
                    except _NoRule:
                        continue
                    if expected != clipped:
                        checks[name].note = (
                            "the field, clipped to the input, includes rows no window reaches "
                            "(a stride that does not fit drops them)"
                        )
                position = (*middle[:axis], unit, *middle[axis + 1 :]) if out else ()
                plans.append((name, f, axis, unit, position))
                checks[name].probes.append(AxisProbe(axis, unit, expected))
                if full_scan:
                    rows: Any = range(n)
                elif expected is None:
                    rows = (0, n // 2, n - 1)
                else:  # one probe inside and one outside each edge
                    a, b = expected
                    rows = [v for v in (a - 1, a, b, b + 1) if 0 <= v < n]
                for v in rows:
                    wanted[axis][v] = max(wanted[axis].get(v, -1), index_of[name])
    probe_list = [
        (axis, p, depth) for axis, ps in enumerate(wanted) for p, depth in sorted(ps.items())
    ]
    reached = _run_probes(graph, layers, samples, plans, probe_list, dtype, budget, progress)
    redo: list[int] = []
    for k, (name, _f, axis, _unit, _pos) in enumerate(plans):
        probe = next(p for p in checks[name].probes if p.axis == axis and p.unit == plans[k][3])
        hits = sorted(p for (ax, p, _), r in zip(probe_list, reached[k]) if ax == axis and r)
        misses = {p for (ax, p, _), r in zip(probe_list, reached[k]) if ax == axis and r is False}
        probe.measured = (hits[0], hits[-1]) if hits else None
        probe.gaps = bool(hits) and any(hits[0] < m < hits[-1] for m in misses)
        if not probe.ok and not full_scan:
            redo.append(k)
    if redo:
        # Re-measure the disagreeing units over every row and column, to report the truth.
        sub = [plans[k] for k in redo]
        deepest = max(index_of[p[0]] for p in sub)
        all_probes = [(axis, p, deepest) for axis, n in enumerate(spatial) for p in range(n)]
        again = _run_probes(
            graph, layers, sorted({p[0] for p in sub}), sub, all_probes, dtype, budget, progress
        )
        for (name, _f, axis, unit, _pos), row in zip(sub, again):
            probe = next(p for p in checks[name].probes if p.axis == axis and p.unit == unit)
            hits = [p for (ax, p, _), r in zip(all_probes, row) if ax == axis and r]
            probe.measured = (hits[0], hits[-1]) if hits else None
            probe.gaps = bool(hits) and len(hits) != hits[-1] - hits[0] + 1
    for check in checks.values():
        _derive(check, spatial)
    return list(checks.values())


def _derive(check: FieldCheck, spatial: Shape) -> None:
    """Size, stride and offset from two neighbouring units whose support is not clipped."""
    if check.field.whole:
        return
    sizes, strides, offsets = [], [], []
    for axis, n in enumerate(spatial):
        pair = sorted((p for p in check.probes if p.axis == axis), key=lambda p: p.unit)
        if len(pair) != 2 or any(
            p.measured is None or p.measured[0] == 0 or p.measured[1] == n - 1 for p in pair
        ):
            return
        (a0, b0), (a1, _b1) = pair[0].measured, pair[1].measured  # type: ignore[misc]
        stride = (a1 - a0) // (pair[1].unit - pair[0].unit)
        sizes.append(b0 - a0 + 1)
        strides.append(stride)
        offsets.append(Fraction(a0 + b0, 2) - pair[0].unit * stride)
    check.size, check.stride, check.offset = tuple(sizes), tuple(strides), tuple(offsets)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _run_probes(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    samples: list[str],
    plans: list[tuple[str, Field, int, int, tuple[int, ...]]],
    probe_list: list[tuple[int, int, int]],
    dtype: Any,
    budget: int,
    progress: Progress | None = None,
) -> list[list[bool | None]]:
    """For each plan, whether each probe ``(axis, index, depth)`` reaches its unit; None when
    the probe was only run through the first ``depth`` nodes, short of the plan's layer."""
    shape = graph.input_shape
    index_of = {node.name: i for i, node in enumerate(graph.nodes)}
    itemsize = np.dtype(dtype).itemsize
    result: list[list[bool | None]] = [[None] * len(probe_list) for _ in plans]
    depths = sorted({d for _, _, d in probe_list})
    total = sum(
        (d + 1) * sum(1 for probe in probe_list if probe[2] == d) for d in depths
    )  # node-probes to run, for the progress bar
    done = 0
    for depth in depths:
        members = [k for k, probe in enumerate(probe_list) if probe[2] == depth]
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
        per_probe = itemsize * sum(numel(layer_of(layers, n.name).output) for n in nodes)
        chunk = max(1, min(64, budget // max(per_probe, 1)))
        last = graph.last_uses(depth)
        here = [k for k, plan in enumerate(plans) if index_of[plan[0]] <= depth]
        for sl in _chunks(len(members), chunk):
            batch = [probe_list[k] for k in members[sl]]
            x = np.zeros((len(batch), *shape), dtype=dtype)
            for b, (axis, p, _) in enumerate(batch):
                index: list[Any] = [b] + [slice(None)] * len(shape)
                index[1 + axis] = slice(p, p + 1)
                x[tuple(index)] = 1
            env: dict[str, np.ndarray] = {INPUT: x}
            for i, node in enumerate(nodes):
                layer = layers[node.name]
                assert layer is not None
                y = node.op.support(layer, [env[src] for src in node.inputs], ones[node.name])
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
                name, pos = plans[k][0], plans[k][4]
                where: tuple[Any, ...] = (slice(None), *pos)
                at = env[name][where].reshape(len(batch), -1).max(axis=1) > 0
                for j, v in zip(members[sl], at):
                    result[k][j] = bool(v)
    return result
