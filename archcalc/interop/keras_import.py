"""Keras import: a model's JSON (Keras 2 or 3) or a .keras archive → layers and weights."""

from __future__ import annotations

from pathlib import Path

from archcalc.diagnostics import Diagnostic, SpecError
from archcalc.interop.model import ImportedModel
from archcalc.shapes import Shape


def read_keras(path: Path, shown: str, input_shape: Shape | None = None) -> ImportedModel:
    raise SpecError(
        [Diagnostic("error", "unsupported", f"'{shown}': Keras import is not available yet", None)]
    )
