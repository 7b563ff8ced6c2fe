"""Machine-readable renderings of a report: JSON (the contract), CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json

from archcalc.analysis.bytype import MEASURES, by_type
from archcalc.counting import DEFAULT
from archcalc.render.numbers import grouped, human
from archcalc.report import WINDOW_FIELDS, LayerRow, Report
from archcalc.shapes import format_shape


def to_json(report: Report, types: bool = False) -> str:
    """The JSON contract; with ``types`` it gains a ``by_type`` list (see analysis.bytype)."""
    data = report.to_json()
    if types:
        rows, whole = by_type(report)
        data["by_type"] = [row.to_json(whole) for row in rows]
    return json.dumps(data, indent=2)


def counted_label(report: Report) -> str:
    """The heading of the counted figure: the convention's name, e.g. 'fvcore count'."""
    return f"{report.count} count"


def shows_counted(report: Report) -> bool:
    """The counted column is worth showing when it is not simply the MACs column again."""
    return report.count != DEFAULT


def share(value: float) -> str:
    return f"{value:.1f}%"


def rf_text(row: LayerRow) -> str:
    if row.receptive_field is None:
        return ""
    return "x".join(f"{float(v):g}" for v in row.receptive_field.size)


CSV_COLUMNS = [
    "name",
    "type",
    "inputs",
    "output_shape",
    "params",
    "trainable_params",
    "buffers",
    "macs",
    "flops",
    "activation_bytes",
    "receptive_field",
    "stride_fit",
    *WINDOW_FIELDS,
]


def window_cells(row: LayerRow) -> list[str]:
    """kernel, stride, padding, dilation and groups as CSV cells: 3x3, 2x2, 1+1x1+1, 1x1, 1
    (groups empty for pooling)."""
    w = row.window
    if not w:
        return [""] * len(WINDOW_FIELDS)
    axes = ["x".join(map(str, w[key])) for key in ("kernel", "stride")]
    padding = "x".join(f"{before}+{after}" for before, after in w["padding"])
    groups = "" if w["groups"] is None else str(w["groups"])
    return [*axes, padding, "x".join(map(str, w["dilation"])), groups]


def to_csv(report: Report) -> str:
    """One line per layer and a TOTAL line; with a --count convention other than archcalc's,
    a last ``counted`` column."""
    counted = shows_counted(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + ["counted"] * counted)
    for row in report.layers:
        writer.writerow(
            [
                row.name,
                row.type,
                " ".join(row.inputs),
                format_shape(row.output_shape),
                row.params,
                row.trainable_params,
                row.buffers,
                row.macs,
                row.flops,
                row.activation_bytes,
                rf_text(row),
                row.fit or "exact",
                *window_cells(row),
                *[row.counted] * counted,
            ]
        )
    t = report.totals
    writer.writerow(
        [
            "TOTAL",
            "",
            "",
            "",
            t.params,
            t.trainable_params,
            t.buffers,
            t.macs,
            t.flops,
            t.activation_bytes,
            "",
            "",
            *[""] * len(WINDOW_FIELDS),
            *[t.counted] * counted,
        ]
    )
    return out.getvalue()


TYPE_CSV_COLUMNS = ["type", "family", "layers"] + [
    name for measure in MEASURES for name in (measure, f"{measure}_share")
]


def to_csv_by_type(report: Report) -> str:
    """One line per layer type; shares are percentages of the network's total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TYPE_CSV_COLUMNS)
    rows, whole = by_type(report)
    for row in [*rows, whole]:
        writer.writerow(
            [
                "TOTAL" if row is whole else row.type,
                row.family,
                row.layers,
                *(
                    v
                    for measure in MEASURES
                    for v in (getattr(row, measure), f"{row.share(measure, whole):.2f}")
                ),
            ]
        )
    return out.getvalue()


FIT_MARK = {"": "", "info": "≈", "warning": "⚠", "error": "✗"}


def to_markdown(report: Report, types: bool = False) -> str:
    t = report.totals
    counted = shows_counted(report)
    lines = [
        f"## {report.name}",
        "",
        f"Input {format_shape(report.input_shape)}, batch {report.batch}, {report.dtype}.",
        "",
    ]
    if types:
        rows, whole = by_type(report)
        extra = f" {counted_label(report)} | % |" if counted else ""
        lines += [
            "| type | layers | params | % | MACs | % | FLOPs | % |" + extra,
            "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if counted else ""),
        ]
        measures = MEASURES if counted else MEASURES[:-1]
        for group in [*rows, whole]:
            cells = [
                c
                for m in measures
                for c in (grouped(getattr(group, m)), share(group.share(m, whole)))
            ]
            lines.append(
                f"| {'**total**' if group is whole else group.type} | {group.layers} | "
                + " | ".join(cells)
                + " |"
            )
    else:
        lines += [
            "| layer | type | output | params | MACs |"
            + (f" {counted_label(report)} |" if counted else "")
            + " RF | fit |",
            "|---|---|---|---:|---:|" + ("---:|" if counted else "") + "---|---|",
        ]
        for row in report.layers:
            kind = f"{row.type} {row.describe}".strip()
            lines.append(
                f"| {row.name} | {kind} | {format_shape(row.output_shape)} | {grouped(row.params)} | {grouped(row.macs)} |"
                + (f" {grouped(row.counted)} |" if counted else "")
                + f" {rf_text(row)} | {FIT_MARK[row.fit]} |"
            )
    lines += [
        "",
        "| total | value |",
        "|---|---:|",
        f"| params | {grouped(t.params)} |",
        f"| trainable params | {grouped(t.trainable_params)} |",
        f"| buffers (not learned) | {grouped(t.buffers)} |",
        f"| MACs | {grouped(t.macs)} ({human(t.macs)}) |",
        f"| FLOPs | {grouped(t.flops)} ({human(t.flops)}) |",
        *(
            [f"| {counted_label(report)} | {grouped(t.counted)} ({human(t.counted)}) |"]
            if counted
            else []
        ),
        f"| parameter memory | {human(t.param_bytes + t.buffer_bytes, 'B')} |",
        f"| activation memory (all outputs) | {human(t.activation_bytes, 'B')} |",
        f"| peak live activations | {human(t.peak_activation_bytes, 'B')} |",
    ]
    if report.diagnostics:
        lines += ["", "### Diagnostics", ""]
        lines += [
            f"- **{d.severity}** `{d.pos}`: {d.message}" + (f" — {d.hint}" if d.hint else "")
            for d in report.diagnostics
        ]
    return "\n".join(lines) + "\n"
