"""Shape inference and the stride-fit check.

Walks the graph in order, asking each op for its output shape. An op's shape rule doubles as its
validation: an OpError becomes a diagnostic at the layer (or the offending attribute) and the
layer's output is unknown, so its dependents are skipped instead of reporting knock-on errors.
"""

from __future__ import annotations

from fractions import Fraction

from archcalc.analysis.traps import input_trap, layer_trap
from archcalc.diagnostics import Diagnostic, Diagnostics, Severity
from archcalc.graph import INPUT, Graph, Node
from archcalc.ops.base import AxisFit, Layer, OpError
from archcalc.shapes import Shape


def infer_shapes(graph: Graph, diags: Diagnostics, strict: bool) -> dict[str, Layer | None]:
    """The analysed view of every node, or None where its shape cannot be known."""
    layers: dict[str, Layer | None] = {}
    shapes: dict[str, Shape | None] = {INPUT: graph.input_shape or None}
    diags.extend(input_trap(graph.input_shape, graph.input_pos))
    per_position: set[str] = set()
    for node in graph.nodes:
        inputs = [shapes.get(src) for src in node.inputs]
        if node.broken or not inputs or any(s is None for s in inputs):
            layers[node.name] = shapes[node.name] = None
            continue
        layer = Layer(node.name, node.attrs, inputs)  # type: ignore[arg-type]
        try:
            if len(layer.input) - 1 < node.op.min_rank:
                raise OpError(f"{node.op.name} needs a {node.op.min_rank}-D input")
            layer.output = node.op.output_shape(layer)
        except OpError as err:
            pos = node.attr_pos.get(err.attr, node.pos)
            diags.append(
                Diagnostic(
                    "error", err.code, f"{node.name}: {err.message}", pos, node.name, err.hint
                )
            )
            layers[node.name] = shapes[node.name] = None
            continue
        layers[node.name] = layer
        shapes[node.name] = layer.output
        diags.extend(fit_diagnostics(node, layer, strict))
        # one note where a dense layer first meets a spatial input, not one per layer after it
        if any(src in per_position for src in node.inputs):
            per_position.add(node.name)
        elif trap := layer_trap(node, layer):
            diags.extend(trap)
            per_position.add(node.name)
    return layers


_AXIS_WORDS = {
    1: [("sample", "samples", "at the end")],
    2: [("row", "rows", "at the bottom"), ("column", "columns", "at the right")],
    3: [
        ("slice", "slices", "at the back"),
        ("row", "rows", "at the bottom"),
        ("column", "columns", "at the right"),
    ],
}


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"


def fit_formula(fit: AxisFit) -> str:
    """The course's output-size arithmetic for one axis: (N + 2P − F)/S + 1 = value."""
    pads = (
        f" + 2·{fit.pad_before}"
        if fit.pad_before == fit.pad_after
        else f" + {fit.pad_before} + {fit.pad_after}"
    )
    pads = "" if fit.pad_before == fit.pad_after == 0 else pads
    return f"({fit.size}{pads} − {fit.span})/{fit.stride} + 1 = {_number(fit.exact)}"


def suggestions(fit: AxisFit) -> str:
    """Nearest padding, stride and input size that make the window fit exactly."""
    room = fit.size + fit.pad_before + fit.pad_after - fit.span
    r, s = fit.remainder, fit.stride
    options = []
    total = fit.pad_before + fit.pad_after
    for new_total in (total + (s - r), total - r):
        if new_total >= 0 and new_total != total:
            pad = (
                f"pad {new_total // 2}"
                if new_total % 2 == 0
                else f"pad [{new_total // 2}, {new_total - new_total // 2}]"
            )
            options.append(f"{pad} (→ {(fit.size + new_total - fit.span) // s + 1})")
            break
    strides = sorted(
        (d for d in range(1, min(room, 2 * s + 1) + 1) if room % d == 0 and d != s),
        key=lambda d: (abs(d - s), d),
    )[:2]
    if strides:
        options.append(" or ".join(f"stride {d} (→ {room // d + 1})" for d in sorted(strides)))
    sizes = [n for n in (fit.size - r, fit.size + s - r) if n > 0 and n + total >= fit.span]
    if sizes:
        options.append(
            "an input of "
            + " or ".join(f"{n} (→ {(n + total - fit.span) // s + 1})" for n in sizes)
        )
    return "fits exactly with " + ", ".join(options) if options else ""


def fit_diagnostics(node: Node, layer: Layer, strict: bool) -> list[Diagnostic]:
    """One diagnostic per group of axes whose window does not tile the input exactly."""
    found = []
    words = _AXIS_WORDS.get(
        len(layer.fits), [("position", "positions", "at the end")] * len(layer.fits)
    )
    groups: dict[tuple[int, int, int, int, int, int, bool], list[int]] = {}
    gaps: dict[tuple[int, int], list[int]] = {}  # (span, stride) → axes with skipped positions
    for fit in layer.fits:
        if fit.span < fit.stride:
            gaps.setdefault((fit.span, fit.stride), []).append(fit.axis)
        elif fit.remainder:
            key = (
                fit.size,
                fit.span,
                fit.stride,
                fit.pad_before,
                fit.pad_after,
                fit.remainder,
                fit.ceil_mode,
            )
            groups.setdefault(key, []).append(fit.axis)
    for (span, stride), axes in gaps.items():
        gap = stride - span
        where = " and ".join(words[a][1] for a in axes)
        found.append(
            Diagnostic(
                "info",
                "stride-gap",
                f"{node.name}: stride {stride} is larger than the {span}-wide window, so {gap} of every {stride} input {where} {'is' if gap == 1 and len(axes) == 1 else 'are'} skipped",
                node.pos,
                node.name,
                "intended in a strided 1x1 projection (ResNet's shortcut); otherwise make the window at least as wide as the stride",
            )
        )
    for axes in groups.values():
        severity: Severity
        fit = layer.fits[axes[0]]
        formula = fit_formula(fit)
        where = " and ".join(words[a][1] for a in axes)
        if fit.ceil_mode:
            severity = "error" if strict else "info"
            message = f"{node.name}: {formula}; ceil_mode rounds up to {fit.out}, so the last window overhangs the {where}"
        elif fit.lost_real:
            severity = "error" if strict else "warning"
            lost = fit.lost_real
            parts = [f"{lost} input {words[a][0 if lost == 1 else 1]} {words[a][2]}" for a in axes]
            verb = "is" if lost == 1 and len(parts) == 1 else "are"
            message = f"{node.name}: the filter doesn't fit: {formula}; {' and '.join(parts)} {verb} never seen"
        else:
            severity = "error" if strict else "info"
            message = f"{node.name}: {formula} is not whole; only padding is left uncovered along the {where}"
        if strict and severity == "error":
            message += " (strict mode: every window must fit exactly)"
        found.append(
            Diagnostic(severity, "stride-fit", message, node.pos, node.name, suggestions(fit))
        )
    return found
