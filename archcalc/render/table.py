"""The summarize report as rows for the shared output path (archcalc.cli.output): the per-layer
table (or, with a depth, blocks folded into one row each with their totals), the per-type table,
the legend of the fit marks and the totals, which come last so the last screen is the answer.

Drawn with plain column arithmetic rather than rich.Table: rich lays out a 170-row table in
about 0.4 s, longer than the whole analysis, and `archcalc summarize` must feel instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archcalc.analysis.bytype import MEASURES, by_type
from archcalc.render.formats import FIT_MARK, counted_label, rf_text, share, shows_counted
from archcalc.render.numbers import grouped, human
from archcalc.render.output import Column, Output
from archcalc.report import Report
from archcalc.shapes import format_shape

if TYPE_CHECKING:
    from archcalc.graph import Graph
    from archcalc.render.nesting import Part

Style = Callable[..., str]
_FIT_COLOUR = {"info": "cyan", "warning": "yellow", "error": "red"}
# the fit marks' legend, of the marks a table shows
LEGEND = {"≈": "only padding left over", "⚠": "input pixels never seen", "✗": "error (see stderr)"}


def legend(marks: set[str]) -> str:
    return "fit: " + "  ".join(f"{m} {text}" for m, text in LEGEND.items() if m in marks)


def _number(value: int) -> str:
    return grouped(value) if value else ""


def _compact(value: int) -> str:
    return human(value).replace(" ", "") if value else ""


def _fit_style(mark: str) -> dict[str, Any] | None:
    for fit, m in FIT_MARK.items():
        if m == mark and fit:
            return {"fg": _FIT_COLOUR[fit], "bold": True}
    return None


def layer_columns(report: Report) -> list[Column]:
    """The per-layer columns, with what the table gives up first on a narrow terminal."""
    counted = shows_counted(report)
    return [
        Column("name", "layer", shorten="left", least=12),
        Column("type", "type", shorten="right", least=10, drop=1),
        Column("output", "output", right=True),
        Column("params", "params", right=True, text=_number, compact=_compact),
        Column("macs", "MACs", right=True, text=_number, compact=_compact, drop=2),
        *(
            [Column("counted", counted_label(report), right=True, text=_number, compact=_compact)]
            if counted
            else []
        ),
        Column("rf", "RF", right=True, drop=3),
        Column("fit", "fit", style=_fit_style),
    ]


def _row(
    name: str, kind: str, shape: Any, params: int, macs: int, counted: int, rf: str, fit: str
) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "output": format_shape(shape),
        "params": params,
        "macs": macs,
        "counted": counted,
        "rf": rf,
        "fit": FIT_MARK.get(fit, ""),
    }


def layer_rows(report: Report, parts: list[Part] | None = None) -> list[dict[str, Any]]:
    """One row per layer, or per part of a folded tree (blocks with their totals)."""
    if parts is None:
        return [
            _row(
                r.name,
                f"{r.type} {r.describe}".strip(),
                r.output_shape,
                r.params,
                r.macs,
                r.counted,
                rf_text(r),
                r.fit,
            )
            for r in report.layers
        ]
    rows = []
    for part in parts:
        inside = list(part.rows())
        kind = (
            f"{part.row.type} {part.row.describe}".strip() if part.row is not None else part.label
        )
        worst = max((r.fit for r in inside), key=lambda f: list(FIT_MARK).index(f), default="")
        rows.append(
            _row(
                part.name,
                kind,
                part.output_shape,
                part.params,
                part.macs,
                sum(r.counted for r in inside),
                rf_text(inside[-1]) if inside else "",
                worst,
            )
        )
    return rows


_HEADINGS = {"params": "params", "macs": "MACs", "flops": "FLOPs"}


def type_output(report: Report) -> tuple[list[Column], list[dict[str, Any]]]:
    """One row per layer type with each measure's share of the total, then the total."""
    counted = shows_counted(report)
    measures = MEASURES if counted else MEASURES[:-1]
    cols = [Column("type", "type"), Column("layers", "layers", right=True)]
    for m in measures:
        cols += [
            Column(
                m,
                _HEADINGS.get(m, counted_label(report)),
                right=True,
                text=grouped,
                compact=_compact,
            ),
            Column(f"{m}_share", "%", right=True, text=share),
        ]
    groups, whole = by_type(report)
    rows = [
        {
            "type": group.type,
            "layers": group.layers,
            **{m: getattr(group, m) for m in measures},
            **{f"{m}_share": group.share(m, whole) for m in measures},
        }
        for group in [*groups, whole]
    ]
    return cols, rows


def totals_lines(report: Report, style: Style | None = None) -> list[str]:
    t = report.totals
    counted = shows_counted(report)
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
    widths = [max(len(row[i]) for row in totals) for i in range(2)]
    lines = []
    for label, number, note in totals:
        cells = [label.ljust(widths[0]), number.rjust(widths[1]), note]
        if style:
            cells = [style(cells[0], bold=True), cells[1], style(note, dim=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def title(report: Report) -> str:
    return f"{report.name} — input {format_shape(report.input_shape)}" + (
        f", batch {report.batch}" if report.batch > 1 else ""
    )


def summary_output(
    report: Report,
    graph: Graph | None = None,
    depth: int | None = None,
    types: bool = False,
    style: Style | None = None,
    folded_note: str = "",
) -> Output:
    """The table: per layer (folded below ``depth`` when given), or per type; totals last."""
    if types:
        cols, rows = type_output(report)
    else:
        cols = layer_columns(report)
        parts = fold(graph, report, depth) if graph is not None and depth is not None else None
        rows = layer_rows(report, parts)
    after = [""]
    marks = {r["fit"] for r in rows if not types and r["fit"]}
    if marks:
        after = [style(legend(marks), dim=True) if style else legend(marks), ""]
    if folded_note:
        after = [folded_note, *after]
    return Output(title(report), cols, rows, after=after + totals_lines(report, style))


def fold(graph: Graph, report: Report, depth: int) -> list[Part]:
    """The parts shown at ``depth``: layers and blocks down to that many levels of nesting, each
    deeper block one part (as torchinfo's depth)."""
    from archcalc.render.nesting import build

    shown: list[Part] = []

    def walk(part: Part, level: int) -> None:
        for child in part.children:
            if child.row is not None or level >= depth:
                shown.append(child)
            else:
                walk(child, level + 1)

    walk(build(graph, report, fold=False), 1)
    return shown


def depth_for(graph: Graph, report: Report, budget: int | None) -> int | None:
    """The deepest view whose rows fit ``budget`` lines (None: every layer fits, or no limit)."""
    if budget is None or len(report.layers) <= budget:
        return None
    deepest = max((len(r.scope) for r in report.layers), default=0)
    for depth in range(deepest, 0, -1):
        if len(fold(graph, report, depth)) <= budget:
            return depth
    return 1
