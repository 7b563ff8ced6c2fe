"""The terminal table.

Drawn with plain column arithmetic rather than rich.Table: rich lays out a 170-row table in
about 0.4 s, longer than the whole analysis, and `archcalc summarize` must feel instant.
Colour, when wanted, is plain ANSI through click.style.
"""

from __future__ import annotations

from collections.abc import Callable

from archcalc.analysis.bytype import MEASURES, by_type
from archcalc.render.formats import FIT_MARK, counted_label, rf_text, share, shows_counted
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


def _layer_rows(
    report: Report, counted: bool
) -> tuple[list[str], list[list[str]], set[int], list[CellStyles | None]]:
    header = ["layer", "type", "output", "params", "MACs"]
    header += [counted_label(report)] * counted + ["RF", "fit"]
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
                *[grouped(row.counted) if row.counted else ""] * counted,
                rf_text(row),
                FIT_MARK[row.fit],
            ]
        )
        colour = _FIT_COLOUR[row.fit]
        cells: CellStyles = [None] * (len(header) - 1) + [{"fg": colour, "bold": True}]
        paint.append(cells if colour else None)
    return header, rows, set(range(2, len(header) - 1)), paint


_HEADINGS = {"params": "params", "macs": "MACs", "flops": "FLOPs"}


def _type_rows(
    report: Report, counted: bool
) -> tuple[list[str], list[list[str]], set[int], list[CellStyles | None]]:
    """One row per layer type with each measure's share of the total, then the total."""
    measures = MEASURES if counted else MEASURES[:-1]
    header = ["type", "layers"]
    for measure in measures:
        header += [_HEADINGS.get(measure, counted_label(report)), "%"]
    groups, whole = by_type(report)
    rows = [
        [
            group.type,
            str(group.layers),
            *(
                cell
                for m in measures
                for cell in (grouped(getattr(group, m)), share(group.share(m, whole)))
            ),
        ]
        for group in [*groups, whole]
    ]
    dim: CellStyles = [None, None]
    for _ in measures:
        dim += [None, {"dim": True}]
    total: CellStyles = [{"bold": True}, *dim[1:]]
    paint: list[CellStyles | None] = [*([dim] * len(groups)), total]
    return header, rows, set(range(1, len(header))), paint


def render_table(report: Report, style: Style | None = None, types: bool = False) -> str:
    """The per-layer table (with ``types``: one row per layer type) and the totals."""
    style = style or _plain
    counted = shows_counted(report)
    header, rows, right, paint = (_type_rows if types else _layer_rows)(report, counted)
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
        *([[counted_label(report), grouped(t.counted), human(t.counted)]] if counted else []),
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
                *columns(header, rows, right=right, paint=paint, style=style),
                "",
                *total_lines,
            ]
        )
        + "\n"
    )
