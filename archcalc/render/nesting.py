"""The nested structure of a net (blocks, residual and parallel blocks, branches, layers) as a
tree of parts with totals, shared by the Graphviz diagram and the terminal tree.

No rich, no graphviz here: plain data built from the graph's scopes and the report's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archcalc.diagnostics import Diagnostic, Pos
from archcalc.graph import INPUT, Graph, Scope
from archcalc.shapes import Shape

if TYPE_CHECKING:  # archcalc.report imports the analysis package: keep this module light
    from archcalc.report import LayerRow, Report

SEVERITY_RANK = {"": 0, "info": 1, "warning": 2, "error": 3}
# the layer families a summary of a block names one by one ('conv 3×3, 64'); the others
# (norms, activations, reshapes) it names once or not at all
MAIN_FAMILIES = ("conv", "pool", "dense")


@dataclass
class Part:
    """One layer (``row`` set) or one composite (``scope`` set) of the net."""

    name: str  # qualified name of the layer or scope; "" for the whole net
    row: LayerRow | None = None
    scope: Scope | None = None
    children: list[Part] = field(default_factory=list)
    # consecutive identical block instances folded into this part: [self, second, third, ...]
    instances: list[Part] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # on this layer only

    @property
    def is_layer(self) -> bool:
        return self.row is not None

    @property
    def kind(self) -> str:
        if self.row is not None:
            return "layer"
        return self.scope.kind if self.scope is not None else "net"

    @property
    def label(self) -> str:
        """What the spec called it: a block's name, 'residual', 'parallel', a branch label."""
        if self.row is not None:
            return self.row.type
        return self.scope.label if self.scope is not None else "net"

    @property
    def short(self) -> str:
        """The last component of the qualified name."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def repeat(self) -> int:
        return max(1, len(self.instances))

    def rows(self) -> Iterator[LayerRow]:
        """Every layer inside, in graph order (this instance only)."""
        if self.row is not None:
            yield self.row
        for child in self.children:
            for inst in child.instances or [child]:
                yield from inst.rows()

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows())

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows())

    @property
    def layer_count(self) -> int:
        return sum(1 for _ in self.rows())

    @property
    def layers_text(self) -> str:
        n = self.layer_count
        return f"{n} layer" if n == 1 else f"{n} layers"

    @property
    def output_shape(self) -> Shape | None:
        rows = list(self.rows())
        return rows[-1].output_shape if rows else None

    def all_diagnostics(self) -> Iterator[Diagnostic]:
        yield from self.diagnostics
        for child in self.children:
            for inst in child.instances or [child]:
                yield from inst.all_diagnostics()

    @property
    def worst(self) -> str:
        """The worst severity of any diagnostic on a layer inside (stride fit included)."""
        worst = ""
        for row in self.rows():
            if SEVERITY_RANK[row.fit] > SEVERITY_RANK[worst]:
                worst = row.fit
        for d in self.all_diagnostics():
            if SEVERITY_RANK.get(d.severity, 0) > SEVERITY_RANK[worst]:
                worst = d.severity
        return worst


def build(graph: Graph, report: Report, fold: bool = True) -> Part:
    """The tree of parts: each layer hangs under the scopes that enclose it, in graph order."""
    by_layer: dict[str, list[Diagnostic]] = {}
    for d in report.diagnostics:
        if d.layer:
            by_layer.setdefault(d.layer, []).append(d)
    root = Part("")
    parts: dict[str, Part] = {}
    for row in report.layers:
        parent = root
        for qualified in row.scope:
            part = parts.get(qualified)
            if part is None:
                scope = graph.scopes.get(qualified) or Scope(
                    qualified, "block", qualified.rsplit(".", 1)[-1], row.pos or Pos("", 0, 0)
                )
                part = Part(qualified, scope=scope)
                parts[qualified] = part
                parent.children.append(part)
            parent = part
        parent.children.append(Part(row.name, row=row, diagnostics=by_layer.get(row.name, [])))
    if fold:
        _fold(root)
    return root


def _signature(part: Part) -> tuple[object, ...]:
    """What must match for two block instances to be drawn as one: the same layers with the same
    hyperparameters and shapes, wired the same way (names taken relative to the instance)."""
    prefix = part.name + "."
    inside = {r.name for r in part.rows()}
    sig: list[object] = [part.kind, part.label]
    for r in part.rows():
        wiring = tuple(src[len(prefix) :] if src in inside else "<outside>" for src in r.inputs)
        sig.append(
            (r.name[len(prefix) :], r.type, r.describe, r.output_shape, r.params, r.macs, wiring)
        )
    return tuple(sig)


def _feeds_from(part: Part, previous: Part) -> bool:
    """Every input from outside ``part`` comes from ``previous`` (a chain of instances)."""
    inside = {r.name for r in part.rows()}
    before = {r.name for r in previous.rows()}
    outside = {src for r in part.rows() for src in r.inputs if src not in inside}
    return bool(outside) and outside <= before


def _fold(part: Part) -> None:
    """Fold runs of consecutive identical block instances into their first instance."""
    for child in part.children:
        _fold(child)
    folded: list[Part] = []
    for child in part.children:
        prev = folded[-1] if folded else None
        if (
            prev is not None
            and child.kind == "block"
            and prev.kind == "block"
            and _signature(child) == _signature(prev)
            and _feeds_from(child, (prev.instances or [prev])[-1])
            and SEVERITY_RANK[child.worst] < 2  # a warning must stay visible where it is
            and SEVERITY_RANK[prev.worst] < 2
        ):
            if not prev.instances:
                prev.instances = [prev]
            prev.instances.append(child)
            continue
        folded.append(child)
    part.children = folded


def instance_range(part: Part) -> str:
    """'bottleneck1 … bottleneck5' for a folded part, its short name otherwise."""
    if part.repeat == 1:
        return part.short
    return f"{part.short} … {part.instances[-1].short}"


def external_inputs(part: Part) -> list[str]:
    inside = {r.name for r in part.rows()}
    out: list[str] = []
    for r in part.rows():
        for src in r.inputs:
            if src not in inside and src not in out:
                out.append(src)
    return out


__all__ = [
    "INPUT",
    "MAIN_FAMILIES",
    "SEVERITY_RANK",
    "Part",
    "build",
    "external_inputs",
    "instance_range",
]
