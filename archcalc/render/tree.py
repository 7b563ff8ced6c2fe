"""The terminal tree (rich): the net's nesting — blocks, repeats, residual and parallel branches —
each layer with its output shape and parameters, each composite with its totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from archcalc.render.nesting import Part, build, instance_range
from archcalc.render.numbers import grouped, human
from archcalc.shapes import format_shape

if TYPE_CHECKING:
    from archcalc.graph import Graph
    from archcalc.report import Report

_SEVERITY_STYLE = {"": "", "info": "cyan", "warning": "yellow", "error": "bold red"}


def build_tree(graph: Graph, report: Report, fold: bool = True, depth: int | None = None) -> Tree:
    """The tree, opened ``depth`` levels deep (None: all); a line never wraps."""
    root = build(graph, report, fold=fold)
    title = Text(no_wrap=True, overflow="ellipsis")
    title.append(report.name or "net", style="bold")
    title.append(f"  input {format_shape(report.input_shape)} → {format_shape(root.output_shape)}")
    title.append(f"  {grouped(root.params)} params, {human(root.macs).strip()} MACs", style="dim")
    tree = Tree(title)
    for child in root.children:
        _add(tree, child, depth)
    return tree


def lines_at(graph: Graph, report: Report, depth: int | None) -> int:
    """How many lines the folded tree takes when opened ``depth`` levels deep."""

    def count(part: Part, level: int) -> int:
        if part.row is not None or (depth is not None and level >= depth):
            return 1
        return 1 + sum(count(child, level + 1) for child in part.children)

    return sum(count(child, 1) for child in build(graph, report).children) + 1


def _add(tree: Tree, part: Part, depth: int | None, level: int = 1) -> None:
    style = _SEVERITY_STYLE[part.worst] if part.worst in ("warning", "error") else ""
    text = Text(no_wrap=True, overflow="ellipsis")
    if part.row is not None:
        row = part.row
        text.append(part.short, style=style or "bold")
        text.append(f"  {row.type} {row.describe}".rstrip())
        text.append(f"  → {format_shape(row.output_shape)}")
        if row.params:
            text.append(f"  {grouped(row.params)} params", style="dim")
        if row.fit in ("warning", "error"):
            text.append(f"  [{row.fit}: stride fit]", style=_SEVERITY_STYLE[row.fit])
        tree.add(text)
        return
    text.append(instance_range(part), style=style or "bold")
    if part.label != part.short:
        text.append(f" ({part.label})", style="italic")
    if part.repeat > 1:
        text.append(f" ×{part.repeat}", style="bold magenta")
    each = " each" if part.repeat > 1 else ""
    text.append(
        f"  → {format_shape(part.output_shape)}  {part.layers_text}, "
        f"{grouped(part.params)} params{each}, {human(part.macs).strip()} MACs{each}",
        style="dim",
    )
    branch = tree.add(text)
    if depth is not None and level >= depth:
        return
    for child in part.children:
        _add(branch, child, depth, level + 1)


def print_tree(
    graph: Graph, report: Report, console: Console, fold: bool = True, depth: int | None = None
) -> None:
    console.print(build_tree(graph, report, fold=fold, depth=depth))
