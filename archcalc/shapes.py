"""Tensor shapes in the course's notation.

A shape is a tuple of positive ints, spatial axes first and channels last, batch excluded:
``(227, 227, 3)`` is written ``227x227x3``; a 1-D signal ``(16000, 1)`` is ``16000x1``; a flat
vector ``(4096,)`` is ``4096``.
"""

from __future__ import annotations

import re

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
