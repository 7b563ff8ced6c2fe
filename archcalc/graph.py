"""The layer graph: named nodes in topological order, each pointing at its op definition."""

from __future__ import annotations

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


@dataclass
class Scope:
    """A composite of the spec: a block instance, a residual block, a parallel block, a branch."""

    name: str  # qualified
    kind: str  # "block", "residual", "parallel", "branch", "sequential"
    label: str  # what the spec called it: the block's name, "residual", ...
    pos: Pos


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
    weights: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
