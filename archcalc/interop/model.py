"""What every importer produces: a flat list of named layers and the model's weights, and how
that becomes spec text — the same YAML a person would write, so the builder makes the graph."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archcalc.graph import INPUT
from archcalc.shapes import Shape, format_shape


class LazyArrays(Mapping[str, Any]):
    """Arrays by key, each made (transposed, converted) only when read: an imported model's
    weights, which summarize never reads and run reads once."""

    def __init__(self) -> None:
        self.makers: dict[str, Any] = {}  # an array, or a function making it

    def __getitem__(self, key: str) -> Any:
        import numpy as np

        value = self.makers[key]
        return np.asarray(value() if callable(value) else value, dtype=np.float32)

    def __iter__(self) -> Iterator[str]:
        return iter(self.makers)

    def __len__(self) -> int:
        return len(self.makers)


@dataclass
class LayerSpec:
    op: str  # a registry name
    name: str
    attrs: dict[str, Any]  # canonical attribute names; defaults left out
    inputs: list[str]  # layer names, or "input"
    path: tuple[str, ...] = ()  # the framework's module path (layer1, 0, conv1), when known


@dataclass
class ImportedModel:
    input_shape: Shape  # channels-last, no batch
    layers: list[LayerSpec]
    weights: Mapping[str, Any] = field(default_factory=dict)  # "layer.param" → channels-last
    channels_first: bool = False  # the file's input is (N, C, ...)


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
_WEIGHT_SUFFIXES = (".weight", ".kernel", ".gamma", ".scale")


def layer_path(weight: str | None, node_name: str, op_type: str) -> str:
    """The framework's dotted module path of a layer: the path of its weight
    (``layer1.0.conv1.weight`` → ``layer1.0.conv1``), else the node's scope path
    (``/layer1/layer1.0/relu/Relu`` → ``layer1.0.relu``), else the node's name or op type."""
    path = ""
    if weight and weight.endswith(_WEIGHT_SUFFIXES):
        path = weight.rsplit(".", 1)[0]
    if not path and "/" in node_name:
        for segment in node_name.strip("/").split("/")[:-1]:
            # torch names a container's child with the container: layer1 / layer1.0 / conv1,
            # features.1 / block / block.6 / avgpool, features.0 / features.0.2
            head = segment.rsplit(".", 1)[0]
            if "." in segment and (path == head or path.endswith("." + head)):
                path += segment[len(head) :]
            else:
                path = f"{path}.{segment}" if path else segment
    if not path:
        path = node_name if node_name and "/" not in node_name else op_type.lower()
    return path


def plain_name(path: str, op_type: str) -> str:
    """A spec-legal word for a dotted path: ``layer1.0.conv1`` → ``layer1_0_conv1``."""
    name = _UNSAFE.sub("_", path).strip("_") or op_type.lower()
    return name if name[0].isalpha() or name[0] == "_" else f"{op_type.lower()}_{name}"


def layer_name(weight: str | None, node_name: str, op_type: str) -> str:
    """A spec-legal name that keeps the framework's (see layer_path)."""
    return plain_name(layer_path(weight, node_name, op_type), op_type)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v == float("inf"):
            return ".inf"
        if v == float("-inf"):
            return "-.inf"
        text = repr(v)
        # YAML 1.1 reads 1e-05 as text: it wants a dot in the mantissa.
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def to_yaml(model: ImportedModel, name: str, source: str) -> str:
    """The spec text: one flow-style line per layer, ``inputs`` only where the graph branches."""
    safe = _UNSAFE.sub("_", name).strip("_") or "imported"
    lines = [
        f"name: {safe}",
        f"source: {json.dumps(source)}",  # a JSON string is a YAML string
        f"input: {format_shape(model.input_shape)}",
        "layers:",
    ]
    previous = INPUT
    for layer in model.layers:
        attrs: dict[str, Any] = {"name": layer.name}
        if layer.inputs != [previous]:
            attrs["inputs"] = layer.inputs if len(layer.inputs) > 1 else layer.inputs[0]
        attrs.update(layer.attrs)
        body = ", ".join(f"{k}: {_value(v)}" for k, v in attrs.items())
        lines.append(f"  - {layer.op}: {{{body}}}")
        previous = layer.name
    return "\n".join(lines) + "\n"
