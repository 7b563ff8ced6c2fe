"""One analysed net that questions are asked about, and the figures a question can ask for.

Every figure comes from the analysis (``archcalc.analysis.analyze``), never re-derived here; a
"what if" variant (padding forgotten, stride ignored...) is the same net with changed attributes,
analysed again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from archcalc.analysis import analyze_graph
from archcalc.diagnostics import Diagnostics
from archcalc.graph import Graph, Node
from archcalc.ops.base import Layer
from archcalc.report import LayerRow, Report

# What a question can ask for, and the kind of answer each takes.
ASKS: dict[str, str] = {
    "output_shape": "shape",
    "params": "number",
    "macs": "number",
    "flops": "number",
    "rf": "number",
    "rf_stride": "number",
    "exact_size": "number",  # the course's unrounded (N + 2P − F)/S + 1
    "fits": "yes/no",
    "lost": "number",  # input rows (or columns) that no window ever sees
    "activation_bytes": "number",
    "param_bytes": "number",
    "value": "matrix",
    "design": "spec",
}
# The figures that have a whole-net total when a question names no layer.
TOTALS = {"params", "macs", "flops", "param_bytes", "activation_bytes"}


class FigureError(ValueError):
    """A question asks for a figure the net does not have (no such layer, no window...)."""


@dataclass
class Net:
    graph: Graph
    report: Report
    layers: dict[str, Layer | None]

    @classmethod
    def of(cls, graph: Graph, diagnostics: Diagnostics | None = None) -> Net:
        result = analyze_graph(graph, diagnostics=diagnostics, explain=True)
        return cls(graph, result.report, result.layers)

    def row(self, name: str | None) -> LayerRow:
        if name is None:
            return self.report.layers[-1]
        for row in self.report.layers:
            if row.name == name:
                return row
        from archcalc.diagnostics import did_you_mean

        names = [r.name for r in self.report.layers]
        raise FigureError(
            f"the net has no layer '{name}'; "
            + (did_you_mean(name, names) or f"its layers are {', '.join(names[:12])}")
        )

    def figure(self, ask: str, layer: str | None) -> Any:
        """The value of ``ask`` at ``layer`` (or for the whole net when layer is None)."""
        if layer is None and ask in TOTALS:
            return getattr(self.report.totals, ask)
        row = self.row(layer)
        if ask == "output_shape":
            if row.output_shape is None:
                raise FigureError(f"{row.name} has no output shape (an error comes before it)")
            return row.output_shape
        if ask in ("params", "macs", "flops", "activation_bytes"):
            return getattr(row, ask)
        if ask == "param_bytes":
            return row.params * self.report.totals.param_bytes // max(self.report.totals.params, 1)
        if ask in ("rf", "rf_stride"):
            rf = row.receptive_field
            if rf is None:
                raise FigureError(f"{row.name} has no single receptive field: {row.rf_note}")
            values = rf.size if ask == "rf" else rf.stride
            if len(set(values)) != 1:
                raise FigureError(f"{row.name}'s receptive field is not square: {values}")
            return values[0]
        fit = self.first_fit(row.name)
        if ask == "exact_size":
            return fit.exact if fit is not None else Fraction(row.output_shape[0])  # type: ignore[index]
        if ask == "fits":  # as the course says: (N + 2P − F)/S + 1 is whole on every axis
            analysed = self.layers.get(row.name)
            return all(f.exact.denominator == 1 for f in (analysed.fits if analysed else []))
        if ask == "lost":
            return fit.lost_real if fit is not None else 0
        raise FigureError(f"'{ask}' is not a figure archcalc can give")

    def first_fit(self, name: str) -> Any:
        layer = self.layers.get(name)
        if layer is None or not layer.fits:
            return None
        worst = [f for f in layer.fits if f.remainder]
        return (worst or layer.fits)[0]

    def derivation(self, ask: str, layer: str | None) -> list[str]:
        """The arithmetic behind a figure, from the analysis' own --explain lines."""
        wanted = {
            "output_shape": "output",
            "exact_size": "output",
            "fits": "output",
            "lost": "output",
            "params": "params",
            "macs": "MACs",
            "flops": "FLOPs",
            "rf": "RF",
            "rf_stride": "RF stride",
        }.get(ask)
        if layer is None and ask in TOTALS:
            rows = [r for r in self.report.layers if getattr(r, ask, 0)]
            terms = [f"{r.name} {getattr(r, ask):,}" for r in rows]
            if len(terms) > 8:
                terms = [*terms[:4], f"… {len(terms) - 6} more …", *terms[-2:]]
            total = getattr(self.report.totals, ask)
            return [f"sum over the layers: {' + '.join(terms) or '0'} = {total:,}"]
        row = self.row(layer)
        lines = [f"{row.name} ({row.type} {row.describe}):".replace(" )", ")")]
        lines += [f"{fig} {formula}" for fig, formula in row.explain or [] if fig == wanted]
        if ask in ("fits", "lost", "exact_size"):
            lines += [
                d.message.split(": ", 1)[-1] + (f"; {d.hint}" if d.hint else "")
                for d in self.report.diagnostics
                if d.layer == row.name and d.code == "stride-fit"
            ]
        return lines

    def variant(self, change: Callable[[Node], dict[str, Any] | None]) -> Net | None:
        """The net with ``change(node)``'s attributes replaced, analysed again; None when no
        node changes or the changed net cannot be analysed."""
        nodes, changed = [], False
        for node in self.graph.nodes:
            new = change(node)
            if new and any(node.attrs.get(k) != v for k, v in new.items()):
                nodes.append(replace(node, attrs={**node.attrs, **new}))
                changed = True
            else:
                nodes.append(node)
        if not changed:
            return None
        try:
            return Net.of(replace(self.graph, nodes=nodes))
        except (ValueError, TypeError, ZeroDivisionError):
            return None


def ceil_or_floor_shape(net: Net, name: str) -> tuple[int, ...] | None:
    """The output shape rounded the other way (ceil where frameworks floor, and back)."""
    layer = net.layers.get(name)
    if layer is None or not layer.fits or len(layer.fits) != len(layer.output) - 1:
        return None
    sizes = [math.floor(f.exact) if f.ceil_mode else math.ceil(f.exact) for f in layer.fits]
    return (*sizes, layer.output[-1])
