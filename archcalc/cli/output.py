"""One output path for every command: a command builds an `Output` (a title, columns and rows,
and lines after the table such as totals) and the shared `output_options` decorator renders it
as a terminal table, JSON, CSV or Markdown.

How a command uses it (new commands do the same; sqlite-utils' ``output_options`` is the model):

    @click.command()
    @output_options            # adds --format/-f table|json|csv|markdown and --wide
    @guarded
    def mycommand(..., out: OutputSettings) -> None:
        result = Output("title", [Column("name", "name", shorten="left"), ...], rows)
        out.emit(result)

Rows are dicts keyed by `Column.key` holding raw values (ints stay ints in JSON and CSV);
`Column.text`/`Column.compact` turn them into cells for the table. A command whose JSON is a
documented contract (summarize's report) sets ``Output.json`` to that data; a format a command
renders its own way (summarize's Markdown) goes in ``Output.render``. The terminal table fits the
terminal: it measures the width (``COLUMNS``, else the terminal's width; a pipe is unlimited),
then shows numbers compactly, shortens long names from the left, drops the columns marked least
useful (`Column.drop`), shortens other text from the right, and drops the rest in their order;
``--wide`` shows everything in full. A row never wraps. A command that lists layers also takes
``depth_option`` (archcalc.cli.common) and folds blocks with archcalc.render.table.fold. -q and
-v need nothing: the group adds them to every command and echo_diagnostics obeys them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from archcalc.render.output import (
    FORMATS,
    Column,
    Output,
    table_lines,
    terminal_width,
    to_csv,
    to_json,
    to_markdown,
)

__all__ = ["Column", "Output", "OutputSettings", "output_options"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class OutputSettings:
    """What --format and --wide asked for; `emit` writes an Output to stdout that way."""

    fmt: str = "table"
    wide: bool = False

    @property
    def width(self) -> int | None:
        return None if self.wide else terminal_width()

    def emit(self, output: Output) -> None:
        from archcalc.cli.common import use_colour

        if self.fmt in output.render:
            click.echo(output.render[self.fmt](), nl=False)
            return
        if self.fmt == "json":
            click.echo(to_json(output))
        elif self.fmt == "csv":
            click.echo(to_csv(output), nl=False)
        elif self.fmt == "markdown":
            click.echo(to_markdown(output), nl=False)
        else:
            colour = use_colour(sys.stdout)
            style = click.style if colour else None
            lines = (
                [style(output.title, bold=True) if style else output.title] if output.title else []
            )
            if output.columns:
                lines += table_lines(output.columns, output.rows, self.width, style)
            lines += output.after
            click.echo("\n".join(lines), color=colour)


def output_options(func: F) -> F:
    """Add --format/-f (table, json, csv, markdown) and --wide; the command receives ``out``."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, fmt: str, wide: bool, **kwargs: Any) -> Any:
        return func(*args, out=OutputSettings(fmt, wide), **kwargs)

    wrapper = click.option(
        "--wide",
        "-w",
        is_flag=True,
        help="Show every column and full names, however wide (the table fits the terminal by "
        "default).",
    )(wrapper)
    wrapper = click.option(
        "--format",
        "-f",
        "fmt",
        default="table",
        show_default=True,
        type=click.Choice(FORMATS),
        help="Output format.",
    )(wrapper)
    return wrapper  # type: ignore[return-value]
