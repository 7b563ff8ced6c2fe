"""Graphviz diagrams of a net: boxes coloured by layer family, edges labelled with the tensor
shape that flows along them, merges drawn as merges, blocks as clusters (or collapsed into one
box with their totals past a depth), warnings in a warning colour with the message as tooltip.

The ``graphviz`` package builds the DOT source; the system's ``dot`` program lays it out.
"""

from __future__ import annotations

import html
import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archcalc.diagnostics import Diagnostic, UsageError
from archcalc.graph import INPUT, Graph
from archcalc.render.nesting import (
    MAIN_FAMILIES,
    SEVERITY_RANK,
    Part,
    build,
    external_inputs,
    instance_range,
)
from archcalc.render.numbers import grouped, human
from archcalc.shapes import Shape

if TYPE_CHECKING:
    from archcalc.report import LayerRow, Report

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
LONG_SKIP = 4  # a merge input further back than this many layers makes a net U-shaped

INSTALL_HINT = (
    "install Graphviz — 'sudo apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS), or see https://graphviz.org/download/ — "
    "or write a .dot file and render it elsewhere"
)


def unicode_shape(shape: Shape | None) -> str:
    """(55, 55, 96) → '55×55×96', the course's notation."""
    return "?" if shape is None else "×".join(str(s) for s in shape)


def default_depth(graph: Graph, report: Report) -> int | None:
    """How deep to open the nesting when the user did not say.

    Up to BIG_NET_LAYERS layers everything is drawn. Past that, only two levels of nesting are
    opened: the top-level blocks (ResNet's stages) as clusters, and the blocks inside them
    (the bottlenecks) as single boxes with their totals — with the identical ones folded, a
    50-layer ResNet becomes about twenty boxes that read like the paper's table.
    """
    if u_shaped(report):
        return 1  # the U reads best with each level's blocks as boxes
    if any(_is_wide(p) for p in _parts(build(graph, report))):
        return BIG_NET_DEPTH
    return None if len(report.layers) <= BIG_NET_LAYERS else BIG_NET_DEPTH


@dataclass
class _Drawing:
    """What the diagram walk produces: where each layer of the graph ended up."""

    rep: dict[str, str] = field(default_factory=dict)  # layer name → drawn node id
    # layer → {fold id: instance index}, for every folded run the layer is part of
    group: dict[str, dict[int, int]] = field(default_factory=dict)
    folds: int = 0
    boxes: int = 0
    # drawn node id → the module (residual/inception block) drawn open around it: the edges
    # between two nodes of one module carry no shape label, the module's cluster says it
    module: dict[str, str] = field(default_factory=dict)
    # (node, shape) already written on one of the node's out-edges: a fan-out says it once
    labelled: set[tuple[str, str]] = field(default_factory=set)
    level: dict[str, int] = field(default_factory=dict)  # node id → its row of the U
    branch_lines: dict[str, list[str]] = field(default_factory=dict)  # a wide module's box
    # compact (the default drawing): short plain blocks as one box, and the norms and
    # activations after a layer drawn inside its box (layer name → the layers folded into it)
    compact: bool = False
    then: dict[str, list[LayerRow]] = field(default_factory=dict)
    folded: set[str] = field(default_factory=set)


def to_dot(
    graph: Graph,
    report: Report,
    depth: int | None = None,
    rankdir: str = "TB",
    params: bool = False,
    fold: bool = True,
    dpi: int | None = None,
    compact: bool = False,
) -> Any:
    """A graphviz.Digraph of the net. ``depth``: how many levels of nesting to draw open
    (1 = the top-level sequence only, each top-level block one box); None = all.
    ``compact`` (what `draw` does unless given --depth): short plain blocks as one box and
    each activation inside the box of the layer before it."""
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
    if dpi is not None:  # PNG pixels per inch (96 by default); SVG and PDF stay vector
        dot.attr("graph", dpi=str(dpi))
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

    drawing = _Drawing(compact=compact)
    if compact:
        drawing.then = _followers_to_fold(report)
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
    _draw_children(dot, root.children, 1, depth, params, drawing, families, warned)

    if u_shaped(report):
        _u_ranks(dot, report, drawing)

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


def _followers_to_fold(report: Report) -> dict[str, list[LayerRow]]:
    """Layer → the norms and activations right after it (conv → batchnorm → relu), each the
    only consumer of the one before, drawn inside its box."""
    consumers: dict[str, int] = {}
    for row in report.layers:
        for src in row.inputs:
            consumers[src] = consumers.get(src, 0) + 1
    then: dict[str, list[LayerRow]] = {}
    host: LayerRow | None = None
    for row, nxt in itertools.pairwise(report.layers):
        if row.family in MAIN_FAMILIES:
            host = row
        elif not (host is not None and then.get(host.name, [None])[-1] is row):
            host = None  # a norm or activation not already folded: nothing to attach to
        folded = then.get(host.name, []) if host is not None else []
        # conv → batchnorm → relu, never pool → lrn: a norm joins a weighted layer before any
        # activation; an activation joins anything
        joins = nxt.family == "activation" or (
            nxt.family == "norm"
            and host is not None
            and host.family != "pool"
            and all(f.family == "norm" for f in folded)
        )
        if (
            host is not None
            and joins
            and nxt.inputs == [row.name]
            and consumers.get(row.name) == 1
            and host.scope == nxt.scope
        ):
            then.setdefault(host.name, []).append(nxt)
    return then


def _spatial(shape: Shape | None) -> int | None:
    """Positions per channel of an image-like (H, W, C) or (L, C) output; None otherwise."""
    if shape is None or len(shape) < 2:
        return None
    size = 1
    for s in shape[:-1]:
        size *= s
    return size


def u_shaped(report: Report) -> bool:
    """An encoder-decoder with long skips (U-Net): some layer upsamples, and a merge joins an
    earlier layer of its own resolution that lies more than a few layers back."""
    index = {row.name: i for i, row in enumerate(report.layers)}
    sizes = {row.name: _spatial(row.output_shape) for row in report.layers}
    sizes[INPUT] = _spatial(report.input_shape)
    upsamples = any(
        (out := sizes[row.name]) is not None
        and any((sizes.get(src) or out) < out for src in row.inputs)
        for row in report.layers
    )
    long_skip = any(
        row.family == "merge" and i - index.get(src, -1) > LONG_SKIP
        for i, row in enumerate(report.layers)
        for src in row.inputs
    )
    return upsamples and long_skip


def _u_ranks(dot: Any, report: Report, drawing: _Drawing) -> None:
    """Draw a U: every drawn node on the row of its resolution (the largest at the top), so
    encoder and decoder face each other and each skip runs straight across."""
    last: dict[str, LayerRow] = {}
    for row in report.layers:
        node = drawing.rep.get(row.name)
        if node is not None:
            last[node] = row  # a box drawn for several layers sits where its output is
    out = {row.name: _spatial(row.output_shape) for row in report.layers}
    out[INPUT] = _spatial(report.input_shape)
    size = {"input": out[INPUT]}
    for node, row in last.items():
        # an up-convolution sits beside what it enlarges: its arrow is the U's climb
        size[node] = min((out.get(src) or 0 for src in row.inputs), default=0) or out[row.name]
        if (size[node] or 0) > (out[row.name] or 0):
            size[node] = out[row.name]
    levels = sorted({s for s in size.values() if s is not None}, reverse=True)
    for node, s in size.items():
        if s is not None:
            drawing.level[node] = levels.index(s)
    for k in range(len(levels)):
        with dot.subgraph() as same:
            same.attr(rank="same")
            for node, level in drawing.level.items():
                if level == k:
                    same.node(node)


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
    if a in drawing.module and drawing.module.get(a) == drawing.module.get(b):
        label = ""
    ga, gb = drawing.group.get(src, {}), drawing.group.get(dst, {})
    if any(fold in gb and gb[fold] != k for fold, k in ga.items()):
        return  # one folded instance feeding the next: drawn once, as the ×N badge
    if (a, b) in seen:
        return
    seen.add((a, b))
    up = drawing.level.get(a, 0) > drawing.level.get(b, 0)
    if (a, label) in drawing.labelled and b in drawing.module:
        label = ""  # the fan-out into a module's branches says the shape once
    elif label:
        drawing.labelled.add((a, label))
    extra = {"constraint": "false"} if up else {}  # the U's way back up does not rank nodes
    dot.edge(
        a, b, label=f" {label} " if label else "", id=f"e/{a}->{b}", tooltip=label or " ", **extra
    )


def _draw_children(
    dot: Any,
    children: list[Part],
    level: int,
    depth: int | None,
    params: bool,
    drawing: _Drawing,
    families: set[str],
    warned: set[str],
) -> None:
    """Draw a sequence of parts. Unless every level is open, a long run of instances of one
    block that differ (DenseNet's dense layers, whose inputs widen) is drawn as its first
    instance, one box standing for the middle ones with their totals, and its last instance."""
    i = 0
    while i < len(children):
        run = 1
        if depth is not None and _elidable(children[i]):
            while (
                i + run < len(children)
                and _elidable(children[i + run])
                and _same_layout(children[i + run], children[i])
            ):
                run += 1
        if run >= ELIDE_RUN:
            _draw(dot, children[i], level, depth, params, drawing, families, warned)
            _draw_elided(dot, children[i + 1 : i + run - 1], drawing, warned)
            _draw(dot, children[i + run - 1], level, depth, params, drawing, families, warned)
        else:
            for child in children[i : i + run]:
                # a branch opens with its parent block: it is not a level of its own
                child_level = level - 1 if child.kind == "branch" else level
                _draw(dot, child, child_level, depth, params, drawing, families, warned)
        i += run


def _elidable(part: Part) -> bool:
    # a warning must stay visible where it is
    return part.kind == "block" and SEVERITY_RANK[part.worst] < SEVERITY_RANK["warning"]


def _same_layout(a: Part, b: Part) -> bool:
    """The same block with the same layer types in the same order: instances that differ only
    in their widths (DenseNet's dense layers), not in their structure (MobileNet's stages)."""
    return a.label == b.label and [r.type for r in a.rows()] == [r.type for r in b.rows()]


def _draw_elided(dot: Any, parts: list[Part], drawing: _Drawing, warned: set[str]) -> None:
    node_id = f"x/{parts[0].name}"
    rows = [r for p in parts for inst in p.instances or [p] for r in inst.rows()]
    for row in rows:
        drawing.rep[row.name] = node_id
    drawing.boxes += 1
    count = sum(p.repeat for p in parts)
    first, last = parts[0], parts[-1]
    name_range = f"{first.short} … {(last.instances or [last])[-1].short}"
    params = sum(r.params for r in rows)
    macs = sum(r.macs for r in rows)
    lines = [
        f"<b>⋮ {_esc(name_range)}</b>",
        f"{count} more {_esc(first.label)} blocks · {len(rows)} layers",
        f"{human(params).strip()} params · {_macs(macs)} in all",
        f"out {unicode_shape(first.output_shape)} … {unicode_shape(last.output_shape)}",
    ]
    attrs = {
        "id": node_id,
        "fillcolor": BLOCK_COLOUR,
        "style": "rounded,filled,dashed",
        "tooltip": f"{count} {first.label} blocks drawn as one box; --depth all draws each",
    }
    dot.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)


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
    module = _module_of(part) if part.row is None else None
    direct = module is not None and module in part.children
    if part.row is not None and part.row.name in drawing.folded:
        pass  # drawn inside the box of the layer before it
    elif part.row is not None:
        _draw_layer(dot, part, params, drawing, families, warned)
    elif (
        depth is not None
        and module is not None
        and (level >= depth or (direct and level + 1 >= depth) or _is_wide(part))
    ):
        # a bottleneck or an Inception module whose insides would be one box: its figure
        _draw_module(dot, part, module, drawing, families, warned)
    elif (depth is not None or drawing.compact) and module is None and _is_unit(part):
        _draw_unit(dot, part, drawing, families, warned)
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
            _draw_children(sub, part.children, level + 1, depth, params, drawing, families, warned)
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
        _merge_circle(dot, node_id, row.type, attrs)
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
    after = drawing.then.get(row.name, [])
    for follower in after:
        drawing.rep[follower.name] = node_id
        drawing.folded.add(follower.name)
    if after:
        names = ", ".join(f.type for f in after)
        lines.append(f'<font point-size="8">+ {_esc(names)}</font>')
    lines += _fit_lines([row], part)
    dot.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)


# -- a collapsed residual or inception block drawn as its idea -------------------------------

MODULE_KINDS = ("residual", "parallel")
ELIDE_RUN = 5  # a run of this many differing instances of one block is drawn first, ⋮, last
MAX_FIT_LINES = 3
MAX_UNIT_LINES = 5  # a plain chain with up to this many weighted layers is one box
MAX_SIDE_BY_SIDE = 6  # more branches than this are listed in one box, not drawn side by side


def _parts(part: Part) -> Iterator[Part]:
    """``part`` and every part inside it (first instances of folded runs)."""
    yield part
    for child in part.children:
        yield from _parts(child)


def _module_of(part: Part) -> Part | None:
    """The single residual or parallel block inside a collapsed part (a bottleneck, an Inception
    module, a dense layer), drawn open as the figure the paper draws; None for anything else."""
    outermost: list[Part] = []

    def walk(p: Part) -> None:
        if p.kind in MODULE_KINDS:
            outermost.append(p)  # a module nested in its branches is part of its figure
            return
        for child in p.children:
            walk(child)

    walk(part)
    return outermost[0] if len(outermost) == 1 else None


def _is_wide(part: Part) -> bool:
    """A parallel block of more branches than fit side by side on a slide."""
    return (
        part.kind == "parallel"
        and sum(c.kind == "branch" for c in part.children) > MAX_SIDE_BY_SIDE
    )


def _is_unit(part: Part) -> bool:
    """A short chain of layers with no module inside (GoogLeNet's BasicConv2d, a U-Net double
    conv, a DenseNet transition, MobileNet's first block of a stage): drawn as one box listing
    its layers at any depth but 'all'."""
    rows = list(part.rows())
    chained = all(r.inputs == [prev.name] for prev, r in itertools.pairwise(rows))
    mains = sum(r.family in MAIN_FAMILIES for r in rows)
    return chained and 1 <= mains <= MAX_UNIT_LINES and len(rows) <= 3 * MAX_UNIT_LINES


def _draw_unit(
    dot: Any, part: Part, drawing: _Drawing, families: set[str], warned: set[str]
) -> None:
    rows = list(part.rows())
    node_id = f"u/{part.name}"
    for row in rows:
        drawing.rep[row.name] = node_id
    drawing.boxes += 1
    family = next(r.family for r in rows if r.family in MAIN_FAMILIES)
    families.add(family if family in FAMILY_COLOURS else "other")
    attrs = {
        "id": node_id,
        "tooltip": _rows_tooltip(rows, part),
        "fillcolor": FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"]),
    }
    bad = _worst_of(rows, part)
    if bad:
        warned.add(bad)
        attrs.update(_warning_attrs(bad))
    head = f"<b>{_esc(instance_range(part))}</b>"
    if part.repeat > 1:
        head += f' <font color="#a50f15"><b>×{part.repeat}</b></font>'
    lines = [head, *_chain_lines(rows), *_fit_lines(rows, part)]
    dot.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)


def _module_roles(part: Part, module: Part) -> dict[str, list[LayerRow]]:
    """The layers of ``part`` grouped into the nodes of its figure, in order: what comes before
    the module, the residual body or each branch, the merge, what comes after (an activation
    after the merge joins the merge, as the papers draw it)."""
    kinds = {p.name: p.kind for p in _parts(part)}
    inside = list(module.rows())
    merge = inside[-1].name if inside and inside[-1].family == "merge" else ""
    roles: dict[str, list[LayerRow]] = {}
    seen_module = False
    for row in part.rows():
        if row.name == merge:
            role = "merge"
        elif module.name in row.scope:
            seen_module = True
            inner = row.scope[row.scope.index(module.name) + 1 :]
            role = inner[0] if inner and kinds.get(inner[0]) == "branch" else "body"
        else:
            role = "after" if seen_module else "before"
            if role == "after" and row.family == "activation" and list(roles)[-1] == "merge":
                role = "merge"
        roles.setdefault(role, []).append(row)
    return roles


def _chain_lines(
    rows: list[LayerRow], plain: bool = False, kinds: dict[str, str] | None = None, inside: str = ""
) -> list[str]:
    """'conv 1×1, 64' per conv, pool or dense layer, then '+ batchnorm, relu' for the rest
    (``plain``: every layer but activations and norms, a channel slice included). A split
    nested in the rows (Inception v3's 1×3 | 3×1 pair; ``kinds`` names each scope's kind, the
    splits looked for are those inside the scope ``inside``) is one line, its branches side by
    side: 'conv 1×3, 384 | conv 3×1, 384'."""
    if plain:
        return [
            _esc(f"{r.type} {r.describe}".strip())
            for r in rows
            if r.family not in ("activation", "norm")
        ]
    lines: list[str] = []
    splits: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r.family not in MAIN_FAMILIES:
            continue
        text = f"{r.type} {r.describe}".strip()
        split = next(
            (
                sc
                for sc in r.scope
                if kinds and kinds.get(sc) in MODULE_KINDS and sc.startswith(inside + ".")
            ),
            None,
        )
        if split is None:
            lines.append(_esc(text))
            continue
        if split not in splits:
            splits[split] = {}
            lines.append(split)  # replaced below by the split's one line
        after = r.scope[r.scope.index(split) + 1 :]
        splits[split].setdefault(after[0] if after else "", []).append(text)
    lines = [
        _esc(" | ".join(" → ".join(chain) for chain in splits[line].values()))
        if line in splits
        else line
        for line in lines
    ]
    rest = list(dict.fromkeys(r.type for r in rows if r.family not in MAIN_FAMILIES))
    if not lines:
        return [_esc(", ".join(rest))]
    if rest:
        lines.append(f'<font point-size="8">+ {_esc(", ".join(rest))}</font>')
    return lines


def _draw_module(
    dot: Any, part: Part, module: Part, drawing: _Drawing, families: set[str], warned: set[str]
) -> None:
    """A cluster holding the module's figure: body and shortcut (or the branches side by side,
    each with its kernel sizes), the ⊕ or concatenation, with the block's totals as its title."""
    each = " each" if part.repeat > 1 else ""
    head = f"<b>{_esc(instance_range(part))}</b>"
    if part.kind == "block" and not _is_generated(part.short, part.label):
        head += f" <i>{_esc(part.label)}</i>"
    if part.repeat > 1:
        head += f' <font color="#a50f15"><b>×{part.repeat}</b></font>'
    totals = (
        f"{part.layers_text} · {human(part.params).strip()} params{each} · {_macs(part.macs)}{each}"
    )
    drawing.boxes += 1
    with dot.subgraph(name=f"cluster_{_dot_id(part.name)}") as sub:
        worst = part.worst
        colour = _warning_attrs(worst)["color"] if worst in ("warning", "error") else "#999999"
        sub.attr(
            label=f'<{head}<br/><font point-size="8">{_esc(totals)}</font>>',
            style="rounded,bold" if part.repeat > 1 else "rounded",
            color=colour,
            fontname="Helvetica",
            fontsize="10",
            labeljust="l",
            tooltip=_composite_tooltip(part),
            id=f"cluster/{part.name}",
        )
        branches = []
        kinds = {p.name: p.kind for p in _parts(part)}
        roles = _module_roles(part, module)
        many = [r for r in roles if r not in ("before", "body", "merge", "after")]
        if len(many) > MAX_SIDE_BY_SIDE:  # LeNet's 16 C3 maps: one box, a line per branch
            per_branch = [" → ".join(_chain_lines(roles[r], plain=True)) for r in many]
            roles = {k: v for k, v in roles.items() if k not in many or k == many[0]}
            roles[many[0]] = [row for r in many for row in _module_roles(part, module)[r]]
            drawing.branch_lines[f"m/{part.name}/{many[0]}"] = per_branch
        for role, rows in roles.items():
            node_id = f"m/{part.name}/{role}"
            for row in rows:
                drawing.rep[row.name] = node_id
            drawing.module[node_id] = part.name
            attrs: dict[str, str] = {"id": node_id, "tooltip": _rows_tooltip(rows, part)}
            bad = _worst_of(rows, part)
            if bad:
                warned.add(bad)
                attrs.update(_warning_attrs(bad))
            if role == "merge":
                row = rows[0]
                if len(rows) > 1:  # ⊕ then relu
                    after = ", ".join(r.type for r in rows[1:])
                    attrs["xlabel"] = f'<<font point-size="9">{_esc(after)}</font>>'

                if row.type in CIRCLED_MERGES:
                    attrs.setdefault("fillcolor", FAMILY_COLOURS["merge"])
                    _merge_circle(sub, node_id, row.type, attrs)
                else:
                    attrs.setdefault("fillcolor", FAMILY_COLOURS["merge"])
                    sub.node(node_id, f"‖ {_esc(row.type)}", height="0.25", **attrs)
                continue
            family = next((r.family for r in rows if r.family in MAIN_FAMILIES), rows[0].family)
            families.add(family if family in FAMILY_COLOURS else "other")
            attrs.setdefault("fillcolor", FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"]))
            lines = [
                *(
                    drawing.branch_lines.get(node_id)
                    or _chain_lines(rows, kinds=kinds, inside=module.name)
                )
            ]
            lines += _fit_lines(rows, part)
            sub.node(node_id, "<" + "<br/>".join(lines) + ">", **attrs)
            if role not in ("before", "after"):
                branches.append(node_id)
        if len(branches) > 1:  # the branches side by side, as in the papers' figures
            with sub.subgraph() as same:
                same.attr(rank="same")
                for node_id in branches:
                    same.node(node_id)


def _worst_of(rows: list[LayerRow], part: Part) -> str:
    names = {r.name for r in rows}
    worst = ""
    for r in rows:
        if SEVERITY_RANK[r.fit] > SEVERITY_RANK[worst]:
            worst = r.fit
    for d in part.all_diagnostics():
        if d.layer in names and SEVERITY_RANK.get(d.severity, 0) > SEVERITY_RANK[worst]:
            worst = d.severity
    return worst if worst in ("warning", "error") else ""


def _rows_tooltip(rows: list[LayerRow], part: Part) -> str:
    names = {r.name for r in rows}
    lines = [
        f"{r.name}: {r.type} {r.describe}".rstrip()
        + f" → {unicode_shape(r.output_shape)}, {grouped(r.params)} params"
        for r in rows
    ]
    lines += [f"{d.severity}: {d.message}" for d in part.all_diagnostics() if d.layer in names]
    return "\n".join(lines)


def _arithmetic(d: Diagnostic) -> str:
    """The sum behind a stride-fit finding, '(7 − 3)/3 + 1 = 2.33', from its message
    ('conv1: (7 − 3)/3 + 1 = 2.33 is not whole; …'); other findings: the message's first clause."""
    text = d.message
    if d.layer and text.startswith(d.layer + ": "):
        text = text[len(d.layer) + 2 :]
    text = text.split(";")[0]
    return text.removesuffix(" is not whole")


def _fit_lines(rows: list[LayerRow], part: Part) -> list[str]:
    """The worked arithmetic of every warning or error on these layers, in the warning colour,
    so a PNG or a slide shows why the box is orange (the SVG tooltip has the full message)."""
    names = {r.name for r in rows}
    lines = []
    for d in part.all_diagnostics():
        if d.layer in names and d.severity in ("warning", "error"):
            colour = _warning_attrs(d.severity)["color"]
            lines.append(
                f'<font point-size="8" color="{colour}">{d.severity}: {_esc(_arithmetic(d))}</font>'
            )
    lines = list(dict.fromkeys(lines))
    if len(lines) > MAX_FIT_LINES:  # a block full of them: the first few, the rest in the tooltip
        more = len(lines) - MAX_FIT_LINES + 1
        lines = [*lines[: MAX_FIT_LINES - 1], f'<font point-size="8">… and {more} more</font>']
    return lines


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
    lines += _fit_lines(list(part.rows()), part)
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


def _merge_circle(dot: Any, node_id: str, merge_type: str, attrs: dict[str, str]) -> None:
    """A merge (add, mul, ...) drawn as its small circled operator, such as ⊕."""
    dot.node(
        node_id,
        CIRCLED_MERGES[merge_type],
        shape="circle",
        width="0.3",
        height="0.3",
        fixedsize="true",
        fontsize="16",
        **attrs,
    )
