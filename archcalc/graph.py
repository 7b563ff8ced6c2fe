"""The layer graph: named nodes in topological order, each pointing at its op definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archcalc.diagnostics import Pos
from archcalc.ops.base import Op
from archcalc.shapes import Shape

INPUT = "input"  # the name that refers to the network's input tensor


@dataclass
class Node:
    name: str  # unique, qualified with the enclosing scopes: "layer1.0.conv1"
    op: Op
    attrs: dict[str, Any]  # canonical attribute names, validated, defaults filled in
    inputs: list[str]  # node names, or INPUT
    pos: Pos
    scope: tuple[str, ...] = ()  # qualified names of the enclosing scopes, outermost first
    attr_pos: dict[str, Pos] = field(default_factory=dict)
    trainable: bool = True
    broken: bool = False  # its definition had errors; the analysis skips it and what follows
    # How the reference implementation calls it: "module" (nn.ReLU()) or "functional"
    # (F.relu); tools that count by hooking modules do not see functional calls.
    call: str = "module"


@dataclass
class Scope:
    """A composite of the spec: a block instance, a residual block, a parallel block, a branch."""

    name: str  # qualified
    kind: str  # "block", "residual", "parallel", "branch", "sequential"
    label: str  # what the spec called it: the block's name, "residual", ...
    pos: Pos
    args: dict[str, Any] = field(default_factory=dict)  # a block instance's bound arguments


@dataclass
class Graph:
    name: str
    input_shape: Shape
    nodes: list[Node]
    file: str
    source: str = ""  # the citation given in the spec
    description: str = ""
    strict: bool = False
    input_pos: Pos | None = None
    scopes: dict[str, Scope] = field(default_factory=dict)
    # arrays an imported model brings ("layer.param", channels-last): `run` uses them
    weights: Mapping[str, Any] = field(default_factory=dict)
    # an imported model whose file takes (N, C, ...) input (ONNX from PyTorch): `run` reads
    # and writes arrays that way by default
    channels_first: bool = False

    def last_uses(self, upto: int | None = None) -> dict[str, int]:
        """For each tensor read by the nodes up to index ``upto`` (all by default), the index
        of the last node that reads it."""
        last_use: dict[str, int] = {}
        for i, node in enumerate(self.nodes[: None if upto is None else upto + 1]):
            for src in node.inputs:
                last_use[src] = i
        return last_use

    def free_after(self) -> list[list[str]]:
        """The schedule that frees each activation after its last reader: for every node, in
        order, the tensors (INPUT included) no later node reads. A dead end (nothing reads it)
        is freed as soon as it is made; the last node's output is kept."""
        last_use = self.last_uses()
        frees: list[list[str]] = [[] for _ in self.nodes]
        for name, i in last_use.items():
            frees[i].append(name)
        for i, node in enumerate(self.nodes[:-1]):
            if node.name not in last_use:
                frees[i].append(node.name)
        return frees

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
