"""Student traps: specs that analyse without error but almost surely do not mean what they say.

- a dense layer on a spatial input (no flatten before it): frameworks apply it at every
  position (PyTorch's nn.Linear and Keras' Dense act on the last axis), which silently turns
  AlexNet's 62.4 M parameters into 25.7 M;
- an input written with two numbers (``32x32``): read, as the spec language says, as a 1-D
  signal of length 32 with 32 channels — rarely what a student means by an image.

``course`` mode (``--course``) makes these errors, with every non-fitting filter.
"""

from __future__ import annotations

from archcalc.diagnostics import Diagnostic, Pos
from archcalc.graph import Node
from archcalc.ops.base import Layer
from archcalc.shapes import Shape, format_shape, numel

TRAP_CODES = ("dense-per-position", "input-two-numbers")


def input_trap(shape: Shape, pos: Pos | None) -> list[Diagnostic]:
    if len(shape) != 2 or shape[1] < 8:
        return []
    length, channels = shape
    return [
        Diagnostic(
            "warning" if length == channels else "info",
            "input-two-numbers",
            f"input {format_shape(shape)} is read as a 1-D signal: length {length} with "
            f"{channels} channels (two numbers are length x channels)",
            pos,
            hint=f"for a {length}x{channels} image give its channels: {length}x{channels}x1 "
            f"(grey) or {length}x{channels}x3 (colour)",
        )
    ]


def layer_trap(node: Node, layer: Layer) -> list[Diagnostic]:
    if node.op.name != "dense" or len(layer.input) < 2:
        return []
    positions = numel(layer.input[:-1])
    flat = Layer(layer.name, layer.attrs, [(numel(layer.input),)])
    per_position = sum(numel(s) for s in node.op.weights(layer).values())
    flattened = sum(numel(s) for s in node.op.weights(flat).values())
    return [
        Diagnostic(
            "warning",
            "dense-per-position",
            f"{node.name}: dense on a {format_shape(layer.input)} input without flatten is "
            f"applied at each of its {positions:,} positions, as PyTorch's nn.Linear and Keras' "
            f"Dense do: {per_position:,} params, output {format_shape(layer.output)}; after a "
            f"flatten it would have {flattened:,} params",
            node.pos,
            node.name,
            "add '- flatten' before it; if the per-position layer is meant, write it as a 1x1 conv",
        )
    ]
