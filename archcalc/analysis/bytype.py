"""Totals grouped by layer type, with each type's share of the network's total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.report import Report

MEASURES = ("params", "macs", "flops", "counted")


@dataclass
class TypeTotal:
    type: str  # the op's registry name
    family: str
    layers: int = 0
    params: int = 0
    macs: int = 0
    flops: int = 0
    counted: int = 0  # under the report's counting convention

    def to_json(self, whole: TypeTotal) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "family": self.family, "layers": self.layers}
        for measure in MEASURES:
            out[measure] = getattr(self, measure)
            out[f"{measure}_share"] = round(self.share(measure, whole), 6)
        return out

    def share(self, measure: str, whole: TypeTotal) -> float:
        """This type's ``measure`` as a percentage of ``whole``'s (0 when the whole is 0)."""
        total = getattr(whole, measure)
        return 100.0 * getattr(self, measure) / total if total else 0.0


def by_type(report: Report) -> tuple[list[TypeTotal], TypeTotal]:
    """One row per layer type, most MACs first (then FLOPs, then parameters; ties in order of
    first appearance), and the whole network's row."""
    groups: dict[str, TypeTotal] = {}
    whole = TypeTotal("total", "")
    for row in report.layers:
        group = groups.setdefault(row.type, TypeTotal(row.type, row.family))
        for target in (group, whole):
            target.layers += 1
            target.params += row.params
            target.macs += row.macs
            target.flops += row.flops
            target.counted += row.counted
    rows = sorted(groups.values(), key=lambda g: (-g.macs, -g.flops, -g.params))
    return rows, whole
