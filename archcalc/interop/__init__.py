"""Reading model files (ONNX, Keras) into the graph the YAML builder makes, and writing specs
out as code (PyTorch) or models (ONNX). A YAML spec only ever touches is_model_file: the
importers, exporters and their libraries load when a model file is given."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archcalc.shapes import Shape

MODEL_SUFFIXES = (".onnx", ".keras")


def is_model_file(path: Path) -> bool:
    """An ONNX or Keras model, by suffix; a ``.json`` file when it is a Keras model's JSON."""
    suffix = path.suffix.lower()
    if suffix in MODEL_SUFFIXES:
        return True
    if suffix == ".json" and path.is_file():
        with path.open("rb") as fh:
            head = fh.read(4096)
        return b'"class_name"' in head and b'"config"' in head
    return False


def import_model(
    path: Path, shown: str, input_shape: Shape | None = None
) -> tuple[str, Mapping[str, Any]]:
    """The spec text for a model file, and its weights keyed ``layer.param`` (channels-last)."""
    from archcalc.interop.model import to_yaml

    if path.suffix.lower() == ".onnx":
        from archcalc.interop.onnx_import import read_onnx

        model = read_onnx(path, shown, input_shape)
        kind = "ONNX"
    else:
        from archcalc.interop.keras_import import read_keras

        model = read_keras(path, shown, input_shape)
        kind = "Keras"
    text = to_yaml(model, path.stem, f"imported from {kind} model {path.name}")
    return text, model.weights
