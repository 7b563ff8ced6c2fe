"""Tensor shapes in the course's notation.

A shape is a tuple of positive ints, spatial axes first and channels last, batch excluded:
``(227, 227, 3)`` is written ``227x227x3``; a 1-D signal ``(16000, 1)`` is ``16000x1``; a flat
vector ``(4096,)`` is ``4096``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any

from archcalc.diagnostics import UsageError

Shape = tuple[int, ...]

_SHAPE_RE = re.compile(r"^\s*-?\d+(\s*[x×X*,]\s*-?\d+)*\s*$")


def parse_shape(text: str | int | list[int]) -> Shape:
    """Parse ``227x227x3`` (also ``227×227×3``, ``227,227,3``, a list, or a single int)."""
    if isinstance(text, bool):
        raise UsageError(f"expected a shape like 227x227x3, got {text!r}")
    if isinstance(text, int):
        parts = [text]
    elif isinstance(text, (list, tuple)):
        if not text or not all(isinstance(p, int) and not isinstance(p, bool) for p in text):
            raise UsageError(
                f"expected a shape like 227x227x3 or [227, 227, 3], got {list(text)!r}",
                "write the input as H x W x C (2-D) or length x channels (1-D)",
            )
        parts = list(text)
    elif isinstance(text, str) and _SHAPE_RE.match(text):
        parts = [int(p) for p in re.split(r"[x×X*,]", text.replace(" ", ""))]
    else:
        raise UsageError(
            f"expected a shape like 227x227x3, got {text!r}",
            "write the input as H x W x C (2-D, e.g. 227x227x3) or length x channels "
            "(1-D, e.g. 16000x1)",
        )
    if len(parts) > 4:
        raise UsageError(
            f"shape {format_shape(tuple(parts))} has {len(parts)} axes; at most 3 spatial "
            "axes plus channels are supported",
            "the batch is not part of the shape: pass it with --batch",
        )
    bad = [p for p in parts if p <= 0]
    if bad:
        raise UsageError(
            f"shape {'x'.join(str(p) for p in parts)} has a size of {bad[0]}; every size must "
            "be a positive integer",
        )
    return tuple(parts)


def format_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "x".join(str(s) for s in shape)


def numel(shape: Shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def out_length(n: int, span: int, stride: int, before: int, after: int, ceil: bool = False) -> int:
    """How many windows of extent ``span`` (d·(k − 1) + 1) fit along a padded axis of length
    ``n``: PyTorch's rule, the course's ⌊(N + P − F)/S⌋ + 1, or rounded up with ``ceil`` except
    that a last window starting in the right padding is dropped. May be 0 or less when the
    window is wider than the padded axis."""
    room = n + before + after - span
    size = room // stride + 1
    if ceil and room % stride and room >= 0:
        size += 1
        if (size - 1) * stride >= n + before:
            size -= 1
    return size


def per_axis(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """A size given as one int or one per spatial axis, as one int per axis (ValueError when
    the count is wrong)."""
    try:
        return (operator.index(value),) * rank  # type: ignore[arg-type]
    except TypeError:
        items = tuple(operator.index(v) for v in value)  # type: ignore[union-attr]
    if len(items) != rank:
        raise ValueError(f"{len(items)} values for {rank} spatial ax{'is' if rank == 1 else 'es'}")
    return items


def pad_pairs(value: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Numeric padding as (before, after) per spatial axis, from an int, one int per axis,
    (before, after) pairs, or 2·rank ints in the order before, after per axis (for 2-D: top,
    bottom, left, right). ValueError when the count fits none of these."""
    try:
        return ((operator.index(value),) * 2,) * rank
    except TypeError:
        items = list(value)
    if items and all(isinstance(v, Sequence) for v in items):
        if len(items) != rank or any(len(v) != 2 for v in items):
            raise ValueError(f"padding gives {len(items)} axes for a {rank}-D input")
        return tuple((operator.index(v[0]), operator.index(v[1])) for v in items)
    flat = [operator.index(v) for v in items]
    if len(flat) == rank:
        return tuple((p, p) for p in flat)
    if len(flat) == 2 * rank:
        return tuple((flat[2 * i], flat[2 * i + 1]) for i in range(rank))
    raise ValueError(f"padding has {len(flat)} values for a {rank}-D input")
