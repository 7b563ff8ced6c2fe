"""The terminal table (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archcalc.analysis.bytype import MEASURES, by_type
from archcalc.render.formats import _FIT_MARK, _rf, counted_label, share, shows_counted
from archcalc.render.numbers import grouped, human
from archcalc.report import Report
from archcalc.shapes import format_shape

_FIT_STYLE = {"": "", "info": "cyan", "warning": "yellow", "error": "bold red"}


def print_table(report: Report, console: Console, types: bool = False) -> None:
    """The per-layer table (or, with ``types``, one row per layer type), then the totals."""
    counted = shows_counted(report)
    table = Table(
        title=f"{report.name} — input {format_shape(report.input_shape)}"
        + (f", batch {report.batch}" if report.batch > 1 else ""),
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    if types:
        _add_types(table, report, counted)
    else:
        _add_layers(table, report, counted)
    console.print(table)
    _print_totals(report, console, counted)


_HEADINGS = {"params": "params", "macs": "MACs", "flops": "FLOPs"}


def _add_types(table: Table, report: Report, counted: bool) -> None:
    measures = MEASURES if counted else MEASURES[:-1]
    table.add_column("type", no_wrap=True)
    table.add_column("layers", justify="right")
    for measure in measures:
        table.add_column(_HEADINGS.get(measure, counted_label(report)), justify="right")
        table.add_column("%", justify="right", style="dim")
    rows, whole = by_type(report)
    for group in [*rows, whole]:
        cells = [
            c for m in measures for c in (grouped(getattr(group, m)), share(group.share(m, whole)))
        ]
        table.add_row(
            Text(group.type, style="bold" if group is whole else ""), str(group.layers), *cells
        )


def _add_layers(table: Table, report: Report, counted: bool) -> None:
    table.add_column("layer", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("output", no_wrap=True, justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    if counted:
        table.add_column(counted_label(report), justify="right")
    table.add_column("RF", justify="right")
    table.add_column("fit", justify="center")
    for row in report.layers:
        kind = f"{row.type} {row.describe}".strip()
        table.add_row(
            row.name,
            kind,
            format_shape(row.output_shape),
            grouped(row.params) if row.params else "",
            grouped(row.macs) if row.macs else "",
            *([grouped(row.counted) if row.counted else ""] if counted else []),
            _rf(row),
            Text(_FIT_MARK[row.fit], style=_FIT_STYLE[row.fit]),
        )


def _print_totals(report: Report, console: Console, counted: bool) -> None:
    t = report.totals
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column(justify="right")
    totals.add_column(style="dim")
    totals.add_row("params", grouped(t.params), human(t.params))
    totals.add_row(
        "trainable", grouped(t.trainable_params), f"non-trainable {grouped(t.non_trainable_params)}"
    )
    totals.add_row(
        "buffers", grouped(t.buffers), f"Keras count_params() = {grouped(t.keras_params)}"
    )
    totals.add_row("MACs", grouped(t.macs), human(t.macs))
    totals.add_row("FLOPs", grouped(t.flops), human(t.flops))
    if counted:
        totals.add_row(counted_label(report), grouped(t.counted), human(t.counted))
    totals.add_row(
        "memory",
        human(t.param_bytes + t.buffer_bytes, "B"),
        f"parameters and buffers, {report.dtype}",
    )
    totals.add_row(
        "",
        human(t.activation_bytes, "B"),
        f"all activations; peak live {human(t.peak_activation_bytes, 'B')}",
    )
    console.print()
    console.print(totals)
