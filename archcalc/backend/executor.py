"""Run a layer graph on NumPy arrays and measure what actually happened.

The executor walks the graph in its (topological) order, calling each node's op ``forward``
(the op registry's own entry, which calls :mod:`archcalc.backend.kernels`). Every activation is
dropped as soon as its last consumer has run, so the memory held at any moment is the live set,
not the sum. For each layer it records what execution showed, independently of the analysis:

- the output shape the forward produced;
- the weight arrays the forward actually read (a params mapping that notes every lookup);
- the multiply-accumulates the kernels performed, counted by :func:`kernels.count_macs` from
  the operand shapes they were given.

:func:`measure_fields` measures receptive fields on the executed net: it feeds "probe" images
(a single row, or column, of ones) through every op's ``support`` rule (the forward with
all-ones weights and no additive terms, re-binarised after each layer) and reads which probes
reach a chosen output unit. That is the dependency support of the unit, found by execution; it
is then compared with the analysed field clipped to the input.

:func:`estimate_memory` is the guard run before any of this: weights, the peak live set at the
batch size and the largest im2col workspace, against a limit (a share of available memory).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from archcalc.analysis.rf import Field
from archcalc.backend import kernels
from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.shapes import Shape, numel

Params = dict[str, dict[str, np.ndarray]]
Progress = Callable[[str, int, int], None]  # what, steps done, steps in all

DTYPES = {"float32": np.float32, "float64": np.float64}


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------


def _random_array(name: str, shape: Shape, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """Random values that keep activations in a sane range through a deep net.

    Kernels get He scaling (std sqrt(2 / fan-in), fan-in = all axes but the last); variances and
    scales are positive; biases, shifts and means are small. Drawn directly in ``dtype`` and
    scaled in place, so a large layer never exists twice (or in float64).
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        dtype = np.float32
    if name in ("gamma", "running_var"):
        a = rng.random(shape, dtype=dtype)
        a += 0.5  # uniform in [0.5, 1.5)
        return a
    a = rng.standard_normal(shape, dtype=dtype)
    a *= math.sqrt(2.0 / max(1, math.prod(shape[:-1]))) if name == "kernel" else 0.1
    return a


def param_shapes(graph: Graph, layers: Mapping[str, Layer | None]) -> dict[str, dict[str, Shape]]:
    """Every array each layer needs, by layer and name: its weights, then its buffers."""
    shapes: dict[str, dict[str, Shape]] = {}
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        shapes[node.name] = {**node.op.weights(layer), **node.op.buffers(layer)}
    return shapes


def init_params(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    seed: int = 0,
    dtype: Any = np.float32,
    given: Mapping[str, np.ndarray] | None = None,
    random_missing: bool = True,
) -> Params:
    """Arrays of the analysed shapes: from ``given`` (keys ``layer.name``), else the spec's
    fixed values, else seeded random ones (or, without ``random_missing``, a UsageError).
    Raises UsageError on a given array of the wrong shape or a given key that names nothing."""
    rng = np.random.default_rng(seed)
    given = dict(given or {})
    params: Params = {}
    for node in graph.nodes:
        layer = layers[node.name]
        assert layer is not None
        fixed = node.op.fixed_params(layer)
        arrays = {}
        for name, shape in {**node.op.weights(layer), **node.op.buffers(layer)}.items():
            key = f"{node.name}.{name}"
            if key in given:
                value = np.asarray(given.pop(key))
                if value.shape != tuple(shape):
                    raise UsageError(
                        f"weights file: '{key}' is {'x'.join(map(str, value.shape))} but the layer "
                        f"needs {'x'.join(map(str, shape))}",
                        "kernels are laid out channels-last: kernel rows, columns, input "
                        "channels per group, filters (dense: inputs, units)",
                    )
            elif name in fixed:
                value = fixed[name]
            elif not random_missing:
                raise UsageError(
                    f"no values for '{key}' ({'x'.join(map(str, shape))}, channels-last)",
                    "give them in a .npz with --weights (that key), inline in the spec "
                    "('weights: [[...]]' on a conv), or use --random-weights",
                )
            else:
                value = _random_array(name, shape, rng, dtype)
            arrays[name] = np.ascontiguousarray(value, dtype=dtype)
        params[node.name] = arrays
    if given:
        from archcalc.diagnostics import did_you_mean

        known = [f"{n}.{p}" for n, ps in params.items() for p in ps]
        key = sorted(given)[0]
        raise UsageError(
            f"weights file: '{key}' does not name an array of any layer",
            did_you_mean(key, known) or f"the arrays are: {', '.join(known[:12])}",
        )
    return params


class _Tracking(dict[str, Any]):
    """A params mapping that remembers which arrays were read."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.read.add(key)
        return super().get(key, default)


# ---------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------


@dataclass
class LayerRun:
    """What executing one layer showed."""

    name: str
    output_shape: Shape  # one sample's, batch excluded
    used: dict[str, Shape]  # arrays the forward read, with their shapes
    macs: int  # performed by the kernels, whole batch
    seconds: float


@dataclass
class Execution:
    output: np.ndarray
    layers: list[LayerRun]
    peak_live_bytes: int  # activations held at once, input included
    kept: dict[str, np.ndarray] = field(default_factory=dict)


def _last_uses(graph: Graph, upto: int) -> dict[str, int]:
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes[: upto + 1]):
        for src in node.inputs:
            last[src] = i
    return last


def _held(arrays: Any) -> int:
    """Bytes of memory behind the arrays, each buffer once (views share their base's)."""
    bases: dict[int, int] = {}
    for a in arrays:
        while isinstance(a.base, np.ndarray):
            a = a.base
        bases[id(a)] = a.nbytes
    return sum(bases.values())


def concat_chains(graph: Graph, layers: Mapping[str, Layer | None]) -> dict[str, tuple[str, int]]:
    """Concats that can grow one buffer instead of copying: node -> (the chain's first concat,
    channels of its last).

    A chain is a concat whose first input is another concat's output, as in a DenseNet block
    where every layer appends its features to all earlier ones. Copying the growing map at
    every layer costs quadratic time in the block's depth; instead the chain's first concat
    allocates the last one's width, and each later concat writes only its new inputs after
    the channels already there, returning a wider view of the same buffer. Channels already
    written never change, so whoever still reads an earlier concat's view reads it intact.
    Each concat is grown by one successor at most (the first in graph order).
    """
    kind = {node.name: node.op.name for node in graph.nodes}
    grown_by: dict[str, str] = {}
    for node in graph.nodes:
        first = node.inputs[0]
        if (
            kind[node.name] == "concat"
            and kind.get(first) == "concat"
            and first not in grown_by
            and first not in node.inputs[1:]
        ):
            grown_by[first] = node.name
    grows = set(grown_by.values())
    chains: dict[str, tuple[str, int]] = {}
    for start in grown_by:
        if start in grows:
            continue  # not a chain's first concat
        chain = [start]
        while chain[-1] in grown_by:
            chain.append(grown_by[chain[-1]])
        last = layers[chain[-1]]
        assert last is not None
        chains.update({name: (start, last.output[-1]) for name in chain})
    return chains


def execute(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    params: Params,
    x: np.ndarray,
    keep: set[str] | None = None,
    progress: Progress | None = None,
) -> Execution:
    """Run the graph on the batch ``x`` (``(N, *input_shape)``); returns the last node's
    output and one :class:`LayerRun` per node. Arrays of the nodes named in ``keep`` are
    kept; every other activation is freed after its last consumer has run."""
    keep = keep or set()
    last = _last_uses(graph, len(graph.nodes) - 1)
    chains = concat_chains(graph, layers)
    buffers: dict[str, np.ndarray] = {}  # by chain's first concat
    env: dict[str, np.ndarray] = {INPUT: x}
    peak = x.nbytes
    runs: list[LayerRun] = []
    kept: dict[str, np.ndarray] = {}
    output = x
    for i, node in enumerate(graph.nodes):
        layer = layers[node.name]
        assert layer is not None
        tracked = _Tracking(params[node.name])
        start = time.perf_counter()
        xs = [env[src] for src in node.inputs]
        with kernels.count_macs() as counter:
            if node.name in chains:
                start_name, width = chains[node.name]
                if start_name == node.name:
                    buffers[start_name] = np.empty((*xs[0].shape[:-1], width), xs[0].dtype)
                y = kernels.concat(xs, out=buffers[start_name][..., : layer.output[-1]])
            else:
                y = node.op.forward(layer, xs, tracked)
        del xs
        seconds = time.perf_counter() - start
        used = {k: tuple(v.shape) for k, v in params[node.name].items() if k in tracked.read}
        runs.append(LayerRun(node.name, tuple(y.shape[1:]), used, counter.total, seconds))
        env[node.name] = y
        output = y
        peak = max(peak, _held(env.values()))  # inputs and output alive together
        if node.name in keep:
            kept[node.name] = y
        for src in set(node.inputs):
            if last.get(src) == i:
                del env[src]
        if node.name not in last and i < len(graph.nodes) - 1:
            del env[node.name]  # nothing reads it: a dead end
        if progress is not None:
            progress(f"running {node.name}", i + 1, len(graph.nodes))
    return Execution(output, runs, peak, kept)


# ---------------------------------------------------------------------------------------
# Memory guard
# ---------------------------------------------------------------------------------------


@dataclass
class MemoryEstimate:
    weights: int
    activations: int  # peak live set at the batch size
    workspace: int  # largest temporary a kernel needs (im2col patches, padded copies)

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.workspace


def _workspace(layer: Layer, op_name: str, family: str, batch: int, itemsize: int) -> int:
    """Temporary bytes a layer's NumPy forward allocates beyond its inputs and output, at most.

    Windowed layers copy their input padded (pooling also keeps a partial result per axis); a
    convolution builds its im2col patch matrix in slabs of output rows; a transposed convolution holds every tap's product; the
    smooth activations work in float64 on the way.
    """
    out = batch * numel(layer.output) * itemsize
    whole_in = batch * sum(numel(s) for s in layer.inputs) * itemsize
    if family == "activation":
        return 0 if op_name in ("relu", "relu6") else 6 * out
    if family not in ("conv", "pool") or not layer.input[:-1]:
        return out if family == "norm" else 0
    padded = whole_in
    if layer.fits:
        padded = batch * itemsize * layer.input[-1]
        padded *= math.prod(f.size + f.pad_before + f.pad_after for f in layer.fits)
    if family == "pool":
        return padded + whole_in
    if op_name == "conv_transpose":
        cols = whole_in * numel(layer.per_axis("kernel")) * layer.attrs["filters"]
        return cols // max(1, layer.input[-1]) + out
    kk = numel(layer.per_axis("kernel"))
    if kk == 1 or layer.attrs["groups"] == layer.input[-1]:
        return padded + whole_in + out  # strided 1x1 copies; depthwise keeps a temporary
    # The patch matrix is built in slabs of at most _IM2COL_LIMIT_BYTES (or one output row's
    # patches, if larger); `out` covers the per-tap product of the shifted-matmul path.
    patch = numel(layer.output[:-1]) * kk * layer.input[-1] * itemsize
    row = patch // max(1, layer.output[0])
    return padded + out + min(batch * patch, max(kernels._IM2COL_LIMIT_BYTES, row))


# What the estimate adds for the allocator (freed blocks it keeps) and the interpreter's own
# transient arrays: measured peaks of VGG-16 and ResNet-50 at batches 1-8 stay below it.
_SLACK = 1.35
_FIXED = 128 * 2**20


def estimate_memory(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    peak_activation_bytes: int,
    batch: int,
    itemsize: int,
) -> MemoryEstimate:
    """Weights, then the worst layer's live activations plus its workspace.

    ``peak_activation_bytes`` (the analysis' live-set peak) is a floor for the activations; the
    walk here also counts, at each layer, the inputs it still holds and its own temporaries.
    """
    weights = sum(numel(s) for ps in param_shapes(graph, layers).values() for s in ps.values())
    size = {INPUT: batch * numel(graph.input_shape) * itemsize}
    last = _last_uses(graph, len(graph.nodes) - 1)
    chains = concat_chains(graph, layers)
    live = size[INPUT]
    worst_live, worst_work = live, 0
    for i, node in enumerate(graph.nodes):
        layer = _layer(layers, node.name)
        size[node.name] = batch * numel(layer.output) * itemsize
        if node.name in chains:  # one buffer, allocated whole by the first, freed with the last
            first, width = chains[node.name]
            whole = batch * numel(layer.output[:-1]) * width * itemsize
            live += whole if node.name == first else 0
            size[node.name] = whole if layer.output[-1] == width else 0
        else:
            live += size[node.name]
        work = _workspace(layer, node.op.name, node.op.family, batch, itemsize)
        if live + work > worst_live + worst_work:
            worst_live, worst_work = live, work
        for src in set(node.inputs):
            if last.get(src) == i:
                live -= size[src]
        if node.name not in last and i < len(graph.nodes) - 1:
            live -= size[node.name]
    activations = max(worst_live, peak_activation_bytes)
    extra = int((activations + worst_work) * (_SLACK - 1)) + _FIXED
    return MemoryEstimate(weights * itemsize, activations, worst_work + extra)


def available_memory() -> tuple[int, str]:
    """Bytes of memory available now, and where the figure came from."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        return pages * os.sysconf("SC_PAGE_SIZE"), "available physical pages"
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30, "a 4 GiB assumption (the system does not say)"


MEMORY_SHARE = 0.7


def default_limit() -> tuple[int, str]:
    avail, source = available_memory()
    return int(avail * MEMORY_SHARE), f"{MEMORY_SHARE:.0%} of available memory ({source})"


_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """'2GiB', '512M', '1.5 GB', '1000000' → bytes (binary units: GB and GiB are both 2**30)."""
    t = text.strip().upper().replace(" ", "")
    for suffix in ("IB", "B"):
        if t.endswith(suffix) and len(t) > len(suffix) and not t[: -len(suffix)][-1].isdigit():
            t = t[: -len(suffix)]
            break
    unit = t[-1] if t and t[-1] in "KMGT" else ""
    number = t[:-1] if unit else t.removesuffix("B")
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"cannot read the memory size '{text}'", "write e.g. 2GiB, 512MiB or 1500000000"
        ) from None
    if value <= 0:
        raise UsageError(f"the memory limit must be positive, got '{text}'")
    return int(value * _UNITS[unit])


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def guard_memory(estimate: MemoryEstimate, limit: int, limit_source: str, what: str) -> None:
    """Refuse (UsageError, exit 2) when the estimate is over the limit."""
    if estimate.total <= limit:
        return
    raise UsageError(
        f"{what} would need about {format_bytes(estimate.total)} (weights "
        f"{format_bytes(estimate.weights)}, peak activations {format_bytes(estimate.activations)}"
        f", kernel workspace {format_bytes(estimate.workspace)}), over the limit of "
        f"{format_bytes(limit)} ({limit_source})",
        "use --batch 1 or a smaller --input (e.g. half the height and width), or raise "
        "--max-memory if you know the memory is there",
    )


# ---------------------------------------------------------------------------------------
# Receptive fields measured by execution
# ---------------------------------------------------------------------------------------


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
        layer = _layer(layers, node.name)
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


def _layer(layers: Mapping[str, Layer | None], name: str) -> Layer:
    layer = layers[name]
    assert layer is not None
    return layer


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
                    **node.op.weights(_layer(layers, node.name)),
                    **node.op.buffers(_layer(layers, node.name)),
                }.items()
            }
            for node in nodes
        }
        per_probe = itemsize * sum(numel(_layer(layers, n.name).output) for n in nodes)
        chunk = max(1, min(64, budget // max(per_probe, 1)))
        last = _last_uses(graph, depth)
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
