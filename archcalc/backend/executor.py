"""Run a layer graph on NumPy arrays and measure what actually happened.

The executor walks the graph in its (topological) order, calling each node's op ``forward``
(the op registry's own entry, which calls :mod:`archcalc.backend.kernels`). Every activation is
dropped as soon as its last consumer has run, so the memory held at any moment is the live set,
not the sum. For each layer it records what execution showed, independently of the analysis:

- the output shape the forward produced;
- the weight arrays the forward actually read (a params mapping that notes every lookup);
- the multiply-accumulates the kernels performed, counted by :func:`kernels.count_macs` from
  the operand shapes they were given.

The memory guard run before execution is :mod:`archcalc.backend.memory`; receptive fields
measured by execution are :mod:`archcalc.backend.rf_probe`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archcalc.backend import kernels
from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer, Op
from archcalc.shapes import Shape

Params = dict[str, dict[str, np.ndarray]]
Progress = Callable[[str, int, int], None]  # what, steps done, steps in all

DTYPES = {"float32": np.float32, "float64": np.float64}


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------


def _random_array(name: str, shape: Shape, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """Random values that keep activations in a sane range through a deep net.

    Kernels get He scaling (std sqrt(2 / fan-in), fan-in = all axes but the last); variances and
    scales are positive; biases, shifts and means are small (std 0.1). Uniform, not normal: as
    PyTorch's default initialisers, and drawing is 2-3 times faster (VGG-16 has 138 million
    weights). Drawn directly in ``dtype`` and scaled in place, so a large layer never exists
    twice (or in float64).
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        dtype = np.float32
    a = rng.random(shape, dtype=dtype)
    if name in ("gamma", "running_var"):
        a += 0.5  # uniform in [0.5, 1.5)
        return a
    std = math.sqrt(2.0 / max(1, math.prod(shape[:-1]))) if name == "kernel" else 0.1
    a -= 0.5
    a *= 2 * math.sqrt(3) * std  # uniform in ±√3·std has that std
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


def _base(a: np.ndarray) -> np.ndarray:
    """The array owning ``a``'s memory (``a`` itself, or the base its views lead to)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class _LiveBytes:
    """Bytes of memory behind the live activations, each buffer once (views share their
    base's), kept up to date as activations come and go rather than summed at every layer."""

    def __init__(self) -> None:
        self.total = 0
        self._held: dict[int, list[Any]] = {}  # id of a base -> [base, how many hold it]

    def add(self, a: np.ndarray) -> None:
        base = _base(a)
        entry = self._held.setdefault(id(base), [base, 0])
        entry[1] += 1
        self.total += base.nbytes if entry[1] == 1 else 0

    def remove(self, a: np.ndarray) -> None:
        base = _base(a)
        entry = self._held[id(base)]
        entry[1] -= 1
        if entry[1] == 0:
            del self._held[id(base)]
            self.total -= base.nbytes


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


def affine_folds(
    graph: Graph, layers: Mapping[str, Layer | None], keep: set[str], batch: int
) -> dict[str, str]:
    """Layers that compute a following per-channel affine map in their weights: producer ->
    the affine layer (an inference batch norm after a convolution).

    Folding saves two passes over the producer's output (a multiply and an add) for one pass
    over its kernel, so it is done only where the kernel is the smaller, and only where the
    affine layer alone reads the producer's output and nobody asked to keep that output (it
    never exists unscaled).
    """
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for src in node.inputs:
            readers[src] = readers.get(src, 0) + 1
    producers = {node.name: node for node in graph.nodes}
    folds: dict[str, str] = {}
    for node in graph.nodes:
        src = node.inputs[0]
        producer = producers.get(src)
        if (
            producer is None
            or len(node.inputs) != 1
            or readers[src] != 1
            or src in keep
            or not node.op.is_channel_affine
            or not producer.op.absorbs_affine
        ):
            continue
        layer = layer_of(layers, src)
        kernel = producer.op.weights(layer).get("kernel", ())
        if math.prod(kernel) < 2 * batch * math.prod(layer.output):
            folds[src] = node.name
    return folds


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
    schedule = graph.free_after()
    chains = concat_chains(graph, layers)
    folds = affine_folds(graph, layers, keep, x.shape[0])
    folded: dict[str, _Tracking] = {}  # affine layers already computed, with what they read
    ops = {node.name: node.op for node in graph.nodes}
    buffers: dict[str, np.ndarray] = {}  # by chain's first concat
    env: dict[str, np.ndarray] = {INPUT: x}
    live = _LiveBytes()
    live.add(x)
    peak = live.total
    in_place = {name for name, op in ops.items() if _has_forward_inplace(op)}
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
            elif node.name in folds:
                affine = folds[node.name]
                folded[affine] = _Tracking(params[affine])
                scale, shift = ops[affine].channel_affine(
                    layer_of(layers, affine), folded[affine], x.dtype
                )
                y = node.op.forward_affine(layer, xs, tracked, scale, shift)
            elif node.name in folded:
                tracked = folded.pop(node.name)
                y = xs[0]  # its producer's output is already this layer's
            else:
                done = None
                if node.name in in_place:
                    fixed = [x, *kept.values(), *buffers.values()]  # never overwritten
                    if _owned(node.inputs, i, schedule, env, fixed):
                        done = node.op.forward_inplace(layer, xs, tracked)
                y = node.op.forward(layer, xs, tracked) if done is None else done
        del xs
        seconds = time.perf_counter() - start
        used = {k: tuple(v.shape) for k, v in params[node.name].items() if k in tracked.read}
        runs.append(LayerRun(node.name, tuple(y.shape[1:]), used, counter.total, seconds))
        env[node.name] = y
        live.add(y)
        output = y
        peak = max(peak, live.total)  # inputs and output alive together
        if node.name in keep:
            kept[node.name] = y
        for name in schedule[i]:
            live.remove(env.pop(name))
        if progress is not None:
            progress(f"running {node.name}", i + 1, len(graph.nodes))
    return Execution(output, runs, peak, kept)


def _has_forward_inplace(op: Any) -> bool:
    """Whether the op overrides :meth:`Op.forward_inplace` (the others always return None)."""
    return type(op).forward_inplace is not Op.forward_inplace


def _owned(
    inputs: list[str],
    i: int,
    schedule: list[list[str]],
    env: Mapping[str, np.ndarray],
    fixed: list[np.ndarray],
) -> bool:
    """Whether node ``i`` may overwrite its first input: no later node reads it (it is freed
    after this one), this node reads it once, and no other live activation or ``fixed``
    array (the caller's input, kept arrays, grown concat buffers) shares its memory."""
    name = inputs[0]
    if name == INPUT or name not in schedule[i] or inputs.count(name) > 1:
        return False
    x = env[name]
    others = [a for n, a in env.items() if n != name] + fixed
    return not any(np.may_share_memory(x, a) for a in others)


def layer_of(layers: Mapping[str, Layer | None], name: str) -> Layer:
    layer = layers[name]
    assert layer is not None
    return layer
