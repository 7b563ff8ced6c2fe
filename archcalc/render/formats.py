"""Machine-readable renderings of a report: JSON (the contract), CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json

from archcalc.render.numbers import grouped, human
from archcalc.report import LayerRow, Report
from archcalc.shapes import format_shape


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)


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
]


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
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
        ]
    )
    return out.getvalue()


FIT_MARK = {"": "", "info": "≈", "warning": "⚠", "error": "✗"}


def to_markdown(report: Report) -> str:
    t = report.totals
    lines = [
        f"## {report.name}",
        "",
        f"Input {format_shape(report.input_shape)}, batch {report.batch}, {report.dtype}.",
        "",
        "| layer | type | output | params | MACs | RF | fit |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for row in report.layers:
        kind = f"{row.type} {row.describe}".strip()
        lines.append(
            f"| {row.name} | {kind} | {format_shape(row.output_shape)} | {grouped(row.params)} | {grouped(row.macs)} | {rf_text(row)} | {FIT_MARK[row.fit]} |"
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
