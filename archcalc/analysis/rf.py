"""Receptive field, effective stride and offset per layer and axis.

The recurrences of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks" (Distill, 2019), walked over the graph. For a window of effective extent k' = d(k−1)+1,
stride s and leading padding p applied to a field (r, j, c):

    r_out = r + (k' − 1)·j        j_out = j·s        c_out = c + ((k' − 1)/2 − p)·j

where c is the centre of the first unit in input pixels (pixel 0's centre is 0). Unit i of the
layer then sees input pixels [c + i·j − (r − 1)/2, c + i·j + (r − 1)/2]. Each op gives its rule
through ``Op.windows()``; this walk is generic.

- The field is the *extent* (bounding range) of the input pixels a unit depends on. Dilation and
  a stride wider than the window leave holes inside it; they do not change the extent.
- Global pooling, flattening and dense layers on a flat vector see the whole input.
- Transposed convs with stride > 1, upsampling and adaptive pooling with unequal bins have no
  uniform field: neighbouring units' windows move by 0 or 1 input units in turn. Their field is
  "not defined" (with the op's reason, ``Op.why_undefined()``) and so is everything after them
  until a global layer. :func:`unit_window` still gives any single unit's exact window, through
  every op, by walking back from the unit with ``Op.input_span()``.
- At a merge (residual add, concat) the field is the union over paths; where paths disagree in
  effective stride or centre a diagnostic names each path (the layer feeding the merge and its
  branch) with its values, and the union of the first unit's windows is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from archcalc.diagnostics import Diagnostic, Diagnostics
from archcalc.graph import INPUT, Graph, Node, Scope
from archcalc.ops.base import GLOBAL, UNDEFINED, Layer, Window, num, per_axis_figures
from archcalc.shapes import Shape

Explained = list[tuple[str, str]]


Num = int | Fraction  # whole values stay ints: Fraction arithmetic is slow


def _half(value: Num) -> Num:
    return value // 2 if isinstance(value, int) and value % 2 == 0 else Fraction(value) / 2


@dataclass(frozen=True)
class Field:
    size: tuple[Num, ...]
    stride: tuple[Num, ...]
    offset: tuple[Num, ...]
    whole: bool = False  # sees the whole input (after global pooling or flattening)

    def to_json(self) -> dict[str, list[int | float]]:
        # The JSON contract's three keys; ``whole`` shows as size = stride = the input size.
        return {
            "size": _nums(self.size),
            "stride": _nums(self.stride),
            "offset": _nums(self.offset),
        }

    def window(self, unit: tuple[int, ...]) -> list[tuple[Num, Num]]:
        """First and last input pixel seen by ``unit``, per axis (on an aligned graph)."""
        return [
            (c + i * j - _half(r - 1), c + i * j + _half(r - 1))
            for c, j, r, i in zip(self.offset, self.stride, self.size, unit)
        ]


def _nums(values: tuple[Num, ...]) -> list[int | float]:
    return [int(v) if v.denominator == 1 else float(v) for v in values]


def _whole_input(graph: Graph) -> Field:
    spatial = tuple(graph.input_shape[:-1])
    return Field(spatial, spatial, tuple(_half(n - 1) for n in spatial), whole=True)


def receptive_fields(
    graph: Graph,
    layers: dict[str, Layer | None],
    diags: Diagnostics,
    notes: dict[str, str] | None = None,
    explain: dict[str, Explained] | None = None,
) -> dict[str, Field | None]:
    """Every node's field, or None where it is unknown or not defined.

    ``notes`` (if given) receives, per layer whose field is not defined, the reason; ``explain``
    (if given) receives the arithmetic of each field, as (figure, formula) pairs."""
    fields: dict[str, Field | None] = {}
    origin: dict[str, str] = {}  # layer whose field is not defined → where that started
    nodes = {n.name: n for n in graph.nodes}
    rank = len(graph.input_shape) - 1
    # plain ints where the values are whole; Fractions appear only where a half or a third does
    one, zero = (1,) * rank, (0,) * rank
    fields[INPUT] = Field(one, one, zero) if rank else None
    for node in graph.nodes:
        layer = layers.get(node.name)
        sources = [fields.get(src) for src in node.inputs]
        field: Field | None = None
        lines: Explained = []
        if layer is not None and sources and rank:
            rule = node.op.windows(layer)
            after = [origin[src] for src in node.inputs if src in origin]
            if rule == GLOBAL:
                field = _whole_input(graph)
                lines = per_axis_figures("RF", [f"the whole input = {num(n)}" for n in field.size])
            elif rule == UNDEFINED and not after:
                origin[node.name] = node.name
                reason = node.op.why_undefined(layer)
                if notes is not None:
                    notes[node.name] = f"not defined: {reason}"
                diags.append(
                    Diagnostic(
                        "info",
                        "rf-undefined",
                        f"{node.name}: receptive field not defined: {reason}",
                        node.pos,
                        node.name,
                        "layers after it have no single field until a global pooling or dense "
                        "layer; `archcalc rf SPEC --layer NAME --unit i,j` gives any unit's window",
                    )
                )
            elif after:
                origin[node.name] = after[0]
                if notes is not None:
                    notes[node.name] = (
                        f"not defined: follows {after[0]}, whose field is not defined"
                    )
            elif any(f is None for f in sources):
                pass
            elif len(sources) > 1:
                field, lines = _union(node, sources, nodes, graph.scopes, diags)  # type: ignore[arg-type]
            else:
                source = sources[0]
                assert source is not None
                if source.whole or rule is None:
                    field = source
                else:
                    assert isinstance(rule, list)
                    field, lines = _apply(source, rule, explain is not None)
        fields[node.name] = field
        if explain is not None:
            explain[node.name] = lines
    return fields


def _apply(field: Field, rule: list[Window], explain: bool) -> tuple[Field, Explained]:
    sizes, strides, offsets = [], [], []
    size_text: list[str] = []
    stride_text: list[str] = []
    offset_text: list[str] = []
    for r, j, c, w in zip(field.size, field.stride, field.offset, rule):
        sizes.append(r + (w.span - 1) * j)
        strides.append(j * w.stride)
        # (k' − 1)/2 − p, kept an int when whole: Fraction arithmetic is the walk's hot spot
        twice = w.span - 1 - 2 * w.pad_before
        offsets.append(c + _half(twice) * j)
        if not explain:
            continue
        size_text.append(f"{num(r)} + ({w.span} − 1)·{num(j)} = {num(sizes[-1])}")
        stride_text.append(f"{num(j)}·{w.stride} = {num(strides[-1])}")
        offset_text.append(
            f"{_term(c)} + (({w.span} − 1)/2 − {_term(w.pad_before)})·{num(j)} = {num(offsets[-1])}"
        )
    field = Field(tuple(sizes), tuple(strides), tuple(offsets))
    if not explain:
        return field, []
    return field, [
        *per_axis_figures("RF", size_text),
        *per_axis_figures("RF stride", stride_text),
        *per_axis_figures("RF offset", offset_text),
    ]


def path_label(node: Node, src: str, nodes: dict[str, Node], graph_scopes: dict[str, Scope]) -> str:
    """How a merge's input is reached: "body (via layer1.0.relu3)", "shortcut (via ...)"."""
    if src == INPUT:
        return "the network input"
    home = node.scope
    inner = nodes[src].scope if src in nodes else ()
    composite = graph_scopes.get(home[-1]) if home else None
    if not home or inner[: len(home)] != home:
        branch = "identity shortcut" if composite and composite.kind == "residual" else "bypass"
        return f"{branch} (from {src})"
    if len(inner) > len(home):
        scope = graph_scopes.get(inner[len(home)])
        if scope is not None and scope.kind == "branch":
            return f"{scope.label} (via {src})"
    if composite is not None and composite.kind == "residual":
        return f"body (via {src})"
    return f"via {src}"


def _union(
    node: Node,
    sources: list[Field],
    nodes: dict[str, Node],
    scopes: dict[str, Scope],
    diags: Diagnostics,
) -> tuple[Field, Explained]:
    name, inputs = node.name, node.inputs
    if any(f.whole for f in sources):
        return next(f for f in sources if f.whole), []
    lows = [tuple(c - _half(r - 1) for c, r in zip(f.offset, f.size)) for f in sources]
    highs = [tuple(c + _half(r - 1) for c, r in zip(f.offset, f.size)) for f in sources]
    lo = tuple(min(v) for v in zip(*lows))
    hi = tuple(max(v) for v in zip(*highs))
    stride = tuple(max(v) for v in zip(*(f.stride for f in sources)))
    union = Field(
        tuple(h - low + 1 for low, h in zip(lo, hi)),
        stride,
        tuple(_half(low + h) for low, h in zip(lo, hi)),
    )
    labels = [path_label(node, src, nodes, scopes) for src in inputs]
    strides_differ = len({f.stride for f in sources}) > 1
    centres_differ = len({f.offset for f in sources}) > 1
    if strides_differ or centres_differ:
        what = "effective strides" if strides_differ else "centres"
        parts = [
            f"{label} has stride {_fmt(f.stride)}, centre {_fmt(f.offset)}, size {_fmt(f.size)}"
            for label, f in zip(labels, sources)
        ]
        diags.append(
            Diagnostic(
                "warning" if strides_differ else "info",
                "rf-stride-mismatch" if strides_differ else "rf-misaligned",
                f"{name}: paths meet with different {what}: {'; '.join(parts)}. The field "
                f"reported is their union: size {_fmt(union.size)}, centre {_fmt(union.offset)}",
                node.pos,
                name,
                (
                    "units of this layer see windows of varying size; "
                    if strides_differ
                    else "the paths' windows are shifted against each other; "
                )
                + f"`archcalc rf SPEC --layer {name} --unit i,j` gives any unit's exact window",
            )
        )
    spans = [
        " ∪ ".join(f"[{num(a[k])}, {num(b[k])}]" for a, b in zip(lows, highs))
        + f" = [{num(lo[k])}, {num(hi[k])}]: {_term(hi[k])} − {_term(lo[k])} + 1 = {num(union.size[k])}"
        for k in range(len(lo))
    ]
    return union, per_axis_figures("RF", spans)


def _term(value: int | Fraction) -> str:
    """An operand in a formula: negatives in parentheses, with a proper minus sign."""
    return f"(−{num(-value)})" if value < 0 else num(value)


def _fmt(values: tuple[Num, ...]) -> str:
    return "×".join(num(v) for v in values)


# --- one unit's exact window ------------------------------------------------------------------


@dataclass
class UnitWindow:
    """The input pixels one unit depends on, per spatial axis of the network input.

    ``window`` is the unit's window before any clipping, in input pixel coordinates: it may reach
    into padding (below 0 or past the last pixel); ``padding`` says how far on each side.
    ``inside`` is the range of real input pixels the unit depends on, clipped at every layer
    (what a gradient from this unit reaches); None on an axis where it depends on none."""

    layer: str
    unit: tuple[int, ...]
    input_shape: Shape
    window: list[tuple[int, int] | None]
    inside: list[tuple[int, int] | None]

    @property
    def padding(self) -> list[tuple[int, int]]:
        found = []
        for n, w in zip(self.input_shape[:-1], self.window):
            if w is None:
                found.append((0, 0))
            else:
                found.append((max(0, -w[0]), max(0, w[1] - (n - 1))))
        return found

    def to_json(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "unit": list(self.unit),
            "window": [list(w) if w else None for w in self.window],
            "padding": [list(p) for p in self.padding],
            "inside": [list(w) if w else None for w in self.inside],
        }


ALL = "all"  # the demand on a flat tensor: every element
Demand = list[tuple[int, int] | None] | str


def unit_window(
    graph: Graph, layers: dict[str, Layer | None], name: str, unit: tuple[int, ...]
) -> UnitWindow:
    """The input window of ``unit`` (one index per spatial axis of layer ``name``; one index
    into a flat layer). Exact through every op, merges and undefined fields included."""
    layer = layers[name]
    assert layer is not None
    start: Demand = ALL if len(layer.output) == 1 else [(i, i) for i in unit]
    window = _walk_back(graph, layers, name, start, clip=False)
    inside = _walk_back(graph, layers, name, start, clip=True)
    return UnitWindow(name, unit, graph.input_shape, window, inside)


def _shape_of(graph: Graph, layers: dict[str, Layer | None], name: str) -> Shape:
    if name == INPUT:
        return graph.input_shape
    layer = layers[name]
    assert layer is not None
    return layer.output


def _hull(a: Demand | None, b: Demand) -> Demand:
    if a is None:
        return b
    if a == ALL or b == ALL:
        return ALL
    assert isinstance(a, list) and isinstance(b, list)
    return [
        y if x is None else x if y is None else (min(x[0], y[0]), max(x[1], y[1]))
        for x, y in zip(a, b)
    ]


def _walk_back(
    graph: Graph, layers: dict[str, Layer | None], name: str, start: Demand, clip: bool
) -> list[tuple[int, int] | None]:
    demand: dict[str, Demand] = {name: start}
    order = list(graph.nodes)
    index = next(i for i, n in enumerate(order) if n.name == name)
    for node in reversed(order[: index + 1]):
        wanted = demand.pop(node.name, None)
        if wanted is None:
            continue
        layer = layers[node.name]
        assert layer is not None
        if wanted != ALL and clip:
            wanted = _clip(wanted, layer.output)  # type: ignore[arg-type]
            if any(w is None for w in wanted):
                continue  # only padding: nothing real behind it
        rule = node.op.windows(layer)
        for src in node.inputs:
            shape = _shape_of(graph, layers, src)
            if len(shape) == 1:
                need: Demand = ALL
            elif wanted == ALL or (rule == GLOBAL and len(shape) > 1):
                need = [(0, n - 1) for n in shape[:-1]]
            else:
                assert isinstance(wanted, list)
                view = Layer(layer.name, layer.attrs, [shape], layer.output)
                need = []
                for axis, w in enumerate(wanted):
                    need.append(None if w is None else node.op.input_span(view, axis, *w))
            demand[src] = _hull(demand.get(src), need)
    found = demand.get(INPUT)
    if found is None:
        return [None] * (len(graph.input_shape) - 1)
    if found == ALL:
        return [(0, n - 1) for n in graph.input_shape[:-1]]
    assert isinstance(found, list)
    return _clip(found, graph.input_shape) if clip else found


def _clip(wanted: list[tuple[int, int] | None], shape: Shape) -> list[tuple[int, int] | None]:
    clipped: list[tuple[int, int] | None] = []
    for w, n in zip(wanted, shape[:-1]):
        if w is None or w[1] < 0 or w[0] > n - 1:
            clipped.append(None)
        else:
            clipped.append((max(w[0], 0), min(w[1], n - 1)))
    return clipped
