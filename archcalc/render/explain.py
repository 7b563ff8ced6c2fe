"""`--explain` as plain text: the arithmetic behind each layer's figures, as the course writes it.

conv1  conv 11×11/4, 96
  output     (227 + 2·0 − 11)/4 + 1 = 55
  params     (11·11·3 + 1)·96 = 34,944
"""

from __future__ import annotations

from archcalc.report import Report


def explain_text(report: Report) -> str:
    lines: list[str] = []
    for row in report.layers:
        entries = row.explain or []
        if not entries and not row.rf_note:
            continue
        lines.append(f"{row.name}  {row.type} {row.describe}".rstrip())
        width = max((len(figure) for figure, _ in entries), default=2)
        for figure, formula in entries:
            lines.append(f"  {figure.ljust(width)}  {formula}")
        if row.rf_note:
            lines.append(f"  {'RF'.ljust(width)}  {row.rf_note}")
    return "\n".join(lines) + ("\n" if lines else "")
