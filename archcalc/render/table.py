"""The terminal table.

Drawn with plain column arithmetic rather than rich.Table: rich lays out a 170-row table in
about 0.4 s, longer than the whole analysis, and `archcalc summarize` must feel instant.
Colour, when wanted, is plain ANSI through click.style.
"""

from __future__ import annotations

from collections.abc import Callable

from archcalc.render.formats import FIT_MARK, rf_text
from archcalc.render.numbers import grouped, human
from archcalc.report import Report
from archcalc.shapes import format_shape

Style = Callable[..., str]
CellStyles = list[dict[str, object] | None]  # click.style keywords per cell
_FIT_COLOUR = {"": None, "info": "cyan", "warning": "yellow", "error": "red"}


def _plain(text: str, **_: object) -> str:
    return text


def columns(
    header: list[str],
    rows: list[list[str]],
    right: set[int],
    paint: list[CellStyles | None] | None = None,
    style: Style = _plain,
) -> list[str]:
    """Align cells into lines; ``right`` holds the indices of right-aligned columns."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str], styles: list[dict[str, object] | None]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            padded = cell.rjust(width) if i in right else cell.ljust(width)
            spec = styles[i] if i < len(styles) else None
            out.append(style(padded, **spec) if spec and cell else padded)
        return "  ".join(out).rstrip()

    lines = [line(header, [{"bold": True}] * len(header))]
    lines += [line(row, (paint[i] if paint else None) or []) for i, row in enumerate(rows)]
    return lines


def render_table(report: Report, style: Style = _plain) -> str:
    header = ["layer", "type", "output", "params", "MACs", "RF", "fit"]
    rows: list[list[str]] = []
    paint: list[CellStyles | None] = []
    for row in report.layers:
        rows.append(
            [
                row.name,
                f"{row.type} {row.describe}".strip(),
                format_shape(row.output_shape),
                grouped(row.params) if row.params else "",
                grouped(row.macs) if row.macs else "",
                rf_text(row),
                FIT_MARK[row.fit],
            ]
        )
        colour = _FIT_COLOUR[row.fit]
        cells: CellStyles = [None] * 6 + [{"fg": colour, "bold": True}]
        paint.append(cells if colour else None)
    title = f"{report.name} — input {format_shape(report.input_shape)}" + (
        f", batch {report.batch}" if report.batch > 1 else ""
    )
    t = report.totals
    totals = [
        ["params", grouped(t.params), human(t.params)],
        [
            "trainable",
            grouped(t.trainable_params),
            f"non-trainable {grouped(t.non_trainable_params)}",
        ],
        ["buffers", grouped(t.buffers), f"Keras count_params() = {grouped(t.keras_params)}"],
        ["MACs", grouped(t.macs), human(t.macs)],
        ["FLOPs", grouped(t.flops), human(t.flops)],
        [
            "memory",
            human(t.param_bytes + t.buffer_bytes, "B"),
            f"parameters and buffers, {report.dtype}",
        ],
        [
            "",
            human(t.activation_bytes, "B"),
            f"all layer outputs; peak live with input {human(t.peak_activation_bytes, 'B')}",
        ],
    ]
    total_lines = columns(
        ["", "", ""],
        totals,
        right={1},
        paint=[[{"bold": True}, None, {"dim": True}] for _ in totals],
        style=style,
    )[1:]
    return (
        "\n".join(
            [
                style(title, bold=True),
                *columns(header, rows, right={2, 3, 4, 5}, paint=paint, style=style),
                "",
                *total_lines,
            ]
        )
        + "\n"
    )
