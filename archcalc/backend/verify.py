"""Cross-check the analysis against execution: shapes, parameters, MACs and receptive fields.

The analysis (:mod:`archcalc.analysis`) derives every figure from the ops' formulas; the
executor (:mod:`archcalc.backend.executor`) runs the net and measures. :func:`verify` puts the
two side by side, layer by layer; any difference is a bug in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archcalc.analysis import Analysis
from archcalc.backend import executor as ex
from archcalc.backend import memory as mem
from archcalc.backend import rf_probe
from archcalc.shapes import format_shape, numel


@dataclass
class Figure:
    """One compared figure of one layer."""

    name: str  # shape, params, buffers, macs, rf
    analysed: Any
    measured: Any
    ok: bool


@dataclass
class LayerCheck:
    name: str
    type: str
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.figures)

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


@dataclass
class Verification:
    name: str
    input_shape: tuple[int, ...]
    spec_input_shape: tuple[int, ...]
    batch: int
    dtype: str
    seed: int
    layers: list[LayerCheck]
    memory: mem.MemoryEstimate
    memory_limit: int
    peak_live_bytes: int
    fields: list[rf_probe.FieldCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(layer.ok for layer in self.layers)

    @property
    def reduced(self) -> bool:
        return self.input_shape != self.spec_input_shape

    def mismatches(self) -> list[tuple[str, Figure]]:
        return [(layer.name, f) for layer in self.layers for f in layer.figures if not f.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "spec_input_shape": list(self.spec_input_shape),
            "reduced_input": self.reduced,
            "batch": self.batch,
            "dtype": self.dtype,
            "seed": self.seed,
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
            "memory": {
                "estimate_bytes": self.memory.total,
                "weights_bytes": self.memory.weights,
                "activations_bytes": self.memory.activations,
                "workspace_bytes": self.memory.workspace,
                "limit_bytes": self.memory_limit,
                "measured_peak_live_activation_bytes": self.peak_live_bytes,
            },
            "layers": [
                {
                    "name": layer.name,
                    "type": layer.type,
                    "ok": layer.ok,
                    "checks": {
                        f.name: {
                            "analysed": _plain(f.analysed),
                            "measured": _plain(f.measured),
                            "ok": f.ok,
                        }
                        for f in layer.figures
                    },
                }
                for layer in self.layers
            ],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def rf_text(check: rf_probe.FieldCheck, measured: bool) -> Any:
    """The compared receptive-field figure: per axis, each sampled unit's exact support, the
    first and last input row/column it depends on ("axis0@5": unit 5 along axis 0), and which
    of them skip rows in between ("holes"); analysed or measured. The analysed side also has
    the envelope (size, stride, offset), the measured side the envelope measured from two
    neighbouring units inside the input."""
    out: dict[str, Any] = {}
    holes = []
    for p in check.probes:
        rows = p.measured if measured else p.expected
        key = f"axis{p.axis}@{p.index}"
        out[key] = list(rf_probe.span(rows) or ()) or None
        if rf_probe.has_holes(rows):
            holes.append(key)
    if holes:
        out["holes"] = holes
    if not measured and any(p.envelope not in (None, p.expected) for p in check.probes):
        out["envelope"] = "differs from the exact support inside the input"
    if measured and check.size is not None:
        out["size"] = list(check.size)
        out["stride"] = list(check.stride or ())
        out["offset"] = [float(v) for v in check.offset or ()]
    f = check.field
    if not measured and f is not None and not f.whole:
        out["size"] = [float(v) if v.denominator != 1 else int(v) for v in f.size]
        out["stride"] = [int(v) if v.denominator == 1 else float(v) for v in f.stride]
        out["offset"] = [float(v) for v in f.offset]
    if check.whole:
        out["whole"] = True
    return out


def verify(
    analysis: Analysis,
    spec_input_shape: tuple[int, ...],
    seed: int = 0,
    dtype: str = "float32",
    rf_samples: int = 4,
    max_memory: int | None = None,
    progress: ex.Progress | None = None,
) -> Verification:
    """Run the analysed graph on a random batch and compare every layer with the report."""
    import time

    start = time.perf_counter()
    np_dtype = ex.DTYPES[dtype]
    itemsize = np.dtype(np_dtype).itemsize
    graph, layers, report = analysis.graph, analysis.layers, analysis.report
    batch = report.batch
    estimate = mem.estimate_memory(
        graph, layers, report.totals.peak_activation_bytes, batch, itemsize
    )
    if max_memory is None:
        limit, source = mem.default_limit()
    else:
        limit, source = max_memory, "--max-memory"
    mem.guard_memory(
        estimate,
        limit,
        source,
        f"running {graph.name or 'the net'} at {format_shape(graph.input_shape)}, batch {batch}",
    )
    params = ex.init_params(graph, layers, seed, np_dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, *graph.input_shape)).astype(np_dtype)
    run = ex.execute(graph, layers, params, x, progress=progress)
    del x

    rows = {row.name: row for row in report.layers}
    fields = {name: found.field for name, found in analysis.fields.items()}
    samples = rf_probe.pick_samples(graph, layers, fields, rf_samples)
    budget = max(limit - estimate.weights, 64 * 2**20)
    field_checks = {
        c.layer: c
        for c in rf_probe.measure_fields(
            graph, layers, fields, samples, np_dtype, budget, progress=progress
        )
    }

    checks: list[LayerCheck] = []
    for node, done in zip(graph.nodes, run.layers):
        row = rows[node.name]
        layer = layers[node.name]
        assert layer is not None
        weight_names = set(node.op.weights(layer))
        used_params = sum(numel(s) for k, s in done.used.items() if k in weight_names)
        used_buffers = sum(numel(s) for k, s in done.used.items() if k not in weight_names)
        check = LayerCheck(node.name, node.op.name, seconds=done.seconds)
        check.figures.append(
            Figure(
                "shape", row.output_shape, done.output_shape, row.output_shape == done.output_shape
            )
        )
        check.figures.append(Figure("params", row.params, used_params, row.params == used_params))
        if row.buffers or used_buffers:
            check.figures.append(
                Figure("buffers", row.buffers, used_buffers, row.buffers == used_buffers)
            )
        check.figures.append(Figure("macs", row.macs, done.macs, row.macs == done.macs))
        fc = field_checks.get(node.name)
        if fc is not None:
            check.figures.append(Figure("rf", rf_text(fc, False), rf_text(fc, True), fc.ok))
        checks.append(check)
    return Verification(
        graph.name,
        tuple(graph.input_shape),
        tuple(spec_input_shape),
        batch,
        dtype,
        seed,
        checks,
        estimate,
        limit,
        run.peak_live_bytes,
        list(field_checks.values()),
        time.perf_counter() - start,
    )
