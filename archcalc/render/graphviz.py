"""Graphviz diagrams of a net: boxes coloured by layer family, edges labelled with the tensor
shape that flows along them, merges drawn as merges, blocks as clusters (or collapsed into one
box with their totals past a depth), warnings in a warning colour with the message as tooltip.

The ``graphviz`` package builds the DOT source; the system's ``dot`` program lays it out.
"""

from __future__ import annotations

import html
import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph
from archcalc.render.nesting import Part, build, external_inputs, instance_range
from archcalc.render.numbers import grouped, human
from archcalc.shapes import Shape

if TYPE_CHECKING:
    from archcalc.report import Report

FORMATS = ("svg", "png", "pdf", "dot")

# Fill colours per layer family (Op.family); pale so the black text stays readable.
FAMILY_COLOURS = {
    "conv": "#c6dbef",
    "pool": "#c7e9c0",
    "dense": "#dadaeb",
    "norm": "#fdf2b3",
    "activation": "#f0f0f0",
    "merge": "#ffffff",
    "reshape": "#e0ecf4",
    "regularization": "#fde0ef",
    "other": "#eeeeee",
}
# Element-wise merges drawn as a small circled operator, as in the residual-block figures
# (⊕ for add); other merges (concat) are drawn as a flat '‖' box.
CIRCLED_MERGES = {"add": "+", "mul": "×", "multiply": "×"}
BLOCK_COLOUR = "#f7f7f7"  # a collapsed block
WARNING_FILL = "#fdae6b"  # orange: a stride-fit problem or another warning
WARNING_EDGE = "#d94801"
ERROR_FILL = "#fb6a4a"
ERROR_EDGE = "#a50f15"

# Nets longer than this are drawn collapsed by default (see default_depth).
BIG_NET_LAYERS = 60
BIG_NET_DEPTH = 2

INSTALL_HINT = (
    "install Graphviz — 'sudo apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS), or see https://graphviz.org/download/ — "
    "or write a .dot file and render it elsewhere"
)


def unicode_shape(shape: Shape | None) -> str:
    """(55, 55, 96) → '55×55×96', the course's notation."""
    return "?" if shape is None else "×".join(str(s) for s in shape)


def default_depth(report: Report) -> int | None:
    """How deep to open the nesting when the user did not say.

    Up to BIG_NET_LAYERS layers everything is drawn. Past that, only two levels of nesting are
    opened: the top-level blocks (ResNet's stages) as clusters, and the blocks inside them
    (the bottlenecks) as single boxes with their totals — with the identical ones folded, a
    50-layer ResNet becomes about twenty boxes that read like the paper's table.
    """
    return None if len(report.layers) <= BIG_NET_LAYERS else BIG_NET_DEPTH


@dataclass
class _Drawing:
    """What the diagram walk produces: where each layer of the graph ended up."""

    rep: dict[str, str] = field(default_factory=dict)  # layer name → drawn node id
    # layer → {fold id: instance index}, for every folded run the layer is part of
    group: dict[str, dict[int, int]] = field(default_factory=dict)
    folds: int = 0
    boxes: int = 0


def to_dot(
    graph: Graph,
    report: Report,
    depth: int | None = None,
    rankdir: str = "TB",
    params: bool = False,
    fold: bool = True,
) -> Any:
    """A graphviz.Digraph of the net. ``depth``: how many levels of nesting to draw open
    (1 = the top-level sequence only, each top-level block one box); None = all."""
    import graphviz

    root = build(graph, report, fold=fold)
    dot = graphviz.Digraph(name=_dot_id(report.name or "net"))
    t = report.totals
    title = (
        f"{report.name or 'net'} — input {unicode_shape(report.input_shape)}, "
        f"{grouped(t.params)} params, {_macs(t.macs)}"
    )
    dot.attr(
        "graph",
        rankdir=rankdir,
        label=title,
        labelloc="t",
        fontname="Helvetica",
        fontsize="14",
        nodesep="0.25",
        ranksep="0.35",
        newrank="true",
        tooltip=title,
    )
    dot.attr(
        "node",
        shape="box",
        style="rounded,filled",
        fontname="Helvetica",
        fontsize="10",
        margin="0.1,0.04",
        height="0.3",
    )
    dot.attr("edge", fontname="Helvetica", fontsize="9", arrowsize="0.6", color="#555555")

    drawing = _Drawing()
    families: set[str] = set()
    warned: set[str] = set()
    dot.node(
        "input",
        f"input\n{unicode_shape(report.input_shape)}",
        shape="oval",
        style="filled",
        fillcolor="#ffffff",
        id="input",
    )
    drawing.rep[INPUT] = "input"
    for child in root.children:
        _draw(dot, child, 1, depth, params, drawing, families, warned)

    shapes = {row.name: row.output_shape for row in report.layers}
    shapes[INPUT] = report.input_shape
    consumed = {src for row in report.layers for src in row.inputs}
    seen: set[tuple[str, str]] = set()
    for row in report.layers:
        for src in row.inputs:
            _edge(dot, drawing, seen, src, row.name, unicode_shape(shapes.get(src)))
    sinks = [row for row in report.layers if row.name not in consumed]
    for i, row in enumerate(sinks):
        out = "output" if len(sinks) == 1 else f"output{i + 1}"
        dot.node(
            out,
            f"output\n{unicode_shape(row.output_shape)}",
            shape="oval",
            style="filled",
            fillcolor="#ffffff",
            id=out,
        )
        _edge(dot, drawing, seen, row.name, out, unicode_shape(row.output_shape), target_id=out)
    _legend(dot, families, warned)
    return dot


def _edge(
    dot: Any,
    drawing: _Drawing,
    seen: set[tuple[str, str]],
    src: str,
    dst: str,
    label: str,
    target_id: str | None = None,
) -> None:
    a = drawing.rep.get(src)
    b = target_id or drawing.rep.get(dst)
    if a is None or b is None or a == b:
        return
    ga, gb = drawing.group.get(src, {}), drawing.group.get(dst, {})
    if any(fold in gb and gb[fold] != k for fold, k in ga.items()):
        return  # one folded instance feeding the next: drawn once, as the ×N badge
    if (a, b) in seen:
        return
    seen.add((a, b))
    dot.edge(a, b, label=f" {label} ", id=f"e/{a}->{b}", tooltip=label)


def _draw(
    dot: Any,
    part: Part,
    level: int,
    depth: int | None,
    params: bool,
    drawing: _Drawing,
    families: set[str],
    warned: set[str],
) -> None:
    if part.repeat > 1:
        drawing.folds += 1
        for k, inst in enumerate(part.instances):
            for row in inst.rows():
                drawing.group.setdefault(row.name, {})[drawing.folds] = k
    if part.row is not None:
        _draw_layer(dot, part, params, drawing, families, warned)
    elif depth is not None and level >= depth:
        _draw_collapsed(dot, part, drawing, warned)
    else:
        label = _cluster_label(part)
        style = "rounded,dashed" if part.kind in ("residual", "branch", "parallel") else "rounded"
        with dot.subgraph(name=f"cluster_{_dot_id(part.name)}") as sub:
            sub.attr(
                label=label,
                style=style + (",bold" if part.repeat > 1 else ""),
                color="#999999",
                fontname="Helvetica",
                fontsize="10",
                labeljust="l",
                tooltip=_composite_tooltip(part),
                id=f"cluster/{part.name}",
            )
            for child in part.children:
                # a branch opens with its parent block: it is not a level of its own
                child_level = level if child.kind == "branch" else level + 1
                _draw(sub, child, child_level, depth, params, drawing, families, warned)
    if part.repeat > 1:
        first = part.name + "."
        for inst in part.instances[1:]:
            prefix = inst.name + "."
            for row in inst.rows():
                drawing.rep[row.name] = drawing.rep[first + row.name[len(prefix) :]]


def _draw_layer(
    dot: Any, part: Part, params: bool, drawing: _Drawing, families: set[str], warned: set[str]
) -> None:
    row = part.row
    assert row is not None
    node_id = f"n/{row.name}"
    drawing.rep[row.name] = node_id
    drawing.boxes += 1
    families.add(row.family if row.family in FAMILY_COLOURS else "other")
    attrs: dict[str, str] = {
        "fillcolor": FAMILY_COLOURS.get(row.family, FAMILY_COLOURS["other"]),
        "id": node_id,
        "tooltip": _layer_tooltip(part),
    }
    worst = part.worst
    if worst in ("warning", "error"):
        warned.add(worst)
        attrs.update(_warning_attrs(worst))
    if row.family == "merge" and row.type in CIRCLED_MERGES:
        dot.node(
            node_id,
            CIRCLED_MERGES[row.type],
            shape="circle",
            width="0.3",
            height="0.3",
            fixedsize="true",
            fontsize="16",
            **attrs,
        )
        return
    if row.family == "merge":  # stacking merges: the course's "filter concatenation"
        dot.node(node_id, f"‖ {_esc(row.type)}", height="0.25", **attrs)
        return
    kind = f"{row.type} {row.describe}".strip()
    lines = [f"<b>{_esc(part.short)}</b>", _esc(kind)]
    if _is_generated(part.short, row.type) and not (row.weights and row.describe):
        # 'relu3' says no more than 'relu'; layers with weights and hyperparameters keep their
        # names, made up or not ('conv1', 'dense2'), since that is how people refer to them
        lines = [f"<b>{_esc(kind)}</b>"]
    if params and row.params:
        lines.append(f'<font point-size="9">{grouped(row.params)} params</font>')
    if worst in ("warning", "error"):  # the message itself is in the tooltip (SVG)
        codes = sorted({d.code for d in part.diagnostics if d.severity == worst} or {"stride-fit"})
        lines.append(
            f'<font point-size="8" color="{_warning_attrs(worst)["color"]}">'
            f"{worst}: {_esc(', '.join(codes))}</font>"
        )
    dot.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)


def _draw_collapsed(dot: Any, part: Part, drawing: _Drawing, warned: set[str]) -> None:
    node_id = f"b/{part.name}"
    for row in part.rows():
        drawing.rep[row.name] = node_id
    drawing.boxes += 1
    head = f"<b>{_esc(instance_range(part))}</b>"
    if part.kind == "block" and not _is_generated(part.short, part.label):
        head += f" <i>{_esc(part.label)}</i>"  # 'layer1 stage'; not 'bottleneck_down1 …_down'

    if part.repeat > 1:
        head += f' <font color="#a50f15"><b>×{part.repeat}</b></font>'
    each = " each" if part.repeat > 1 else ""
    lines = [
        head,
        f"{part.layers_text} · {human(part.params)} params{each}",
        f"{_macs(part.macs)}{each} · out {unicode_shape(part.output_shape)}",
    ]
    attrs = {
        "fillcolor": BLOCK_COLOUR,
        "id": node_id,
        "tooltip": _composite_tooltip(part),
        "style": "rounded,filled,bold" if part.repeat > 1 else "rounded,filled",
        "peripheries": "2" if part.repeat > 1 else "1",
    }
    worst = part.worst
    if worst in ("warning", "error"):
        warned.add(worst)
        attrs.update(_warning_attrs(worst))
    dot.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)


def _warning_attrs(worst: str) -> dict[str, str]:
    return {
        "fillcolor": ERROR_FILL if worst == "error" else WARNING_FILL,
        "color": ERROR_EDGE if worst == "error" else WARNING_EDGE,
        "penwidth": "2",
    }


def _cluster_label(part: Part) -> str:
    if part.kind == "block":
        name = instance_range(part)
        text = name if part.label == part.short else f"{name} ({part.label})"
    elif part.kind == "branch":
        text = part.label
    else:
        text = part.label if part.short.startswith(part.label) else f"{part.short} ({part.label})"
    if part.repeat > 1:
        text += f"  ×{part.repeat}"
    return text


def _composite_tooltip(part: Part) -> str:
    each = f" each (×{part.repeat})" if part.repeat > 1 else ""
    lines = [
        f"{part.name} ({part.label})",
        f"{part.layers_text}, {grouped(part.params)} params{each}, {grouped(part.macs)} MACs{each}",
        f"in {', '.join(external_inputs(part))} → out {unicode_shape(part.output_shape)}",
    ]
    lines += [f"{d.severity}: {d.message}" for d in part.all_diagnostics()]
    return "\n".join(lines)


def _layer_tooltip(part: Part) -> str:
    row = part.row
    assert row is not None
    lines = [f"{row.name}: {row.type} {row.describe}".rstrip()]
    if row.pos is not None and row.pos.line:
        lines[0] += f" ({_short_path(row.pos.file)}:{row.pos.line}:{row.pos.column})"
    lines.append(
        f"out {unicode_shape(row.output_shape)}, {grouped(row.params)} params, "
        f"{grouped(row.macs)} MACs"
    )
    lines += [f"{d.severity}: {d.message}" for d in part.diagnostics]
    if row.fit and not part.diagnostics:
        lines.append(f"stride fit: {row.fit}")
    return "\n".join(lines)


def _legend(dot: Any, families: set[str], warned: set[str]) -> None:
    cells = [
        f'<tr><td bgcolor="{FAMILY_COLOURS[f]}">{f}</td></tr>'
        for f in FAMILY_COLOURS
        if f in families
    ]
    if "warning" in warned:
        cells.append(f'<tr><td bgcolor="{WARNING_FILL}">warning</td></tr>')
    if "error" in warned:
        cells.append(f'<tr><td bgcolor="{ERROR_FILL}">error</td></tr>')
    if not cells:
        return
    table = (
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
        '<tr><td border="0"><b>legend</b></td></tr>' + "".join(cells) + "</table>>"
    )
    dot.node(
        "legend", table, shape="plaintext", style="", fontsize="9", id="legend", tooltip="legend"
    )


def _is_generated(short: str, kind: str) -> bool:
    """'relu3' for a relu: the name the builder made up, which adds nothing to the type."""
    return short.startswith(kind) and short[len(kind) :].isdigit()


def _short_path(path: str) -> str:
    """Relative to the working directory when inside it, so a drawing names no home folders."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _macs(n: int) -> str:
    return f"{human(n).strip()} MACs"


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _dot_id(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name) or "net"


# -- output -------------------------------------------------------------------------------------


def format_for(path: str) -> str:
    """The output format from the file's suffix."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix in ("gv",):
        return "dot"
    if suffix not in FORMATS:
        raise UsageError(
            f"cannot tell the diagram format from '{path}'",
            f"end the file name with one of {', '.join('.' + f for f in FORMATS)}",
        )
    return suffix


def render_bytes(dot: Any, fmt: str) -> bytes:
    """The diagram in ``fmt``: DOT text as is, anything else laid out by the system's ``dot``."""
    if fmt == "dot":
        return str(dot.source).encode("utf-8")
    import graphviz

    if shutil.which("dot") is None:
        raise UsageError(
            f"drawing a .{fmt} needs Graphviz's 'dot' program, which is not on PATH", INSTALL_HINT
        )
    try:
        return bytes(dot.pipe(format=fmt))
    except graphviz.ExecutableNotFound as err:
        raise UsageError(
            f"drawing a .{fmt} needs Graphviz's 'dot' program, which could not be run", INSTALL_HINT
        ) from err
    except graphviz.CalledProcessError as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            "Graphviz's 'dot' failed to lay out the diagram"
            + (f": {detail[-1]}" if detail else ""),
            "write a .dot file to see the source it was given",
        ) from err
