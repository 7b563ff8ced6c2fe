"""Hypothesis strategies shared by the property suites: random valid architectures.

:func:`valid_nets` draws a spec (as YAML text) one element at a time — a layer of any
registered op with attributes drawn loosely (odd sizes, strides above the window, dilation,
groups, ``same`` padding, ceil mode, ...), a residual block (identity or projected shortcut), a
parallel block, or a layer merging earlier named layers through ``inputs:`` — and keeps an
element only if archcalc analyses the spec without errors. The spec language and the analysis
decide what is valid; the strategy only proposes, so it reaches whatever the ops allow.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from archcalc.analysis import analyze
from archcalc.diagnostics import SpecError
from archcalc.spec import load

MAX_ELEMENTS = 8  # elements (layers or blocks) drawn per net
MAX_VALUES = 6_000  # no activation larger than this: execution stays cheap
_TRIES = 3  # proposals per element before a pass-through stands in

_ACTIVATIONS = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "softmax"]
_SPATIAL = [
    "conv",
    "conv",
    "conv",
    "conv_transpose",
    "maxpool",
    "avgpool",
    "adaptive_avgpool",
    "zeropad",
    "upsample",
]
_ANY = ["batchnorm", "lrn", "dropout", "identity", "channel_slice", "dense", *_ACTIVATIONS]
_FLATTENING = ["global_avgpool", "global_maxpool", "flatten"]


def _window(draw: Any, rank: int, low: int, high: int) -> int | list[int]:
    """One value, or (sometimes) one per spatial axis."""
    if rank > 1 and draw(st.booleans()):
        return [draw(st.integers(low, high)) for _ in range(rank)]
    return draw(st.integers(low, high))


def _padding(draw: Any, rank: int, high: int) -> Any:
    kind = draw(st.sampled_from(["int", "int", "same", "valid", "sides"]))
    if kind == "same" or kind == "valid":
        return kind
    if kind == "sides" and rank:
        return [draw(st.integers(0, high)) for _ in range(2 * rank)]
    return draw(st.integers(0, high))


def _layer(draw: Any, op: str, rank: int, channels: int) -> dict[str, Any]:
    """One layer of ``op`` with loosely drawn attributes (the analysis rejects bad ones)."""
    attrs: dict[str, Any] = {}
    if op in ("conv", "conv_transpose"):
        groups = draw(st.sampled_from([g for g in (1, 1, 2, 3, channels) if channels % g == 0]))
        attrs = {
            "filters": groups * draw(st.integers(1, 3)),
            "kernel": _window(draw, rank, 1, 4),
            "stride": _window(draw, rank, 1, 4),
            "dilation": _window(draw, rank, 1, 3),
            "groups": groups,
            "bias": draw(st.booleans()),
        }
        if op == "conv":
            attrs["padding"] = _padding(draw, rank, 3)
        else:
            attrs["padding"] = draw(st.integers(0, 2))
            if draw(st.booleans()):  # written out, 0 included, as users may
                attrs["output_padding"] = draw(st.integers(0, 1))
    elif op in ("maxpool", "avgpool"):
        kernel = draw(st.integers(1, 4))
        attrs = {
            "kernel": kernel,
            "stride": draw(st.integers(1, 5)),
            "padding": draw(st.integers(0, kernel // 2)),
            "ceil_mode": draw(st.booleans()),
        }
        if op == "maxpool":
            attrs["dilation"] = draw(st.integers(1, 2))
        else:
            attrs["count_include_pad"] = draw(st.booleans())
    elif op == "adaptive_avgpool":
        attrs = {"size": _window(draw, rank, 1, 5)}
    elif op == "zeropad":
        attrs = {"padding": _padding(draw, rank, 2)}
        if attrs["padding"] in ("same", "valid"):
            attrs["padding"] = 1
    elif op == "upsample":
        attrs = {
            "scale": _window(draw, rank, 1, 3),
            "mode": draw(st.sampled_from(["nearest", "bilinear"])),
        }
    elif op == "lrn":
        attrs = {"size": draw(st.integers(1, 5))}
    elif op == "dense":
        attrs = {"units": draw(st.integers(1, 5))}
    elif op == "channel_slice":
        picked = draw(
            st.lists(st.integers(0, channels - 1), min_size=1, max_size=channels, unique=True)
        )
        attrs = {"channels": picked}
    elif op in ("global_avgpool", "global_maxpool"):
        attrs = {"keepdims": draw(st.booleans())}
    elif op == "leaky_relu":
        attrs = {"slope": 0.1}
    return {op: attrs or None}


def _analysed(spec: dict[str, Any]) -> Any:
    """The report of ``spec``, or None when it has errors or too large an activation."""
    try:
        loaded = load("net.yaml", yaml.safe_dump(spec, sort_keys=False))
    except SpecError:
        return None
    report = analyze(loaded.graph, diagnostics=loaded.diagnostics)
    if report.has_errors or any(
        row.output_shape is None or _numel(row.output_shape) > MAX_VALUES for row in report.layers
    ):
        return None
    return report


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


def _element(
    draw: Any, rank: int, shape: tuple[int, ...], names: list[str], name: str
) -> dict[str, Any]:
    """One element named ``name``: a layer, a block, or a merge of earlier named layers."""
    spatial = len(shape) > 1
    kind = draw(
        st.sampled_from(["layer", "layer", "layer", "residual", "parallel", "inputs", "flatten"])
    )
    element: dict[str, Any]
    if kind == "residual" and spatial:
        body = [
            _layer(draw, draw(st.sampled_from(_SPATIAL + _ANY)), rank, shape[-1])
            for _ in range(draw(st.integers(1, 2)))
        ]
        element = {"residual": {"body": body}}
        if draw(st.booleans()):
            element["residual"]["shortcut"] = [_layer(draw, "conv", rank, shape[-1])]
    elif kind == "parallel" and spatial:
        branches = [
            [_layer(draw, draw(st.sampled_from(_SPATIAL + _ANY)), rank, shape[-1])]
            for _ in range(draw(st.integers(2, 3)))
        ]
        element = {"parallel": {"branches": branches}}
    elif kind == "inputs" and names:
        others = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
        merge = draw(st.sampled_from(["add", "concat"]))
        element = {merge: {"inputs": [*others, names[-1]]}}
    elif kind == "flatten":
        element = _layer(draw, draw(st.sampled_from(_FLATTENING)), rank, shape[-1])
    else:
        op = draw(st.sampled_from((_SPATIAL if spatial else []) + _ANY))
        element = _layer(draw, op, rank, shape[-1])
    op = next(iter(element))
    element[op] = {**(element[op] or {}), "name": name}  # later elements may take it as input
    return element


@st.composite
def valid_nets(draw: Any) -> str:
    """A random valid spec, as YAML text."""
    rank = draw(st.sampled_from([1, 2, 2, 2]))
    sizes = [draw(st.integers(3, 25)) for _ in range(rank)]
    channels = draw(st.integers(1, 4))
    spec: dict[str, Any] = {"input": "x".join(map(str, [*sizes, channels])), "layers": []}
    shape: tuple[int, ...] = (*sizes, channels)
    names: list[str] = []
    for i in range(draw(st.integers(1, MAX_ELEMENTS))):
        report = None
        for _ in range(_TRIES):  # the analysis decides what is valid; propose a few times
            spec["layers"].append(_element(draw, rank, shape, names, f"n{i}"))
            report = _analysed(spec)
            if report is not None:
                break
            spec["layers"].pop()
        if report is None:  # keep the chain of names unbroken: a pass-through in its place
            spec["layers"].append({"identity": {"name": f"n{i}"}})
            report = _analysed(spec)
            assert report is not None
        shape = report.layers[-1].output_shape
        names.append(f"n{i}")
    return yaml.safe_dump(spec, sort_keys=False)
