"""Reading answers in the notations people write, and comparing them with expected values.

A shape: ``32x32x10``, ``32 x 32 x 10``, ``32×32×10``, ``[32, 32, 10]``, ``(32, 32, 10)``
(and channels-first ``(10, 32, 32)`` when the question allows it). A number: ``760``,
``760 params``, ``62,378,344``, ``62.4M``, ``1.2 GB``, ``2.33``. A yes/no: ``yes``, ``no``,
``fits``, ``doesn't fit``, ``true``. A matrix: a nested list, or rows of numbers separated by
newlines or ``;``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from archcalc.shapes import Shape, format_shape


class AnswerError(ValueError):
    """An answer that cannot be read in the notation its question asks for."""


_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9, "t": 10**12}
_BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_NUMBER_RE = re.compile(
    r"^\s*(?P<num>[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[-+]?\.\d+)\s*"
    r"(?P<unit>[a-zA-Z]*)\.?\s*(?P<word>[a-zA-Z /-]*)\s*$"
)
# Words people add after a number; they carry no scale ("760 params", "3.2 MMACs" is "M" + word)
_WORDS = {
    "",
    "params",
    "param",
    "parameters",
    "weights",
    "macs",
    "mac",
    "flops",
    "flop",
    "multiply-adds",
    "mult-adds",
    "pixels",
    "px",
    "units",
    "rows",
    "columns",
    "elements",
    "values",
    "bytes",
}
_YES = {"yes", "y", "true", "fits", "it fits", "fit", "whole", "integer", "ok"}
_NO = {
    "no",
    "n",
    "false",
    "doesn't fit",
    "does not fit",
    "doesnt fit",
    "not fit",
    "no fit",
    "not whole",
    "not an integer",
    "it doesn't fit",
    "it does not fit",
}


@dataclass(frozen=True)
class Number:
    """A number as written: its value, and the precision the writer gave it."""

    value: float
    written: str
    precision: float  # half a unit in the last digit written, 0 when written in full

    def __str__(self) -> str:
        return self.written


def parse_number(raw: Any) -> Number:
    if isinstance(raw, bool):
        raise AnswerError(f"expected a number, got {str(raw).lower()}")
    if isinstance(raw, int):
        return Number(float(raw), str(raw), 0.0)
    if isinstance(raw, float):
        return Number(raw, repr(raw), _half_unit(repr(raw), 1))
    text = str(raw).strip()
    match = _NUMBER_RE.match(text.replace("_", ""))
    if not match:
        raise AnswerError(f"expected a number such as 760, 62,378,344 or 62.4M, got '{text}'")
    digits = match["num"].replace(",", "")
    unit, word = match["unit"].lower(), match["word"].strip().lower()
    scale = 1
    if unit in _BYTES and (unit != "b" or not word):
        scale = _BYTES[unit]
    elif unit[:1] in _SUFFIX and unit[1:] in _WORDS and not word:
        scale = _SUFFIX[unit[:1]]
    elif unit in _WORDS and (word in _WORDS or not word):
        scale = 1
    elif unit[:1] in _SUFFIX and unit[1:] == "" and word in _WORDS:
        scale = _SUFFIX[unit]
    else:
        raise AnswerError(
            f"'{text}': '{(unit + ' ' + word).strip()}' is not a unit archcalc knows",
        )
    value = float(digits) * scale
    shortened = scale > 1 or "." in digits
    return Number(value, text, _half_unit(digits, scale) if shortened else 0.0)


def _half_unit(digits: str, scale: float) -> float:
    """Half a unit in the last written digit, scaled: 62.4M → 0.05·10⁶."""
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return 0.5 * 10.0**-decimals * scale


def _significant(digits: str) -> int:
    return len(digits.replace(".", "").replace("-", "").replace(",", "").lstrip("0"))


def number_matches(given: Number, expected: float, tolerance: Tolerance) -> bool:
    """Exact, or within the key's tolerance, or — for a shortened answer (62.4M, 2.33) with at
    least three significant digits — the expected value rounded to the digits written."""
    if math.isclose(given.value, expected, rel_tol=1e-12, abs_tol=1e-12):
        return True
    if tolerance.allows(given.value, expected):
        return True
    digits = re.sub(r"[^0-9.]", "", given.written.split()[0]) if given.written else ""
    return (
        given.precision > 0
        and _significant(digits) >= 3
        and abs(given.value - expected) <= given.precision * (1 + 1e-9)
    )


@dataclass(frozen=True)
class Tolerance:
    """How far a numeric answer may be from the expected value: absolute, or relative (%)."""

    absolute: float = 0.0
    relative: float = 0.0

    def allows(self, value: float, expected: float) -> bool:
        gap = abs(value - expected)
        return gap <= self.absolute + 1e-12 or gap <= self.relative * abs(expected) + 1e-12

    def __str__(self) -> str:
        if self.relative:
            return f"±{self.relative * 100:g}%"
        return f"±{self.absolute:g}" if self.absolute else "exact"


def parse_tolerance(raw: Any) -> Tolerance:
    """``0.01`` (absolute), ``1%`` (relative)."""
    if isinstance(raw, bool):
        raise AnswerError("a tolerance is a number (0.01) or a percentage (1%)")
    if isinstance(raw, (int, float)) and raw >= 0:
        return Tolerance(absolute=float(raw))
    text = str(raw).strip()
    if text.endswith("%"):
        try:
            value = float(text[:-1])
        except ValueError:
            value = -1.0
        if value >= 0:
            return Tolerance(relative=value / 100)
    raise AnswerError(f"a tolerance is a number (0.01) or a percentage (1%), got '{text}'")


def parse_shape_answer(raw: Any) -> Shape:
    if isinstance(raw, bool):
        raise AnswerError("expected a shape such as 32x32x10")
    if isinstance(raw, int):
        return (raw,)
    if isinstance(raw, (list, tuple)):
        parts = list(raw)
    else:
        text = str(raw).strip()
        text = re.sub(r"^[\[(]|[\])]$", "", text).strip()
        if not re.fullmatch(r"\d+(\s*[x×X*,]\s*\d+|\s+\d+)*", text):
            raise AnswerError(f"expected a shape such as 32x32x10 or [32, 32, 10], got '{raw}'")
        parts = re.split(r"\s*[x×X*,]\s*|\s+", text)
    try:
        shape = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        raise AnswerError(
            f"expected a shape such as 32x32x10 or [32, 32, 10], got '{raw}'"
        ) from None
    if not shape or any(s <= 0 for s in shape):
        raise AnswerError(f"a shape has positive sizes, got '{raw}'")
    return shape


def shape_matches(given: Shape, expected: Shape, channels_first: bool) -> bool:
    if given == expected:
        return True
    return channels_first and len(expected) > 1 and given == (expected[-1], *expected[:-1])


def parse_yes_no(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = re.sub(r"\s+", " ", str(raw).strip().lower().rstrip(".!")).replace("’", "'")
    if text in _YES:
        return True
    if text in _NO or text.startswith(("no,", "no ", "doesn't fit", "does not fit")):
        return False
    if text.startswith(("yes,", "yes ")):
        return True
    raise AnswerError(f"expected yes/no (or fits / doesn't fit), got '{raw}'")


def parse_matrix(raw: Any) -> list[list[float]]:
    """A nested list, or text rows ("6 8; 3 4" or one row per line)."""
    rows: list[Any]
    if isinstance(raw, list):
        rows = raw if raw and isinstance(raw[0], list) else [raw]
    else:
        text = str(raw).strip()
        if text.startswith("["):
            import yaml

            try:
                return parse_matrix(yaml.safe_load(text))
            except yaml.YAMLError:
                raise AnswerError(f"cannot read the matrix '{text[:40]}'") from None
        rows = [re.split(r"[\s,]+", line.strip()) for line in re.split(r"[;\n]", text)]
        rows = [r for r in rows if r != [""]]
    try:
        matrix = [[float(v) for v in row] for row in rows]
    except (TypeError, ValueError):
        raise AnswerError(
            "expected a matrix: [[6, 8], [3, 4]] or rows such as '6 8; 3 4'"
        ) from None
    if not matrix or len({len(r) for r in matrix}) != 1:
        raise AnswerError("every row of a matrix needs the same number of values")
    return matrix


def format_number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.2f}"


def format_matrix(matrix: Any) -> str:
    rows = [[format_number(float(v)) for v in row] for row in matrix]
    width = max(len(c) for row in rows for c in row)
    return "; ".join(" ".join(c.rjust(width) for c in row) for row in rows)


__all__ = ["AnswerError", "Number", "Tolerance", "format_shape"]
