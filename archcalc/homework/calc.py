"""The one-layer calculators: command-line options → a small spec, analysed like any other.

``archcalc conv 32x32x3 --filters 10 --kernel 5 --pad 2`` is the spec
``{input: 32x32x3, layers: [conv: {filters: 10, kernel: 5, padding: 2}]}``; ``--then LAYER``
adds layers in the spec language (``--then 'maxpool: {kernel: 2}'``), and an inline spec can
stand in for the input shape.
"""

from __future__ import annotations

import json
from typing import Any

from archcalc.report import Report
from archcalc.shapes import format_shape

COMMAND_LINE = "<command line>"


def is_inline_spec(text: str) -> bool:
    return text.lstrip().startswith("{") or "layers:" in text


def spec_text(shape_or_spec: str, first: dict[str, Any] | None, then: tuple[str, ...]) -> str:
    """The spec the calculator analyses, as YAML text (its positions are what errors cite)."""
    if is_inline_spec(shape_or_spec):
        text = shape_or_spec.strip()
        if not then:
            return text
        import yaml

        data = yaml.safe_load(text)
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            return text  # let the spec reader report what is wrong
        data["layers"] += [yaml.safe_load(t) for t in then]
        return json.dumps(data)
    lines = [f"input: {shape_or_spec}", "layers:"]
    if first is not None:
        [(op, attrs)] = first.items()
        given = {k: v for k, v in attrs.items() if v is not None}
        lines.append(f"  - {op}: {json.dumps(given)}")
    lines += [f"  - {layer}" for layer in then]
    return "\n".join(lines) + "\n"


def calculator_text(report: Report) -> str:
    """Per layer: what it is, its output, params, MACs and receptive field, then the worked
    arithmetic; a filter that doesn't fit gets the course's formula and the nearest fixes."""
    from archcalc.homework.report import fold
    from archcalc.render.explain import explain_text

    lines = [f"input {format_shape(report.input_shape)}"]
    for row in report.layers:
        out = format_shape(row.output_shape)
        rf = row.receptive_field
        field = "x".join(f"{s:g}" for s in rf.size) if rf is not None else "not defined"
        what = f"{row.type} {row.describe}".strip()
        lines.append(
            f"{row.name}: {what} → {out}; params {row.params:,}, "
            f"MACs {row.macs:,}, receptive field {field}"
        )
    lines.append("")
    lines.append(explain_text(report).rstrip("\n"))
    for d in report.diagnostics:
        if d.severity == "info" and d.code != "stride-fit":
            continue
        lines.append("")
        tag = "error" if d.severity == "error" else "note"
        lines += fold(f"{tag}: {d.message}")
        if d.hint:
            lines += fold(f"  {d.hint}")
    if len(report.layers) > 1:
        t = report.totals
        lines += ["", f"total: params {t.params:,}, MACs {t.macs:,}, FLOPs {t.flops:,}"]
    return "\n".join(lines) + "\n"
