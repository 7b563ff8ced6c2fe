"""Reading model files (ONNX, Keras) into the graph the YAML builder makes, and writing specs
out as code (PyTorch) or models (ONNX). A YAML spec only ever touches is_model_file: the
importers, exporters and their libraries load when a model file is given."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archcalc.shapes import Shape

MODEL_SUFFIXES = (".onnx", ".keras", ".h5", ".hdf5")


def is_model_file(path: Path) -> bool:
    """An ONNX or Keras model (.keras, a Keras 2 .h5), by suffix; a ``.json`` file when it is a Keras model's JSON."""
    suffix = path.suffix.lower()
    if suffix in MODEL_SUFFIXES:
        return True
    if suffix == ".json" and path.is_file():
        with path.open("rb") as fh:
            head = fh.read(4096)
        return b'"class_name"' in head and b'"config"' in head
    return False


def import_model(
    path: Path, shown: str, input_shape: Shape | None = None, fold: bool = False
) -> tuple[str, Mapping[str, Any], bool]:
    """The spec text for a model file, its weights keyed ``layer.param`` (channels-last), and
    whether the file's input is channels-first (N, C, ...).
    ``fold`` writes the model's structure back as blocks and repeats where its names show it
    (`archcalc import`); otherwise one line per layer, as every command reads a model file."""
    from archcalc.interop.model import LazyArrays, to_yaml

    if path.suffix.lower() == ".onnx":
        from archcalc.interop.onnx_import import read_onnx

        model = read_onnx(path, shown, input_shape)
        kind = "ONNX"
    else:
        from archcalc.interop.keras_import import read_keras

        model = read_keras(path, shown, input_shape)
        kind = "Keras"
    source = f"imported from {kind} model {path.name}"
    if fold:
        from archcalc.interop.structure import fold as fold_blocks

        folded = fold_blocks(model, path.stem, source)
        if folded is not None:
            text, names = folded
            renamed = LazyArrays()
            for key in model.weights:
                layer, param = key.rsplit(".", 1)
                renamed.makers[f"{names[layer]}.{param}"] = lambda key=key: model.weights[key]
            return text, renamed, model.channels_first
    return to_yaml(model, path.stem, source), model.weights, model.channels_first
