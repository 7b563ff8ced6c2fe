"""Rows for any command's output, and their renderings: a terminal table that fits the terminal,
JSON, CSV and Markdown. The click side (the shared --format/--wide option) is archcalc.cli.output,
whose docstring says how a command uses them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

FORMATS = ("table", "json", "csv", "markdown")
GAP = 2  # spaces between table columns


@dataclass
class Column:
    key: str
    heading: str
    right: bool = False  # right-aligned (numbers)
    # on a narrow terminal: 0 never dropped, higher numbers first; 3 and above go even before
    # text is shortened (a column worth less than readable names and types)
    drop: int = 0
    shorten: str = ""  # "left" (keep the end: qualified names) or "right" (keep the start)
    least: int = 8  # narrowest a shortened column becomes
    text: Callable[[Any], str] = str  # the full cell
    compact: Callable[[Any], str] | None = None  # a shorter cell for narrow terminals
    style: Callable[[Any], dict[str, Any] | None] | None = None  # click.style keywords


@dataclass
class Output:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    after: list[str] = field(default_factory=list)  # lines after the table (totals last)
    json: Any = None  # the JSON document, when the command has a documented one
    render: dict[str, Callable[[], str]] = field(default_factory=dict)  # own renderings


def terminal_width(stream: Any = None) -> int | None:
    """The width to fit: COLUMNS when set, else the terminal's; None (no limit) for a pipe."""
    stream = stream or sys.stdout
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if hasattr(stream, "isatty") and stream.isatty():
        return shutil.get_terminal_size().columns
    return None


def terminal_height(stream: Any = None) -> int | None:
    """Lines on the screen: LINES when set, else the terminal's; None for a pipe."""
    stream = stream or sys.stdout
    if os.environ.get("LINES", "").isdigit():
        return int(os.environ["LINES"])
    if hasattr(stream, "isatty") and stream.isatty():
        return shutil.get_terminal_size().lines
    return None


def _cut_left(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def _cut_right(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def fit_table(
    columns: list[Column], rows: list[dict[str, Any]], width: int | None
) -> tuple[list[Column], list[list[str]], list[int]]:
    """Choose columns, cells and widths so that each line is at most ``width`` wide."""
    cols = list(columns)
    cells = [[c.text(r.get(c.key)) if r.get(c.key) is not None else "" for c in cols] for r in rows]

    def widths() -> list[int]:
        return [max([len(c.heading), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]

    def total(ws: list[int]) -> int:
        return sum(ws) + GAP * (len(ws) - 1)

    if width is None or total(widths()) <= width:
        return cols, cells, widths()
    # 1. compact numbers (1.23 M for 1,234,567)
    for i, c in enumerate(cols):
        if c.compact is not None:
            for row, r in zip(cells, rows):
                row[i] = c.compact(r[c.key]) if r.get(c.key) is not None else ""
    ws = widths()

    # 2. names keep a generous width, the least useful columns go, text is shortened, then
    # the other droppable columns go, and names give up the rest
    def shorten(which: str, floor_of: Callable[[Column], int]) -> None:
        for i, c in enumerate(cols):
            over = total(ws) - width
            if c.shorten == which and over > 0:
                ws[i] = min(ws[i], max(floor_of(c), len(c.heading), ws[i] - over))

    def drop(keep: Callable[[Column], bool]) -> None:
        for c in sorted((c for c in cols if c.drop and not keep(c)), key=lambda c: -c.drop):
            if total(ws) <= width:
                return
            i = cols.index(c)
            del cols[i], ws[i]
            for row in cells:
                del row[i]

    shorten("left", lambda c: max(c.least, 24))
    drop(lambda c: c.drop < 3)
    shorten("right", lambda c: c.least)
    drop(lambda c: False)
    shorten("left", lambda c: c.least)
    for i, c in enumerate(cols):
        if c.shorten:
            cut = _cut_left if c.shorten == "left" else _cut_right
            for row in cells:
                row[i] = cut(row[i], ws[i])
    return cols, cells, ws


def table_lines(
    columns: list[Column],
    rows: list[dict[str, Any]],
    width: int | None,
    style: Callable[..., str] | None = None,
) -> list[str]:
    cols, cells, ws = fit_table(columns, rows, width)

    def line(texts: list[str], styles: list[dict[str, Any] | None]) -> str:
        out = []
        for text, w, c, s in zip(texts, ws, cols, styles):
            padded = text.rjust(w) if c.right else text.ljust(w)
            out.append(style(padded, **s) if style and s and text else padded)
        joined = (" " * GAP).join(out).rstrip()
        # the last resort, never a wrapped row: a terminal narrower than the essential columns
        return (
            joined
            if width is None or len(click.unstyle(joined)) <= width
            else _cut_right(click.unstyle(joined), width)
        )

    lines = [line([c.heading for c in cols], [{"bold": True}] * len(cols))]
    for row, r in zip(cells, rows):
        lines.append(line(row, [c.style(r.get(c.key)) if c.style else None for c in cols]))
    return lines


def to_csv(output: Output) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in output.columns])
    for r in output.rows:
        writer.writerow(["" if r.get(c.key) is None else r[c.key] for c in output.columns])
    return out.getvalue()


def to_markdown(output: Output) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"## {output.title}", ""] if output.title else []
    lines.append("| " + " | ".join(c.heading or c.key for c in output.columns) + " |")
    lines.append("|" + "|".join("---:" if c.right else "---" for c in output.columns) + "|")
    for r in output.rows:
        cells = [esc(c.text(r[c.key])) if r.get(c.key) is not None else "" for c in output.columns]
        lines.append("| " + " | ".join(cells) + " |")
    if output.after:
        lines += ["", *(line for line in output.after if line.strip())]
    return "\n".join(lines) + "\n"


def to_json(output: Output) -> str:
    import json

    data = output.json if output.json is not None else output.rows
    return json.dumps(data, indent=2)
