"""The terminal table (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archcalc.render.formats import _FIT_MARK, _rf
from archcalc.render.numbers import grouped, human
from archcalc.report import Report
from archcalc.shapes import format_shape

_FIT_STYLE = {"": "", "info": "cyan", "warning": "yellow", "error": "bold red"}


def print_table(report: Report, console: Console) -> None:
    table = Table(
        title=f"{report.name} — input {format_shape(report.input_shape)}"
        + (f", batch {report.batch}" if report.batch > 1 else ""),
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column("layer", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("output", no_wrap=True, justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
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
            _rf(row),
            Text(_FIT_MARK[row.fit], style=_FIT_STYLE[row.fit]),
        )
    console.print(table)
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
    totals.add_row(
        "memory",
        human(t.param_bytes + t.buffer_bytes, "B"),
        f"parameters and buffers, {report.dtype}",
    )
    totals.add_row(
        "",
        human(t.activation_bytes, "B"),
        f"all layer outputs; peak live with input {human(t.peak_activation_bytes, 'B')}",
    )
    console.print()
    console.print(totals)
