"""Reading specs: a path or a bundled name → text → position-carrying YAML → graph."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcalc.diagnostics import Diagnostic, Diagnostics, Pos, SpecError
from archcalc.graph import Graph
from archcalc.perf import paused_gc
from archcalc.shapes import Shape
from archcalc.spec.builder import build_graph
from archcalc.spec.yamlpos import load_yaml
from archcalc.zoo import bundled_path

MAX_SPEC_BYTES = 64 * 1024 * 1024


@dataclass
class LoadedSpec:
    graph: Graph
    diagnostics: Diagnostics
    text: str  # for printing source lines under diagnostics


def resolve(spec: str) -> Path:
    """A SPEC argument: an existing path, else a bundled spec's name."""
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


def read_text(path: Path, shown_as: str) -> str:
    at = Pos(shown_as, 1, 1)
    try:
        if path.is_dir():
            raise SpecError(
                [
                    Diagnostic(
                        "error", "not-found", f"'{shown_as}' is a directory, not a spec file", at
                    )
                ]
            )
        data = path.read_bytes()[: MAX_SPEC_BYTES + 1]
    except OSError as err:
        raise SpecError(
            [Diagnostic("error", "not-found", f"cannot read '{shown_as}': {err.strerror}", None)]
        ) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "too-large",
                    f"'{shown_as}' is larger than {MAX_SPEC_BYTES // 2**20} MiB; that is not a spec",
                    at,
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
                    hint="archcalc reads YAML specs (and, with 'archcalc import', ONNX or Keras model files)",
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


def load(spec: str, text: str | None = None, input_shape: Shape | None = None) -> LoadedSpec:
    """Load a spec by path or bundled name (or from ``text``), or import a model file (ONNX,
    Keras; ``input_shape`` fixes a model's dynamic sizes). Raises SpecError when the spec
    cannot be turned into a graph; otherwise returns the graph and any diagnostics found."""
    weights: dict[str, Any] = {}
    if text is None:
        path = resolve(spec)
        shown = spec if Path(spec).exists() else str(path)
        from archcalc.interop import is_model_file

        if is_model_file(path):
            from archcalc.interop import import_model

            text, weights = import_model(path, shown, input_shape)
            shown = f"{shown} (imported)"
        else:
            text = read_text(path, shown)
    else:
        shown = spec
    with paused_gc():
        data = load_yaml(text, shown)
        diags = Diagnostics()
        graph = build_graph(data, shown, diags)
    if graph is None or diags.has_errors:
        raise SpecError(list(diags))
    graph.weights = weights
    return LoadedSpec(graph, diags, text)
