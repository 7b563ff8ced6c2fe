"""An independent oracle: the same layer graph built from PyTorch modules.

Every node becomes the module its op's ``torch_module`` rule names (N, C, ... layout), as a
torchvision-style network would be written; a layer marked ``call: functional`` runs that
module unregistered, as torchvision's ``F.relu(x)`` runs the function. ``torch_model(graph, layers)`` alone is what the
counting tools are run on (tests/test_counting.py); ``TorchNet(graph, layers, params)`` also
copies archcalc's channels-last weights in through each op's ``torch_state``. The first dense
layer after a flatten gets its input columns permuted, because PyTorch flattens (C, H, W) where
archcalc flattens (H, W, C).

Used by the backend and counting tests and by benchmarks/bench_backend.py. Imports torch at
module level: import this module only after ``tests.oracles.require("torch")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from archcalc.backend.kernels import flatten_order_from_chw
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.ops.torch_modules import Functional


def to_nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def from_nchw(t: torch.Tensor) -> np.ndarray:
    y = t.detach().numpy()
    return y if y.ndim == 2 else np.moveaxis(y, 1, -1)


def _key(name: str) -> str:
    return name.replace(".", "__")  # ModuleDict keys may not contain dots


class GraphModule(nn.Module):
    """The graph's nodes as modules, run in order; each activation is dropped after its last
    reader, as the NumPy executor does, so peak memory compares fairly."""

    def __init__(self, graph: Graph, layers: Mapping[str, Layer | None], meta: bool = False):
        super().__init__()
        modules = {}
        with torch.device("meta" if meta else "cpu"):  # meta: no weights until loaded
            for node in graph.nodes:
                layer = layers[node.name]
                assert layer is not None
                module = node.op.torch_module(layer)
                if node.call == "functional":
                    module = Functional(module)
                modules[_key(node.name)] = module
        self.layers = nn.ModuleDict(modules)
        self.steps = [(node.name, list(node.inputs)) for node in graph.nodes]
        self.last = {src: i for i, (_, inputs) in enumerate(self.steps) for src in inputs}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {INPUT: x}
        y = x
        for i, (name, inputs) in enumerate(self.steps):
            y = self.layers[_key(name)](*(env[s] for s in inputs))
            env[name] = y
            for s in set(inputs):
                if self.last[s] == i:
                    del env[s]
        return y


def torch_model(graph: Graph, layers: Mapping[str, Layer | None]) -> nn.Module:
    """The graph as a PyTorch module in eval mode, with PyTorch's own initial weights."""
    return GraphModule(graph, layers).eval()


class TorchNet:
    def __init__(
        self,
        graph: Graph,
        layers: Mapping[str, Layer | None],
        params: Mapping[str, Any],
        consume: bool = False,
    ) -> None:
        """``consume=True`` pops each layer's arrays from ``params`` (a dict) once copied, so
        the weights never exist twice (for the benchmark's peak-memory figure)."""
        self.model = GraphModule(graph, layers, meta=True)
        flat_from: dict[str, tuple[int, ...] | None] = {INPUT: None}
        for node in graph.nodes:
            layer = layers[node.name]
            assert layer is not None
            src = flat_from.get(node.inputs[0])
            arrays = dict(params[node.name])
            if node.op.name == "dense" and src is not None:
                # Row j of our kernel reads flat position j; torch's flatten puts it at idx[j].
                kernel = np.empty_like(arrays["kernel"])
                kernel[flatten_order_from_chw(src)] = arrays["kernel"]
                arrays["kernel"] = kernel
            assert node.op.name != "batchnorm" or src is None, "batchnorm on a flattened map"
            self._load(self.model.layers[_key(node.name)], node.op.torch_state(layer, arrays))
            if consume:
                params.pop(node.name)  # type: ignore[attr-defined]
            if node.op.name == "flatten":
                flat_from[node.name] = tuple(layer.input)
            elif node.op.name != "dense" and len(layer.output) == 1 and len(node.inputs) == 1:
                flat_from[node.name] = src  # element-wise on the flat vector: order unchanged
            else:
                flat_from[node.name] = None
        self.model.eval()

    @staticmethod
    def _load(module: nn.Module, state: Mapping[str, np.ndarray]) -> None:
        """Assign the arrays to the module's parameters and buffers by their last name part;
        any other buffer (batchnorm's step counter) starts at zero."""
        full = {}
        for key, value in module.state_dict().items():
            part = key.rsplit(".", 1)[-1]
            if part in state:
                full[key] = torch.from_numpy(np.ascontiguousarray(state[part]))
            else:
                assert key not in dict(module.named_parameters()), f"no value for {key}"
                full[key] = torch.zeros(value.shape, dtype=value.dtype)
        module.load_state_dict(full, assign=True)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.model(x)
        return y
