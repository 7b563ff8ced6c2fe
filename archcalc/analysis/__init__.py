"""Analyzers: pure functions over the graph. No I/O, no numpy, no rich."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec

from archcalc.analysis.rf import NodeField, receptive_fields
from archcalc.analysis.shapes import infer_shapes
from archcalc.counting import DEFAULT, Convention, convention
from archcalc.diagnostics import Diagnostics, UsageError
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.perf import paused_gc
from archcalc.report import LayerRow, Report, Totals
from archcalc.shapes import numel

DTYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int32": 4,
}
P = ParamSpec("P")
_SEVERITY_RANK = {"": 0, "info": 1, "warning": 2, "error": 3}


@dataclass
class Analysis:
    """All one analysis worked out, for commands that go on to run, probe or draw the net."""

    graph: Graph  # what was analysed (with any --input override applied)
    layers: dict[str, Layer | None]  # each node's shapes and resolved geometry; None: unknown
    fields: dict[
        str, NodeField
    ]  # each node's receptive field (its .field None: unknown or undefined)
    report: Report


def analyze_graph(
    graph: Graph,
    batch: int = 1,
    dtype: str = "float32",
    strict: bool | None = None,
    diagnostics: Diagnostics | None = None,
    count: str = DEFAULT,
    explain: bool = False,
) -> Analysis:
    """Shapes, parameters, MACs/FLOPs, memory, receptive fields and stride fit for every layer,
    and what the counting convention ``count`` (archcalc/counting.py) counts for each: the
    report, with the graph, shapes and fields it was worked out from.

    With ``explain``, every row also carries the arithmetic behind its figures (``row.explain``):
    the op's own formulas (``Op.explain``) and the receptive-field recurrence."""
    if batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch}")
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"unknown dtype '{dtype}'", f"choose one of {', '.join(DTYPE_BYTES)}")
    counting = convention(count)
    strict = graph.strict if strict is None else strict
    with paused_gc():
        return _analyze(
            graph,
            batch,
            DTYPE_BYTES[dtype],
            dtype,
            strict,
            Diagnostics(diagnostics or []),
            counting,
            explain,
        )


def _report_only(analysis: Callable[P, Analysis]) -> Callable[P, Report]:
    @functools.wraps(analysis)
    def report(*args: P.args, **kwargs: P.kwargs) -> Report:
        return analysis(*args, **kwargs).report

    return report


# analyze_graph's report alone, for callers that need nothing else; same parameters.
analyze = _report_only(analyze_graph)


def _analyze(
    graph: Graph,
    batch: int,
    width: int,
    dtype: str,
    strict: bool,
    diags: Diagnostics,
    counting: Convention,
    explain: bool = False,
) -> Analysis:
    layers = infer_shapes(graph, diags, strict)
    fields = receptive_fields(graph, layers, diags, explain)

    worst_fit: dict[str, str] = {}
    for d in diags:
        if (
            d.code == "stride-fit"
            and _SEVERITY_RANK[d.severity] > _SEVERITY_RANK[worst_fit.get(d.layer, "")]
        ):
            worst_fit[d.layer] = d.severity

    rows: list[LayerRow] = []
    totals = Totals(
        input_bytes=numel(graph.input_shape) * batch * width if graph.input_shape else 0
    )
    for node in graph.nodes:
        layer = layers.get(node.name)
        row = LayerRow(
            node.name,
            node.op.name,
            node.op.family,
            node.inputs,
            None,
            scope=node.scope,
            pos=node.pos,
            fit=worst_fit.get(node.name, ""),
        )
        if layer is not None:
            weights = node.op.weights(layer)
            row.output_shape = layer.output
            row.weights = weights
            row.params = sum(numel(shape) for shape in weights.values())
            row.trainable_params = row.params if node.trainable else 0
            row.buffers = sum(numel(shape) for shape in node.op.buffers(layer).values())
            row.macs = node.op.macs(layer) * batch
            row.flops = node.op.flops(layer) * batch
            # the default convention is the MACs just computed: don't derive them twice
            row.counted = (
                row.macs
                if counting.name == DEFAULT
                else counting.count(node.op, layer, node.call) * batch
            )
            row.activation_bytes = numel(layer.output) * batch * width
            rf = fields[node.name]
            row.receptive_field = rf.field
            row.describe = node.op.describe(layer)
            geometry = node.op.geometry(layer)
            if geometry is not None:
                row.window = {**geometry.to_json(), "groups": layer.attrs.get("groups")}
            row.rf_note = rf.note
            if explain:
                row.explain = _per_batch(node.op.explain(layer), batch, row) + list(rf.explain)
        rows.append(row)
        totals.params += row.params
        totals.trainable_params += row.trainable_params
        totals.buffers += row.buffers
        totals.macs += row.macs
        totals.flops += row.flops
        totals.counted += row.counted
        totals.activation_bytes += row.activation_bytes
    totals.param_bytes = totals.params * width
    totals.buffer_bytes = totals.buffers * width
    totals.peak_activation_bytes = _peak_live_bytes(graph, rows, totals.input_bytes)
    report = Report(
        graph.name,
        graph.file,
        graph.source,
        graph.input_shape,
        batch,
        dtype,
        strict,
        rows,
        totals,
        list(diags),
        count=counting.name,
    )
    return Analysis(graph, layers, fields, report)


def _per_batch(lines: list[tuple[str, str]], batch: int, row: LayerRow) -> list[tuple[str, str]]:
    """The ops explain one sample; a larger batch multiplies MACs and FLOPs."""
    if batch == 1:
        return lines
    totals = {"MACs": row.macs, "FLOPs": row.flops}
    return [
        (figure, f"{text}; × batch {batch} = {totals[figure]:,}" if figure in totals else text)
        for figure, text in lines
    ]


def _peak_live_bytes(graph: Graph, rows: list[LayerRow], input_bytes: int) -> int:
    """Peak of the activations alive at once when each is freed after its last consumer runs."""
    size = {row.name: row.activation_bytes for row in rows}
    size[INPUT] = input_bytes
    live = input_bytes
    peak = live
    for node, frees in zip(graph.nodes, graph.free_after()):
        live += size[node.name]
        peak = max(peak, live)
        live -= sum(size[name] for name in frees)
    return peak
