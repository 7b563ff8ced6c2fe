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

from collections.abc import Callable
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
class Recurrence:
    """One of the recurrences, written once: ``fn`` computes the figure, ``formula`` shows it
    with the same terms put in (for ``--explain``)."""

    figure: str
    formula: str  # a str.format template over fn's parameter names
    fn: Callable[..., Num]

    def text(self, *terms: Num) -> str:
        code = self.fn.__code__
        names = code.co_varnames[: code.co_argcount]
        shown = self.formula.format(**{k: _term(v) for k, v in zip(names, terms)})
        return f"{shown} = {num(self.fn(*terms))}"


# r: the field's size, j: its stride (jump), c: its offset; k: the window's span d(k − 1) + 1,
# s: its stride, p: its leading padding. (k − 1 − 2p)/2 stays an int when whole.
RF_SIZE = Recurrence("RF", "{r} + ({k} − 1)·{j}", lambda r, k, j: r + (k - 1) * j)
RF_STRIDE = Recurrence("RF stride", "{j}·{s}", lambda j, s: j * s)
RF_OFFSET = Recurrence(
    "RF offset", "{c} + (({k} − 1)/2 − {p})·{j}", lambda c, k, p, j: c + _half(k - 1 - 2 * p) * j
)


@dataclass(frozen=True)
class Field:
    """A receptive field: the standard envelope (size, stride, offset per axis) and which of
    the envelope's pixels a unit actually reads.

    ``taps`` has one entry per axis: None when a unit reads every pixel of its window, else a
    bit mask over the window (bit i: the window's i-th pixel is read) — holes left by dilation
    or by a stride wider than the window. For a ``whole`` field (one unit seeing the whole
    input) the window is the input and ``taps`` says exactly which pixels that unit depends on:
    padding-only windows and rows a stride drops leave it short of the whole input. ``taps`` is
    None as a whole where paths of different strides meet (units then differ)."""

    size: tuple[Num, ...]
    stride: tuple[Num, ...]
    offset: tuple[Num, ...]
    whole: bool = False  # sees the whole input (after global pooling or flattening)
    taps: tuple[int | None, ...] | None = None

    def to_json(self) -> dict[str, object]:
        # The JSON contract's three keys; ``whole`` shows as size = stride = the input size.
        # "holes" and "span" (counted from the window's first pixel) are added only where
        # what a unit reads differs from the envelope.
        found: dict[str, object] = {
            "size": _nums(self.size),
            "stride": _nums(self.stride),
            "offset": _nums(self.offset),
        }
        if any(self.holes):
            found["holes"] = list(self.holes)
        if self.span != [(0, int(n) - 1) for n in self.size]:
            found["span"] = [list(s) if s else None for s in self.span]
        return found

    def window(self, unit: tuple[int, ...]) -> list[tuple[Num, Num]]:
        """First and last input pixel seen by ``unit``, per axis (on an aligned graph)."""
        return [
            (c + i * j - _half(r - 1), c + i * j + _half(r - 1))
            for c, j, r, i in zip(self.offset, self.stride, self.size, unit)
        ]

    @property
    def holes(self) -> list[bool]:
        """Per axis: does a unit skip pixels between the first and the last it reads?"""
        return [_has_holes(t) for t in self.taps or (None,) * len(self.size)]

    @property
    def span(self) -> list[tuple[int, int] | None]:
        """Per axis, the first and last pixel of the window that a unit reads (relative to the
        window's start; for a whole field, input pixels); None when it reads none."""
        found: list[tuple[int, int] | None] = []
        for t, r in zip(self.taps or (None,) * len(self.size), self.size):
            if t is None:
                found.append((0, int(r) - 1))
            elif t == 0:
                found.append(None)
            else:
                found.append(((t & -t).bit_length() - 1, t.bit_length() - 1))
        return found

    @property
    def skipped(self) -> list[list[int]]:
        """Per axis, the pixels between a unit's first and last that it does not read."""
        found: list[list[int]] = []
        for t, span in zip(self.taps or (None,) * len(self.size), self.span):
            if t is None or span is None:
                found.append([])
            else:
                found.append([i for i in range(span[0], span[1] + 1) if not t >> i & 1])
        return found


def _has_holes(taps: int | None) -> bool:
    if not taps:
        return False
    low = taps >> ((taps & -taps).bit_length() - 1)
    return low & (low + 1) != 0  # the bits from the first to the last are not all set


def _full(width: int) -> int:
    return (1 << width) - 1


def _nums(values: tuple[Num, ...]) -> list[int | float]:
    return [int(v) if v.denominator == 1 else float(v) for v in values]


@dataclass(frozen=True)
class NodeField:
    """The receptive-field analysis' answer for one node."""

    field: Field | None  # None where it is unknown or not defined
    note: str = ""  # why it is not defined, when it is not
    explain: tuple[tuple[str, str], ...] = ()  # the recurrences with the numbers put in


def _whole_input(graph: Graph, layers: dict[str, Layer | None], name: str) -> Field:
    """The field of a layer that sees its source whole: the window is the input, and the taps
    the exact pixels any unit of the source depends on."""
    spatial = tuple(graph.input_shape[:-1])
    reads = dependencies(graph, layers, name)
    taps = tuple(None if len(r) == n else sum(1 << p for p in r) for r, n in zip(reads, spatial))
    if any(t == 0 for t in taps):  # no input pixel at all on some axis: none on every axis
        taps = (0,) * len(spatial)
    return Field(spatial, spatial, tuple(_half(n - 1) for n in spatial), whole=True, taps=taps)


def receptive_fields(
    graph: Graph, layers: dict[str, Layer | None], diags: Diagnostics, explain: bool = False
) -> dict[str, NodeField]:
    """Every node's field, with why it is not defined where it is not; with ``explain``, the
    arithmetic of each field as (figure, formula) pairs."""
    found: dict[str, NodeField] = {}
    fields: dict[str, Field | None] = {}
    origin: dict[str, str] = {}  # layer whose field is not defined → where that started
    nodes = {n.name: n for n in graph.nodes}
    rank = len(graph.input_shape) - 1
    # plain ints where the values are whole; Fractions appear only where a half or a third does
    one, zero = (1,) * rank, (0,) * rank
    fields[INPUT] = Field(one, one, zero, taps=(None,) * rank) if rank else None
    for node in graph.nodes:
        layer = layers.get(node.name)
        sources = [fields.get(src) for src in node.inputs]
        field: Field | None = None
        note = ""
        lines: Explained = []
        if layer is not None and sources and rank:
            rule = node.op.windows(layer)
            after = [origin[src] for src in node.inputs if src in origin]
            if rule == GLOBAL:
                whole = next((f for f in sources if f is not None and f.whole), None)
                field = whole or _whole_input(graph, layers, node.name)
                lines = per_axis_figures("RF", [f"the whole input = {num(n)}" for n in field.size])
            elif rule == UNDEFINED and not after:
                origin[node.name] = node.name
                reason = node.op.why_undefined(layer)
                note = f"not defined: {reason}"
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
                note = f"not defined: follows {after[0]}, whose field is not defined"
            elif any(f is None for f in sources):
                pass
            elif len(sources) > 1 and any(f.whole for f in sources):  # type: ignore[union-attr]
                field = _whole_input(graph, layers, node.name)
            elif len(sources) > 1:
                field, lines = _union(node, sources, nodes, graph.scopes, diags)  # type: ignore[arg-type]
            else:
                source = sources[0]
                assert source is not None
                if source.whole or rule is None:
                    field = source
                    if node.op.selects_channels and not source.whole:
                        field = _sliced(graph, layers, node.name, source)
                else:
                    assert isinstance(rule, list)
                    field, lines = _apply(source, rule, explain)
        fields[node.name] = field
        if explain and field is not None:
            lines += _exact_lines(field)
        found[node.name] = NodeField(field, note, tuple(lines) if explain else ())
    return found


def _apply(field: Field, rule: list[Window], explain: bool) -> tuple[Field, Explained]:
    sizes, strides, offsets = [], [], []
    taps: list[int | None] = []
    texts: dict[Recurrence, list[str]] = {RF_SIZE: [], RF_STRIDE: [], RF_OFFSET: []}
    for axis, (r, j, c, w) in enumerate(zip(field.size, field.stride, field.offset, rule)):
        terms = {
            RF_SIZE: (r, w.span, j),
            RF_STRIDE: (j, w.stride),
            RF_OFFSET: (c, w.span, w.pad_before, j),
        }
        sizes.append(RF_SIZE.fn(*terms[RF_SIZE]))
        strides.append(RF_STRIDE.fn(*terms[RF_STRIDE]))
        offsets.append(RF_OFFSET.fn(*terms[RF_OFFSET]))
        taps.append(_window_taps(field.taps[axis] if field.taps else None, int(r), int(j), w))
        if explain:
            for rec, values in terms.items():
                texts[rec].append(rec.text(*values))
    new = Field(
        tuple(sizes), tuple(strides), tuple(offsets), taps=tuple(taps) if field.taps else None
    )
    return new, [line for rec, t in texts.items() for line in per_axis_figures(rec.figure, t)]


def _sliced(graph: Graph, layers: dict[str, Layer | None], name: str, field: Field) -> Field:
    """A field after a channel slice: the envelope stays the union over every path, but the
    kept channels may come from some paths only (a slice of a concat), so what a unit reads is
    found by walking back from a unit inside the input, where there is one."""
    layer = layers[name]
    assert layer is not None and field.taps is not None
    unit, starts = [], []
    for axis, n in enumerate(graph.input_shape[:-1]):
        for u in range(layer.output[axis]):
            lo, hi = field.window((0,) * axis + (u,) + (0,) * (len(field.size) - axis - 1))[axis]
            if lo >= 0 and hi <= n - 1:
                unit.append(u)
                starts.append(int(lo))
                break
        else:
            return field  # every unit is clipped: keep the paths' taps
    reads = dependencies(graph, layers, name, tuple(unit))
    taps = tuple(
        None if len(r) == int(size) else sum(1 << (p - start) for p in r)
        for r, start, size in zip(reads, starts, field.size)
    )
    return Field(field.size, field.stride, field.offset, taps=taps)


def _exact_lines(field: Field) -> Explained:
    """What a unit reads of its envelope, where that is not all of it: the first and last
    pixel (of its window; for a whole field, of the input) and the pixels skipped between."""
    full = [(0, int(r) - 1) for r in field.size]
    if not field.taps or (not any(field.holes) and field.span == full):
        return []
    where = "" if field.whole else " of the window"
    spans, holes = [], []
    for span, skipped in zip(field.span, field.skipped):
        if span is None:
            spans.append("none: every window it sees lies in padding = 0")
        else:
            a, b = span
            spans.append(f"[{a}, {b}]{where}: {b} − {a} + 1 = {b - a + 1}")
        if skipped:
            shown = ", ".join(map(str, skipped[:8])) + (", ..." if len(skipped) > 8 else "")
            holes.append(f"{shown}{where} not read = {len(skipped)}")
        else:
            holes.append("none = 0")
    lines = per_axis_figures("RF span", spans) if field.span != full else []
    return lines + (per_axis_figures("RF holes", holes) if any(field.holes) else [])


def _window_taps(taps: int | None, r: int, j: int, w: Window) -> int | None:
    """The taps of a unit after a window: the source units it reads start every d·j input
    pixels, each reading the source's taps."""
    step = w.dilation * j
    if taps is None and step <= r:
        return None  # overlapping or abutting full windows: no holes
    mask = _full(r) if taps is None else taps
    found = 0
    for t in range(0, w.span, w.dilation):
        found |= mask << (t * j)
    return None if found == _full(r + (w.span - 1) * j) else found


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
    lows = [tuple(c - _half(r - 1) for c, r in zip(f.offset, f.size)) for f in sources]
    highs = [tuple(c + _half(r - 1) for c, r in zip(f.offset, f.size)) for f in sources]
    lo = tuple(min(v) for v in zip(*lows))
    hi = tuple(max(v) for v in zip(*highs))
    stride = tuple(max(v) for v in zip(*(f.stride for f in sources)))
    size = tuple(h - low + 1 for low, h in zip(lo, hi))
    strides_differ = len({f.stride for f in sources}) > 1
    taps = None
    if not strides_differ and all(f.taps for f in sources):
        # Every unit reads the same pattern: each path's taps, shifted to where its window
        # starts within the union's (window starts are whole pixels).
        taps = tuple(_union_taps(sources, lows, lo, size, axis) for axis in range(len(lo)))
    union = Field(size, stride, tuple(_half(low + h) for low, h in zip(lo, hi)), taps=taps)
    labels = [path_label(node, src, nodes, scopes) for src in inputs]
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


def _union_taps(
    sources: list[Field],
    lows: list[tuple[Num, ...]],
    lo: tuple[Num, ...],
    size: tuple[Num, ...],
    axis: int,
) -> int | None:
    found = 0
    for f, low in zip(sources, lows):
        assert f.taps is not None
        mask = f.taps[axis]
        found |= (_full(int(f.size[axis])) if mask is None else mask) << int(low[axis] - lo[axis])
    return None if found == _full(int(size[axis])) else found


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
    ``reads`` is exactly the set of real input pixels (rows, columns, ...) the unit depends on:
    what a gradient from this unit reaches; ``inside`` its first and last (None on an axis where
    it depends on none), ``holes`` whether it skips any in between."""

    layer: str
    unit: tuple[int, ...]
    input_shape: Shape
    window: list[tuple[int, int] | None]
    reads: tuple[frozenset[int], ...]

    @property
    def padding(self) -> list[tuple[int, int]]:
        found = []
        for n, w in zip(self.input_shape[:-1], self.window):
            if w is None:
                found.append((0, 0))
            else:
                found.append((max(0, -w[0]), max(0, w[1] - (n - 1))))
        return found

    @property
    def inside(self) -> list[tuple[int, int] | None]:
        return [(min(r), max(r)) if r else None for r in self.reads]

    @property
    def holes(self) -> list[bool]:
        return [bool(r) and len(r) != max(r) - min(r) + 1 for r in self.reads]

    def to_json(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "unit": list(self.unit),
            "window": [list(w) if w else None for w in self.window],
            "padding": [list(p) for p in self.padding],
            "inside": [list(w) if w else None for w in self.inside],
            "holes": self.holes,
            "skipped": [
                sorted(set(range(w[0], w[1] + 1)) - r) if w else []
                for w, r in zip(self.inside, self.reads)
            ],
        }


def unit_window(
    graph: Graph, layers: dict[str, Layer | None], name: str, unit: tuple[int, ...]
) -> UnitWindow:
    """The input window of ``unit`` (one index per spatial axis of layer ``name``; one index
    into a flat layer). Exact through every op, merges and undefined fields included."""
    layer = layers[name]
    assert layer is not None
    flat = len(layer.output) == 1
    start: Demand = ALL if flat else [(i, i) for i in unit]
    window = _walk_back(graph, layers, name, start)
    reads = dependencies(graph, layers, name, None if flat else unit)
    return UnitWindow(name, unit, graph.input_shape, window, reads)


# A set of units of one node: the positions along each spatial axis (their product) and the
# channels (None: all of them).
Box = tuple[tuple[frozenset[int], ...], frozenset[int] | None]


def dependencies(
    graph: Graph,
    layers: dict[str, Layer | None],
    name: str,
    unit: tuple[int, ...] | None = None,
) -> tuple[frozenset[int], ...]:
    """Exactly the input pixels that ``unit`` of layer ``name`` depends on (every unit of the
    layer when None), as the set of rows, columns, ... each of them lies on.

    Walks the graph backwards from the unit with each op's :meth:`Op.input_positions` and
    :meth:`Op.input_channels`, dropping at every layer the positions that are padding or that
    no real unit holds. A set of units is kept as boxes (a product of per-axis positions and a
    channel set), so a path that reaches only padding on one axis contributes nothing on the
    others, and a channel slice after a concat follows only the branches it keeps."""
    layer = layers[name]
    assert layer is not None
    start: Box = (
        _everything(layer.output) if unit is None else tuple(frozenset({i}) for i in unit),
        None,
    )
    demand: dict[str, list[Box]] = {name: [start]}
    index = next(i for i, n in enumerate(graph.nodes) if n.name == name)
    for node in reversed(graph.nodes[: index + 1]):
        boxes = demand.pop(node.name, None)
        if not boxes:
            continue
        layer = layers[node.name]
        assert layer is not None
        rule = node.op.windows(layer)
        for k, src in enumerate(node.inputs):
            shape = layer.inputs[k]
            view = layer if len(node.inputs) == 1 else Layer(layer.name, layer.attrs, [shape])
            for positions, channels in boxes:
                chans = node.op.input_channels(layer, k, channels)
                if chans is not None and not chans:
                    continue  # the wanted channels come from other inputs
                if len(shape) == 1:
                    need: tuple[frozenset[int], ...] = ()
                elif rule == GLOBAL or len(positions) != len(shape) - 1:
                    need = _everything(shape)
                elif rule is None:  # pointwise: the same positions (the walk's common case)
                    need = positions
                else:
                    need = tuple(
                        frozenset(
                            p
                            for p in node.op.input_positions(view, axis, set(wanted))
                            if 0 <= p < shape[axis]
                        )
                        for axis, wanted in enumerate(positions)
                    )
                    if not all(need):
                        continue  # only padding (or dropped units) along some axis
                _add_box(demand.setdefault(src, []), (need, chans))
    found = demand.get(INPUT, [])
    rank = len(graph.input_shape) - 1
    return tuple(frozenset().union(*(box[0][axis] for box in found)) for axis in range(rank))


def _everything(shape: Shape) -> tuple[frozenset[int], ...]:
    return tuple(frozenset(range(n)) for n in shape[:-1]) if len(shape) > 1 else ()


def _add_box(boxes: list[Box], new: Box) -> None:
    """Add ``new`` to a union of boxes, keeping no box that another contains."""

    def within(a: Box, b: Box) -> bool:
        return (b[1] is None or (a[1] is not None and a[1] <= b[1])) and all(
            x <= y for x, y in zip(a[0], b[0])
        )

    if any(within(new, old) for old in boxes):
        return
    boxes[:] = [old for old in boxes if not within(old, new)]
    for i, old in enumerate(boxes):
        if old[0] == new[0]:  # same positions: one box with both channel sets
            chans = None if old[1] is None or new[1] is None else old[1] | new[1]
            boxes[i] = (old[0], chans)
            return
    boxes.append(new)


ALL = "all"  # the demand on a flat tensor: every element
Demand = list[tuple[int, int] | None] | str


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
    graph: Graph, layers: dict[str, Layer | None], name: str, start: Demand
) -> list[tuple[int, int] | None]:
    """The hull of the unit's window, padding included, walked back with the ops'
    :meth:`Op.input_span`."""
    demand: dict[str, Demand] = {name: start}
    order = list(graph.nodes)
    index = next(i for i, n in enumerate(order) if n.name == name)
    for node in reversed(order[: index + 1]):
        wanted = demand.pop(node.name, None)
        if wanted is None:
            continue
        layer = layers[node.name]
        assert layer is not None
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
    return found
