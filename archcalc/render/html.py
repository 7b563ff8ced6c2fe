"""`archcalc report`: one self-contained HTML page about a net.

Everything the page shows comes from the JSON report (Report.to_json, with --explain's
arithmetic) plus three things the JSON contract does not carry: each layer's short description
('conv 3×3/2, 64'), the nesting of blocks (render/nesting.py), and the input window of each
layer's centre unit (Field.window). The page's script only lays these out: it computes no
figure of its own. No network access: the CSS and script are inlined, charts are drawn as
plain HTML bars.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from archcalc.render.nesting import MAIN_FAMILIES, Part, build, instance_range

if TYPE_CHECKING:
    from archcalc.graph import Graph
    from archcalc.report import Report


CHAIN_SHOWN = 4


def _part_json(part: Part) -> dict[str, Any]:
    if part.row is not None:
        return {"layer": part.row.name}
    rows = list(part.rows())
    return {
        "name": part.name,
        "title": instance_range(part),
        "kind": part.kind,
        "label": part.label,
        "repeat": part.repeat,
        "layers": len(rows) * part.repeat,
        "params": part.params * part.repeat,
        "macs": part.macs * part.repeat,
        "worst": part.worst,
        # what a closed block says about itself: its weighted layers, 'conv 3×3, 64 → ...'
        "chain": [f"{r.type} {r.describe}".strip() for r in rows if r.family in MAIN_FAMILIES][
            :CHAIN_SHOWN
        ],
        "children": [_part_json(c) for c in part.children],
    }


def _centre_window(report: Report) -> dict[str, Any]:
    """Per layer, the input pixels its centre output unit sees: [[first, last], ...] per axis
    (may reach into the padding, beyond the input), or 'whole' / None."""
    found: dict[str, Any] = {}
    for row in report.layers:
        rf = row.receptive_field
        if rf is None or row.output_shape is None:
            found[row.name] = None
        elif rf.whole or len(row.output_shape) < 2:
            found[row.name] = "whole"
        else:
            unit = tuple(n // 2 for n in row.output_shape[:-1])
            found[row.name] = [[float(a), float(b)] for a, b in rf.window(unit)]
    return found


def payload(report: Report, graph: Graph, open_depth: int | None) -> dict[str, Any]:
    # the charts compare the top-level parts as the spec lists them; the diagram folds repeats
    top = build(graph, report, fold=False).children
    return {
        "report": report.to_json(),
        "describe": {row.name: row.describe for row in report.layers},
        "family": {row.name: row.family for row in report.layers},
        "pos": {
            row.name: f"{row.pos.file.rsplit('/', 1)[-1]}:{row.pos.line}:{row.pos.column}"
            for row in report.layers
            if row.pos is not None and row.pos.line
        },
        "window": _centre_window(report),
        "tree": [_part_json(c) for c in build(graph, report, fold=True).children],
        "open_depth": open_depth,
        "blocks": [
            {
                "name": p.short,
                "params": p.params,
                "macs": p.macs,
                "activation_bytes": sum(r.activation_bytes for r in p.rows()),
            }
            for p in top
        ],
    }


def _asset(name: str) -> str:
    return resources.files("archcalc.render").joinpath("assets").joinpath(name).read_text("utf-8")


def to_html(report: Report, graph: Graph, open_depth: int | None) -> str:
    data = json.dumps(payload(report, graph, open_depth), ensure_ascii=False)
    # inside <script>, '</' would end the element early; '<\/' reads the same to JSON
    data = data.replace("</", "<\\/")
    title = html.escape(f"{report.name or 'net'} — archcalc report")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # no request leaves the page, whatever a spec's names contain
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        f"{_asset('report.html')}"
        f'<script type="application/json" id="data">{data}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )
