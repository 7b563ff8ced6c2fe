"""Receptive field, effective stride and offset per layer and axis.

The recurrences of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks" (Distill, 2019), walked over the graph. For a window of effective extent k' = d(k−1)+1,
stride s and leading padding p applied to a field (r, j, c):

    r_out = r + (k' − 1)·j        j_out = j·s        c_out = c + ((k' − 1)/2 − p)·j

where c is the centre of the first unit in input pixels (pixel 0's centre is 0). At a merge the
field is the union over paths; paths that disagree in stride or centre get a diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from archcalc.diagnostics import Diagnostic, Diagnostics
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import GLOBAL, UNDEFINED, Layer


@dataclass(frozen=True)
class Field:
    size: tuple[Fraction, ...]
    stride: tuple[Fraction, ...]
    offset: tuple[Fraction, ...]
    whole: bool = False  # sees the whole input (after global pooling or flattening)

    def to_json(self) -> dict[str, list[int | float]]:
        return {
            "size": _nums(self.size),
            "stride": _nums(self.stride),
            "offset": _nums(self.offset),
        }


def _nums(values: tuple[Fraction, ...]) -> list[int | float]:
    return [int(v) if v.denominator == 1 else float(v) for v in values]


def _whole_input(graph: Graph) -> Field:
    spatial = tuple(Fraction(n) for n in graph.input_shape[:-1])
    return Field(spatial, spatial, tuple((n - 1) / 2 for n in spatial), whole=True)


def receptive_fields(
    graph: Graph, layers: dict[str, Layer | None], diags: Diagnostics
) -> dict[str, Field | None]:
    fields: dict[str, Field | None] = {}
    rank = len(graph.input_shape) - 1
    one, zero = (Fraction(1),) * rank, (Fraction(0),) * rank
    fields[INPUT] = Field(one, one, zero) if rank else None
    for node in graph.nodes:
        layer = layers.get(node.name)
        sources = [fields.get(src) for src in node.inputs]
        if layer is None or not sources:
            fields[node.name] = None
            continue
        rule = node.op.windows(layer)
        if rule == GLOBAL:
            fields[node.name] = _whole_input(graph) if rank else None
        elif rule == UNDEFINED or any(f is None for f in sources):
            fields[node.name] = None
        elif len(sources) > 1:
            fields[node.name] = _union(node.name, node.inputs, sources, diags, node)  # type: ignore[arg-type]
        else:
            field = sources[0]
            assert field is not None
            if field.whole or rule is None:
                fields[node.name] = field
            else:
                assert isinstance(rule, list)
                fields[node.name] = Field(
                    tuple(r + (w.span - 1) * j for r, j, w in zip(field.size, field.stride, rule)),
                    tuple(j * w.stride for j, w in zip(field.stride, rule)),
                    tuple(
                        c + (Fraction(w.span - 1, 2) - w.pad_before) * j
                        for c, j, w in zip(field.offset, field.stride, rule)
                    ),
                )
    return fields


def _union(
    name: str, inputs: list[str], sources: list[Field], diags: Diagnostics, node: object
) -> Field:
    if any(f.whole for f in sources):
        return next(f for f in sources if f.whole)
    first = sources[0]
    for src, other in zip(inputs[1:], sources[1:]):
        if other.stride != first.stride:
            diags.append(
                Diagnostic(
                    "warning",
                    "rf-stride-mismatch",
                    f"{name}: paths meet with different effective strides: {inputs[0]} has "
                    f"{_fmt(first.stride)}, {src} has {_fmt(other.stride)}",
                    getattr(node, "pos", None),
                    name,
                    "the receptive field reported is the union over both paths",
                )
            )
        elif other.offset != first.offset:
            diags.append(
                Diagnostic(
                    "info",
                    "rf-misaligned",
                    f"{name}: paths meet with different centres: {inputs[0]} at {_fmt(first.offset)}, {src} at {_fmt(other.offset)}",
                    getattr(node, "pos", None),
                    name,
                    "their windows are shifted against each other; the union is reported",
                )
            )
    lows = [tuple(c - (r - 1) / 2 for c, r in zip(f.offset, f.size)) for f in sources]
    highs = [tuple(c + (r - 1) / 2 for c, r in zip(f.offset, f.size)) for f in sources]
    lo = tuple(min(v) for v in zip(*lows))
    hi = tuple(max(v) for v in zip(*highs))
    stride = tuple(max(v) for v in zip(*(f.stride for f in sources)))
    return Field(
        tuple(h - low + 1 for low, h in zip(lo, hi)),
        stride,
        tuple((low + h) / 2 for low, h in zip(lo, hi)),
    )


def _fmt(values: tuple[Fraction, ...]) -> str:
    return "×".join(str(v) for v in _nums(values))
