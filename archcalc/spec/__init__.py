"""Reading specs: a path or a bundled name → text → position-carrying YAML → graph."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from archcalc import limits
from archcalc.diagnostics import Diagnostic, Diagnostics, Pos, SpecError
from archcalc.graph import Graph
from archcalc.perf import paused_gc
from archcalc.shapes import Shape
from archcalc.spec.builder import build_graph
from archcalc.spec.yamlpos import load_yaml
from archcalc.zoo import bundled_path


@dataclass
class LoadedSpec:
    graph: Graph
    diagnostics: Diagnostics
    text: str  # for printing source lines under diagnostics


def resolve(spec: str) -> Path:
    """A SPEC argument: an existing path, else a bundled spec's name ('-' is read by load)."""
    if not spec.strip():
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "not-found",
                    "the SPEC argument is empty",
                    None,
                    hint="give a path to a .yaml spec, a bundled name, or - for standard input",
                )
            ]
        )
    path = Path(spec)
    if path.exists():
        return path
    found = bundled_path(spec)
    if found is not None:
        return found
    from archcalc.diagnostics import did_you_mean
    from archcalc.zoo import bundled_names

    hint = (
        did_you_mean(spec, bundled_names())
        or "give a path to a .yaml spec or a bundled name (archcalc zoo lists them)"
    )
    raise SpecError(
        [
            Diagnostic(
                "error", "not-found", f"no such file or bundled spec: '{spec}'", None, hint=hint
            )
        ]
    )


STDIN = "-"  # the SPEC argument that reads the spec from standard input
STDIN_NAME = "<stdin>"  # how messages name it


def read_text(path: Path | None, shown_as: str) -> str:
    """The spec's text: from ``path`` (None: standard input), at most the size limit, read in
    pieces so that an endless source (/dev/zero, a pipe) stops at the limit."""
    at = Pos(shown_as, 1, 1)
    limit = limits.SPEC_BYTES
    most = limit.value
    try:
        if path is not None and path.is_dir():
            raise SpecError(
                [
                    Diagnostic(
                        "error", "not-found", f"'{shown_as}' is a directory, not a spec file", at
                    )
                ]
            )
        if path is None:
            data = _read_at_most(sys.stdin.buffer, most + 1)
        else:
            with open(path, "rb") as fh:
                data = _read_at_most(fh, most + 1)
    except OSError as err:
        raise SpecError(
            [Diagnostic("error", "not-found", f"cannot read '{shown_as}': {err.strerror}", None)]
        ) from None
    if len(data) > most:
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "too-large",
                    f"'{shown_as}' is larger than the spec size limit; a spec is a few KiB",
                    at,
                    hint=limit.hint(),
                )
            ]
        )
    if b"\x00" in data:
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "binary",
                    f"'{shown_as}' is a binary file, not a YAML spec",
                    at,
                    hint="archcalc reads YAML specs: convert a model file (ONNX, Keras) to a spec first",
                )
            ]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "encoding",
                    f"'{shown_as}' is not UTF-8 text (byte {err.start})",
                    Pos(shown_as, line, 1),
                    hint="save the spec as UTF-8",
                )
            ]
        ) from None


_stdin_read: tuple[object, str] | None = None


def _stdin_text() -> str:
    """Standard input's spec, read once: a command may load its spec more than once."""
    global _stdin_read
    if _stdin_read is None or _stdin_read[0] is not sys.stdin:
        _stdin_read = (sys.stdin, read_text(None, STDIN_NAME))
    return _stdin_read[1]


def _read_at_most(stream: BinaryIO, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def load(spec: str, text: str | None = None, input_shape: Shape | None = None) -> LoadedSpec:
    """Load a spec by path or bundled name (or from ``text``), or import a model file (ONNX,
    Keras; ``input_shape`` fixes a model's dynamic sizes). Raises SpecError when the spec
    cannot be turned into a graph; otherwise returns the graph and any diagnostics found."""
    weights: Mapping[str, Any] = {}
    channels_first = False
    if text is not None:
        shown = spec
    elif spec == STDIN:
        shown = STDIN_NAME
        text = _stdin_text()
    else:
        path = resolve(spec)
        shown = spec if Path(spec).exists() else str(path)
        from archcalc.interop import is_model_file

        if is_model_file(path):
            from archcalc.interop import import_model

            text, weights, channels_first = import_model(path, shown, input_shape)
            shown = f"{shown} (imported)"
        else:
            text = read_text(path, shown)
    limits.recursion_headroom()
    try:
        with paused_gc():
            data = load_yaml(text, shown)
            diags = Diagnostics()
            graph = build_graph(data, shown, diags)
        if graph is None or diags.has_errors:
            raise SpecError(list(diags))
    except SpecError as err:
        err.sources = {shown: text}  # type: ignore[attr-defined]
        raise
    graph.weights = weights
    graph.channels_first = channels_first
    return LoadedSpec(graph, diags, text)
