"""The op registry's building blocks.

An op (conv, maxpool, dense, ...) is one subclass of :class:`Op`, registered with
:func:`register`. It declares its attributes with defaults and aliases, and gives its rules side
by side: output shape (which doubles as validation), weight shapes (parameters are derived from
them), buffers (state that is stored but not learned), MACs and FLOPs, the receptive-field rule,
and the NumPy forward. Analyzers, renderers and the CLI only ever go through this interface.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, NamedTuple

from archcalc.counting import Rule
from archcalc.diagnostics import did_you_mean
from archcalc.shapes import Shape, format_shape, numel, out_length, pad_pairs, per_axis

Array = Any  # a numpy.ndarray; typed loosely so the analysis core never imports numpy


class OpError(Exception):
    """A layer whose attributes or inputs do not make sense. ``attr`` names the culprit."""

    def __init__(self, message: str, hint: str = "", attr: str = "", code: str = "shape") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.attr = attr
        self.code = code


REQUIRED: Any = object()


@dataclass(frozen=True)
class Attr:
    """One attribute of an op.

    ``kind`` is one of: ``posint`` (>= 1), ``nonneg`` (>= 0), ``int``, ``float``, ``prob``
    (0 <= p < 1), ``bool``, ``window`` (a positive int or one per spatial axis), ``extra`` (the same, zero
    allowed), ``padding``
    (an int, one per axis, four sides, ``same`` or ``valid``), ``choice``, ``matrix`` (nested
    lists of numbers, for fixed kernels), ``indices`` (one or more integers >= 0, as a tuple),
    ``number`` (a float, or a fraction written "1/9"), ``numbers`` (a float, or one per
    channel as a tuple of floats).
    """

    kind: str
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    doc: str = ""
    default_text: str = ""  # the default as the docs state it, when not the value itself

    def check(self, value: Any) -> Any:
        """Validate and normalise a user-given value; raise OpError on a wrong type or range."""
        kind = self.kind
        if kind in ("posint", "nonneg", "int"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise OpError(f"expected an integer, got {_describe(value)}")
            low = {"posint": 1, "nonneg": 0}.get(kind)
            if low is not None and value < low:
                raise OpError(f"must be {'positive' if low else 'zero or more'}, got {value}")
            return value
        if kind == "number" and isinstance(value, str):
            # A written fraction such as "1/9" (the course writes the box filter 1/9 · ones).
            try:
                return float(Fraction(value.replace(" ", "")))
            except (ValueError, ZeroDivisionError):
                raise OpError(
                    f"expected a number or a fraction such as 1/9, got {_describe(value)}"
                ) from None
        if kind in ("float", "prob", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OpError(f"expected a number, got {_describe(value)}")
            if kind == "prob" and not 0 <= value < 1:
                raise OpError(f"must be a probability in [0, 1), got {value}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise OpError(f"expected true or false, got {_describe(value)}")
            return value
        if kind == "window":
            return _ints(value, 1, "a positive integer or one per spatial axis, such as [3, 5]")
        if kind == "extra":
            return _ints(value, 0, "an integer >= 0 or one per spatial axis, such as [0, 1]")
        if kind == "padding":
            if isinstance(value, str):
                if value.lower() in ("same", "valid"):
                    return value.lower()
                raise OpError(
                    f"expected an integer, a pair, four sides, 'same' or 'valid', got '{value}'"
                )
            if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
                pairs = tuple(_ints(v, 0, "a pair [before, after]") for v in value)
                if any(not isinstance(p, tuple) or len(p) != 2 for p in pairs):
                    raise OpError("each per-axis padding must be a pair [before, after]")
                return pairs
            return _ints(
                value, 0, "an integer, one per axis, or four sides [top, bottom, left, right]"
            )
        if kind == "choice":
            if not isinstance(value, str) or value.lower() not in self.choices:
                raise OpError(f"expected one of {', '.join(self.choices)}, got {_describe(value)}")
            return value.lower()
        if kind == "matrix":
            return _matrix(value)
        if kind == "numbers":
            values = value if isinstance(value, list) else [value]
            if not values or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in values
            ):
                raise OpError(f"expected a number or a list of numbers, got {_describe(value)}")
            return float(values[0]) if not isinstance(value, list) else tuple(map(float, values))
        if kind == "indices":
            items = _ints(value, 0, "an index or a list of indices, such as [0, 1, 2]")
            return items if isinstance(items, tuple) else (items,)
        raise AssertionError(f"unknown attribute kind {kind}")


# What to write instead, per kind, when a value is wrong and the check gives no better hint.
_KIND_HINTS = {
    "posint": "give a whole number of at least 1",
    "nonneg": "give a whole number, 0 or more",
    "int": "give a whole number",
    "float": "give a number, such as 0.5",
    "prob": "give a probability such as 0.5",
    "bool": "write true or false",
    "window": "give a positive whole number such as 3, or one per spatial axis such as [3, 5]",
    "extra": "give a whole number, 0 or more, or one per spatial axis such as [0, 1]",
    "padding": "give a number such as 1, one per axis [1, 2], four sides [top, bottom, left, right], same or valid",
    "numbers": "give a number such as 0.5, or one per channel such as [0.485, 0.456, 0.406]",
}


@dataclass(frozen=True)
class AttrIssue:
    """A problem with a layer's attributes, found by :meth:`Op.parse_attrs`, for the spec
    builder to report at ``key`` (the key as written; None: the layer itself), or at its value
    when ``on_value``."""

    code: str
    message: str
    hint: str
    key: Any = None
    on_value: bool = False


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the text '{value}'"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'mapping'}"
    return repr(value)


def _ints(value: Any, low: int, what: str) -> int | tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise OpError(f"expected {what}, got {_describe(value)}")
    for v in items:
        if v < low:
            raise OpError(f"sizes must be {'positive' if low else 'zero or more'}, got {v}")
    return tuple(items) if isinstance(value, list) else value


def _matrix(value: Any) -> Any:
    def ok(v: Any) -> bool:
        if isinstance(v, list):
            return bool(v) and all(ok(x) for x in v)
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not isinstance(value, list) or not ok(value):
        raise OpError("expected a matrix of numbers, such as [[0, 1, 0], [1, -4, 1], [0, 1, 0]]")
    return value


@dataclass
class AxisFit:
    """How a sliding window fits one spatial axis (the stride-fit analysis)."""

    axis: int
    size: int  # input length along the axis
    span: int  # effective kernel extent, d*(k-1)+1
    stride: int
    pad_before: int
    pad_after: int
    out: int  # output length the framework produces
    remainder: int  # positions after the last window that no window starts over
    ceil_mode: bool = False

    @property
    def exact(self) -> Fraction:
        """The course's (N + 2P - F)/S + 1, unrounded."""
        return Fraction(self.size + self.pad_before + self.pad_after - self.span, self.stride) + 1

    @property
    def lost_real(self) -> int:
        """Input rows/columns (not padding) that no window ever covers."""
        return 0 if self.ceil_mode else max(0, self.remainder - self.pad_after)


@dataclass(frozen=True)
class Window:
    """One axis of a sliding window, for the receptive-field walk: ``span`` input units wide,
    moved by ``stride``, starting ``pad_before`` units before the input; it reads every
    ``dilation``-th unit of its span (the taps 0, d, 2d, ..., span − 1)."""

    span: int
    stride: int
    pad_before: int
    dilation: int = 1


class Geometry(NamedTuple):
    """A sliding window resolved per spatial axis: what every rule of a windowed op reads."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]  # (before, after)

    @property
    def spans(self) -> tuple[int, ...]:
        """Effective extent of the window per axis, d·(k − 1) + 1."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": [list(p) for p in self.padding],
            "dilation": list(self.dilation),
        }


GLOBAL = "global"  # the output sees the whole input (global pooling, dense on a flat vector)
UNDEFINED = "undefined"  # no integer window describes it (transposed conv, upsampling)


@dataclass
class Layer:
    """What an op's rules see of one node: its attributes and its input/output shapes."""

    name: str
    attrs: dict[str, Any]
    inputs: list[Shape]
    output: Shape = ()
    fits: list[AxisFit] = field(default_factory=list)
    geometry: Geometry | None = None  # resolved once, by the op's first rule that needs it

    @property
    def input(self) -> Shape:
        return self.inputs[0]

    @property
    def rank(self) -> int:
        """Number of spatial axes of the (first) input."""
        return len(self.inputs[0]) - 1

    def per_axis(self, attr: str) -> tuple[int, ...]:
        """An int-or-tuple attribute expanded to one value per spatial axis."""
        value = self.attrs[attr]
        try:
            return per_axis(value, self.rank)
        except ValueError:
            raise OpError(
                f"{attr} has {len(value)} values but the input {format_shape(self.input)} has "
                f"{self.rank} spatial ax{'is' if self.rank == 1 else 'es'}",
                f"give one {attr} per spatial axis, or a single integer",
                attr=attr,
            ) from None

    def padding(
        self, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
    ) -> tuple[tuple[int, int], ...]:
        """Per-axis (before, after) padding, resolving ``same``/``valid`` and four-side forms."""
        value = self.attrs.get("padding", 0)
        rank = self.rank
        if value == "valid":
            return ((0, 0),) * rank
        if value == "same":
            # TensorFlow's rule: output = ceil(N / S); any odd total puts the extra after.
            pads = []
            for n, k, s, d in zip(self.input[:-1], kernel, stride, dilation):
                total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        try:
            return pad_pairs(value, rank)
        except ValueError as err:
            raise OpError(
                str(err),
                "give one per axis, or two per axis in the order before, after (for 2-D: "
                "[top, bottom, left, right])",
                attr="padding",
            ) from None

    def slide(self, geometry: Geometry, ceil_mode: bool = False) -> tuple[int, ...]:
        """Output spatial sizes of a sliding window, recording how it fits each axis."""
        out = []
        for axis, (n, span, s, (pb, pa)) in enumerate(
            zip(self.input[:-1], geometry.spans, geometry.stride, geometry.padding)
        ):
            room = n + pb + pa - span
            if room < 0:
                raise OpError(
                    f"the {span}-wide window does not fit the {n}-long axis {axis}"
                    + (f" even with padding {pb}+{pa}" if pb or pa else "")
                    + f": ({n} + {pb + pa} − {span})/{s} + 1 = {Fraction(room, s) + 1}, no output",
                    "use a smaller kernel, more padding, or a larger input",
                    code="stride-fit",
                )
            size = out_length(n, span, s, pb, pa, ceil_mode)
            self.fits.append(AxisFit(axis, n, span, s, pb, pa, size, room % s, ceil_mode))
            out.append(size)
        return tuple(out)


class Op:
    """Base of every layer type. Subclasses override what differs from a parameter-free,
    shape-preserving, zero-cost, pointwise op."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "other"  # conv, pool, dense, norm, activation, merge, reshape
    summary: ClassVar[str] = ""
    attrs: ClassVar[dict[str, Attr]] = {}
    shorthand: ClassVar[str | None] = None  # `dense: 4096` sets this attribute
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    min_rank: ClassVar[int] = 0  # spatial axes the input needs
    macs_rule: ClassVar[str] = "0"  # macs() in words, one line, for docs/counting.md
    flops_rule: ClassVar[str] = "0"  # flops() in words, one line
    channelwise: ClassVar[bool] = False  # output channel c reads input channel c only
    selects_channels: ClassVar[bool] = False  # drops input channels (a channel slice)
    # How the counting conventions (archcalc/counting.py) count this op where it differs from
    # the rule of its family: convention name → Rule.
    counts: ClassVar[Mapping[str, Rule]] = {}
    torch_equivalent: ClassVar[str] = "?"  # the PyTorch code the op stands for, in words
    # A torch.nn module that takes the op's attributes in their declared order (nn.Dropout(p)):
    # names the equivalent and builds it, unless the op says otherwise.
    torch_class: ClassVar[str | None] = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if cls.torch_class is not None and "torch_equivalent" not in vars(cls):
            cls.torch_equivalent = f"nn.{cls.torch_class}"

    @property
    def learns(self) -> bool:
        """Whether the op can have learnable weights at all."""
        return type(self).weights is not Op.weights

    def attr_name(self, key: str) -> str | None:
        """The declared attribute that ``key`` (a name or an alias, any case) stands for."""
        key = key.lower()
        for name, spec in self.attrs.items():
            if key == name or key in spec.aliases:
                return name
        return None

    def parse_attrs(
        self, given: Mapping[Any, Any], common: tuple[str, ...] = ()
    ) -> tuple[dict[str, Any], dict[str, Any], list[AttrIssue]]:
        """Check a layer's attributes as written (``given``, in order; keys in ``common`` belong
        to the builder and are passed over) against the declaration: aliases resolved, each value
        checked and normalised, defaults filled in, required ones demanded. Returns the
        attributes, the key each given attribute was written as, and the problems found."""
        import difflib

        keys: dict[str, Any] = {}
        issues: list[AttrIssue] = []
        misspelt: set[str] = set()
        for key in given:
            if key in common:
                continue
            attr = self.attr_name(str(key))
            if attr is None:
                names = [*self.attrs, *(a for s in self.attrs.values() for a in s.aliases), *common]
                # a misspelt attribute is reported once, not again as missing
                for close in difflib.get_close_matches(str(key).lower(), names, n=1, cutoff=0.6):
                    misspelt.add(self.attr_name(close) or close)
                hint = did_you_mean(str(key), set(names)) or (
                    f"{self.name} takes {', '.join([*self.attrs, *common])}"
                )
                issues.append(
                    AttrIssue("unknown-key", f"{self.name} has no attribute '{key}'", hint, key)
                )
            elif attr in keys:
                issues.append(
                    AttrIssue(
                        "duplicate-key",
                        f"'{key}' repeats {self.name}'s attribute '{attr}'",
                        "give each attribute once",
                        key,
                    )
                )
            else:
                keys[attr] = key
        attrs: dict[str, Any] = {}
        for attr, spec in self.attrs.items():
            if attr in keys:
                try:
                    attrs[attr] = spec.check(given[keys[attr]])
                except OpError as err:
                    hint = err.hint or _KIND_HINTS.get(spec.kind, spec.doc)
                    message = f"{self.name} {attr}: {err.message}"
                    issues.append(AttrIssue("value", message, hint, keys[attr], on_value=True))
            elif spec.default is REQUIRED and attr not in misspelt:
                issues.append(
                    AttrIssue(
                        "missing-attribute",
                        f"{self.name} needs '{attr}'" + (f" ({spec.doc})" if spec.doc else ""),
                        f"add '{attr}: ...' to this layer",
                    )
                )
            else:
                attrs[attr] = spec.default
        return attrs, keys, issues

    def output_shape(self, layer: Layer) -> Shape:
        return layer.input

    def weights(self, layer: Layer) -> dict[str, Shape]:
        """Learnable arrays by name; ``params`` is the sum of their sizes."""
        return {}

    def buffers(self, layer: Layer) -> dict[str, Shape]:
        """Stored arrays that are not learned (batchnorm's running statistics)."""
        return {}

    def macs(self, layer: Layer) -> int:
        return 0

    def flops(self, layer: Layer) -> int:
        return 0

    def geometry(self, layer: Layer) -> Geometry | None:
        """The sliding window's hyperparameters per spatial axis; None for ops without one."""
        return None

    def windows(self, layer: Layer) -> list[Window] | str | None:
        """Receptive-field rule: per-axis windows, ``GLOBAL``, ``UNDEFINED``, or ``None`` for
        pointwise ops."""
        return None

    def input_span(self, layer: Layer, axis: int, lo: int, hi: int) -> tuple[int, int] | None:
        """The input positions along spatial ``axis`` that output positions ``lo..hi`` depend on,
        as a closed range that may reach into padding (below 0 or past the end); None when they
        depend on none. Derived from :meth:`windows`; ops whose rule is ``UNDEFINED`` override it
        so that any single unit's window is still exact."""
        rule = self.windows(layer)
        if rule is None:
            return lo, hi
        if rule == GLOBAL:
            return 0, layer.input[axis] - 1
        if rule == UNDEFINED:
            raise NotImplementedError(f"{self.name} must give input_span() for its UNDEFINED rule")
        assert isinstance(rule, list)
        w = rule[axis]
        return lo * w.stride - w.pad_before, hi * w.stride - w.pad_before + w.span - 1

    def input_positions(self, layer: Layer, axis: int, positions: set[int]) -> set[int]:
        """Exactly the input positions along spatial ``axis`` that the output ``positions`` read,
        padding included (below 0 or past the end): unlike :meth:`input_span`, without the units
        a window skips (dilation, a stride wider than the window). Derived from :meth:`windows`;
        for an ``UNDEFINED`` rule each unit's :meth:`input_span` must be exact (an op whose
        single unit skips inputs overrides this)."""
        rule = self.windows(layer)
        if rule is None:
            return set(positions)
        if rule == GLOBAL:
            return set(range(layer.input[axis])) if positions else set()
        if rule == UNDEFINED:
            found: set[int] = set()
            for o in positions:
                span = self.input_span(layer, axis, o, o)
                if span is not None:
                    found.update(range(span[0], span[1] + 1))
            return found
        assert isinstance(rule, list)
        w = rule[axis]
        starts = {o * w.stride - w.pad_before for o in positions}
        return {a + t for a in starts for t in range(0, w.span, w.dilation)}

    def input_channels(
        self, layer: Layer, index: int, channels: frozenset[int] | None
    ) -> frozenset[int] | None:
        """The channels of input ``index`` that output ``channels`` read; None means all of them.
        The default suits ops that mix channels (a conv of one group, dense, softmax); ops that
        keep channel c on channel c set ``channelwise``."""
        return channels if self.channelwise else None

    def why_undefined(self, layer: Layer) -> str:
        """Why :meth:`windows` is ``UNDEFINED`` for this layer, in one sentence."""
        return (
            f"{self.name} units do not all see equally wide, equally spaced input windows, so no "
            "single size, stride and offset describe the layer"
        )

    def explain(self, layer: Layer) -> list[tuple[str, str]]:
        """The arithmetic behind this layer's figures, as (figure, formula with the numbers put
        in and its result). The default covers sliding-window output sizes (from ``layer.fits``)
        and parameters (from :meth:`weights`); ops with MACs or FLOPs worth deriving override it
        and extend this list. Every formula's final number must equal the op's own figure."""
        found = explain_fits(layer)
        weights = self.weights(layer)
        if weights:
            found.append(("params", params_formula(weights)))
        return found

    def forward(self, layer: Layer, xs: list[Array], params: dict[str, Array]) -> Array:
        """Run the layer on a batch: each of ``xs`` is ``(N, *spatial, C)`` (channels last),
        ``params`` holds the arrays named by :meth:`weights` and :meth:`buffers`. Every
        registered op overrides it, importing :mod:`archcalc.backend.kernels` inside the
        method so that analysis never imports numpy."""
        raise NotImplementedError(f"{self.name} has no NumPy forward yet")

    def forward_inplace(
        self, layer: Layer, xs: list[Array], params: dict[str, Array]
    ) -> Array | None:
        """:meth:`forward` writing its output over ``xs[0]``, or None where the op cannot.
        The executor offers it only when nothing else reads ``xs[0]`` (not a later layer,
        not another input of this one, no array sharing its memory), saving the output's
        allocation and its page faults."""
        return None

    # An inference batch norm after a convolution is computed in the convolution's weights
    # (backend.executor.affine_folds): ops that are a per-channel affine map say so, and ops
    # linear in their weights can absorb one.
    is_channel_affine = False
    absorbs_affine = False

    def channel_affine(self, layer: Layer, params: dict[str, Array], dtype: Any) -> Any:
        """For an op with ``is_channel_affine``: ``(scale, shift)`` per channel, in ``dtype``,
        such that at inference its output is ``x * scale + shift``."""
        raise NotImplementedError(f"{self.name} is not a per-channel affine map")

    def forward_affine(
        self, layer: Layer, xs: list[Array], params: dict[str, Array], scale: Array, shift: Array
    ) -> Array:
        """For an op with ``absorbs_affine``: :meth:`forward` followed by ``y * scale + shift``
        per output channel, computed by scaling the weights instead of the output (one pass
        over the kernel instead of two over the output)."""
        raise NotImplementedError(f"{self.name} cannot absorb an affine map")

    def workspace(self, layer: Layer, batch: int, itemsize: int) -> int:
        """Temporary bytes the forward allocates beyond its inputs and output, at most, for the
        backend's memory guard."""
        return 0

    def fixed_params(self, layer: Layer) -> dict[str, Array]:
        """Arrays the spec itself gives (a conv's inline ``weights``); the rest are supplied
        by the caller (random for ``verify``, a ``.npz`` for ``run``)."""
        return {}

    def support(self, layer: Layer, masks: list[Array], params: dict[str, Array]) -> Array:
        """Which outputs depend on the marked inputs, for measuring receptive fields.

        ``masks`` are 0/1 arrays shaped like the inputs; ``params`` are all ones. The result is
        positive exactly where an output depends on a marked input. The default runs the
        forward itself, which is right for every op that sends 0 to 0 and positive values to
        positive ones when its weights are positive; ops with an additive term (a bias, a
        shift) or that turn zeros into non-zeros override it.
        """
        return self.forward(layer, masks, params)

    def support_any_channel(
        self, layer: Layer, masks: list[Array], params: dict[str, Array]
    ) -> Array:
        """Like :meth:`support` for masks that are the same on every channel, but answering only
        whether *some* channel of each output position depends on a marked input (as a mask
        that is the same on every channel): all a receptive field needs when no op of the net
        :attr:`selects_channels`. The default reduces :meth:`support`'s answer; an op that would
        build every channel only to have it reduced (concat) overrides it."""
        import numpy as np

        y = self.support(layer, masks, params)
        if y.ndim < 2:
            return y
        one = y[..., :1] if y.strides[-1] == 0 else y.max(axis=-1, keepdims=True)
        return np.broadcast_to((one > 0).astype(y.dtype), y.shape)

    def torch_module(self, layer: Layer) -> Any:
        """The PyTorch module (N, C, ... layout) this layer stands for, as the oracle tests
        build networks; :meth:`torch_state` gives its parameters."""
        if self.torch_class is None:
            raise NotImplementedError(f"{self.name} has no PyTorch module")
        from torch import nn

        return getattr(nn, self.torch_class)(*layer.attrs.values())

    def torch_state(self, layer: Layer, params: Mapping[str, Array]) -> dict[str, Array]:
        """The layer's arrays in the layouts of :meth:`torch_module`'s parameters and buffers,
        by their names (the last part of each state_dict key)."""
        return {}

    def describe(self, layer: Layer) -> str:
        """Key hyperparameters in the course's notation, for tables and diagrams."""
        return ""


class SlidingWindow(Op):
    """Base of the ops that slide a window (convolutions, pooling). Their kernel, stride,
    dilation and padding are resolved per axis once per layer, then every rule reads them."""

    def resolve(self, layer: Layer) -> Geometry:
        kernel = layer.per_axis("kernel")
        stride = layer.per_axis("stride") if layer.attrs["stride"] else kernel  # 0: the window
        dilation = layer.per_axis("dilation") if "dilation" in layer.attrs else (1,) * layer.rank
        return Geometry(kernel, stride, dilation, layer.padding(kernel, stride, dilation))

    def geometry(self, layer: Layer) -> Geometry:
        if layer.geometry is None:
            layer.geometry = self.resolve(layer)
        return layer.geometry

    def windows(self, layer: Layer) -> list[Window] | str:
        g = self.geometry(layer)
        return [
            Window(span, s, pb, d)
            for span, s, (pb, _), d in zip(g.spans, g.stride, g.padding, g.dilation)
        ]


def on_one_channel(masks: list[Array]) -> list[Array] | None:
    """For the ``support`` rules of ops that treat every channel alike: when every mask is the
    same on all channels (a view broadcast along them, as the conv and dense rules return), the
    masks' first channel, to compute on and broadcast back; otherwise None."""
    if all(m.ndim >= 2 and m.shape[-1] > 1 and m.strides[-1] == 0 for m in masks):
        return [m[..., :1] for m in masks]
    return None


def broadcast_channels(y: Array, channels: int) -> Array:
    import numpy as np

    return np.broadcast_to(y, (*y.shape[:-1], channels))


REGISTRY: dict[str, Op] = {}
ALIASES: dict[str, str] = {}


def register(cls: type[Op]) -> type[Op]:
    op = cls()
    for word in (cls.name, *cls.aliases):
        if word in ALIASES:
            raise AssertionError(f"op name {word} registered twice")
        ALIASES[word] = cls.name
    REGISTRY[cls.name] = op
    return cls


def out_elements(layer: Layer) -> int:
    return numel(layer.output)


def padded_input_bytes(layer: Layer, batch: int, itemsize: int) -> int:
    """Bytes of a windowed layer's input copied with its padding (all inputs without fits)."""
    if not layer.fits:
        return batch * itemsize * sum(numel(s) for s in layer.inputs)
    sizes = (f.size + f.pad_before + f.pad_after for f in layer.fits)
    return batch * itemsize * layer.input[-1] * math.prod(sizes)


def spatial(shape: Shape) -> Shape:
    return shape[:-1]


def num(value: int | Fraction) -> str:
    """A figure as the course writes it: 34,944; 5.5."""
    if isinstance(value, int) or value.denominator == 1:
        return f"{int(value):,}"
    return f"{float(value):g}"


def product(values: tuple[int, ...] | list[int]) -> str:
    return "·".join(str(v) for v in values)


_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def axis_names(rank: int) -> tuple[str, ...]:
    return _AXIS_NAMES.get(rank, tuple(f"axis{i}" for i in range(rank)))


def per_axis_figures(figure: str, formulas: list[str]) -> list[tuple[str, str]]:
    """One entry when every axis has the same formula, else one per axis ("output H")."""
    if not formulas:
        return []
    if len(set(formulas)) == 1:
        return [(figure, formulas[0])]
    return [(f"{figure} {a}", f) for a, f in zip(axis_names(len(formulas)), formulas)]


def fit_explained(fit: AxisFit, dilation: int = 1) -> str:
    """The course's (N + 2P − F)/S + 1 for one axis, with the numbers put in."""
    pads = (
        f" + 2·{fit.pad_before}"
        if fit.pad_before == fit.pad_after
        else f" + {fit.pad_before} + {fit.pad_after}"
    )
    span = str(fit.span)
    if dilation > 1:
        span = f"({dilation}·({(fit.span - 1) // dilation + 1} − 1) + 1)"
    text = f"({fit.size}{pads} − {span})/{fit.stride} + 1 = {num(fit.exact)}"
    if fit.exact != fit.out:
        text += f" → {fit.out}" + (" (rounded up)" if fit.ceil_mode else " (rounded down)")
    return text


def explain_fits(layer: Layer) -> list[tuple[str, str]]:
    dilation = layer.attrs.get("dilation", 1) if layer.fits else 1
    dilations = (
        (dilation,) * len(layer.fits) if isinstance(dilation, int) else tuple(dilation)
    ) or (1,) * len(layer.fits)
    return per_axis_figures("output", [fit_explained(f, d) for f, d in zip(layer.fits, dilations)])


def params_formula(weights: dict[str, Shape]) -> str:
    """(11·11·3 + 1)·96 = 34,944 for a kernel with a bias per filter; a plain sum otherwise."""
    total = sum(numel(s) for s in weights.values())
    kernel, bias = weights.get("kernel"), weights.get("bias")
    if kernel and len(weights) == (2 if bias else 1) and (not bias or bias == kernel[-1:]):
        fan_in = product(kernel[:-1])
        if bias:
            return f"({fan_in} + 1)·{kernel[-1]} = {num(total)}"
        return f"{fan_in}·{kernel[-1]} = {num(total)}"
    terms = [product(s) for s in weights.values()]
    return f"{' + '.join(terms)} = {num(total)}"
