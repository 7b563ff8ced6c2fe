"""An independent oracle: the same layer graph built from PyTorch's functional ops.

``TorchNet(graph, layers, params)`` translates every node to ``torch.nn.functional`` calls on
NCHW tensors, copying archcalc's channels-last weights over with the layout permutations
PyTorch expects. The first dense layer after a flatten gets its input columns permuted,
because PyTorch flattens (C, H, W) where archcalc flattens (H, W, C).

Used by the backend tests and by benchmarks/bench_backend.py. Imports torch at module level:
import this module only after ``tests.oracles.require("torch")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archcalc.backend.kernels import flatten_order_from_chw
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer

Fn = Callable[[list[torch.Tensor]], torch.Tensor]


def to_nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def from_nchw(t: torch.Tensor) -> np.ndarray:
    y = t.detach().numpy()
    return y if y.ndim == 2 else np.moveaxis(y, 1, -1)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _symmetric(pads: list[tuple[int, int]]) -> bool:
    return all(a == b for a, b in pads)


def _torch_pad(pads: list[tuple[int, int]]) -> list[int]:
    """archcalc's per-axis (before, after), first axis first → F.pad's last-axis-first list."""
    return [p for pair in reversed(pads) for p in pair]


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
        self.graph = graph
        self.fns: list[tuple[str, list[str], Fn]] = []
        flat_from: dict[str, tuple[int, ...] | None] = {INPUT: None}
        for node in graph.nodes:
            layer = layers[node.name]
            assert layer is not None
            src = flat_from.get(node.inputs[0])
            fn = self._translate(node.op.name, layer, params[node.name], src)
            if consume:
                params.pop(node.name)  # type: ignore[attr-defined]
            self.fns.append((node.name, list(node.inputs), fn))
            if node.op.name == "flatten":
                flat_from[node.name] = tuple(layer.input)
            elif node.op.name != "dense" and len(layer.output) == 1 and len(node.inputs) == 1:
                flat_from[node.name] = src  # element-wise on the flat vector: order unchanged
            else:
                flat_from[node.name] = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last: dict[str, int] = {}
        for i, (_, inputs, _) in enumerate(self.fns):
            for s in inputs:
                last[s] = i
        env = {INPUT: x}
        y = x
        for i, (name, inputs, fn) in enumerate(self.fns):
            y = fn([env[s] for s in inputs])
            env[name] = y
            for s in set(inputs):
                if last[s] == i:
                    del env[s]
        return y

    def _translate(
        self, op: str, layer: Layer, p: Mapping[str, np.ndarray], flat: tuple[int, ...] | None
    ) -> Fn:
        a = layer.attrs
        rank = layer.rank
        if op == "conv":
            k, s, d = layer.per_axis("kernel"), layer.per_axis("stride"), layer.per_axis("dilation")
            pads = layer.padding(k, s, d)
            w = (
                _t(p["kernel"]).permute(rank + 1, rank, *range(rank)).contiguous()
            )  # (out, in/g, *k)
            if a["flip"]:
                w = torch.flip(w, dims=list(range(2, 2 + rank))).contiguous()
            b = _t(p["bias"]) if a["bias"] else None
            conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
            if _symmetric(pads):
                pad = tuple(pb for pb, _ in pads)
                return lambda xs: conv(xs[0], w, b, s, pad, d, a["groups"])
            tp = _torch_pad(pads)
            return lambda xs: conv(F.pad(xs[0], tp), w, b, s, 0, d, a["groups"])
        if op == "conv_transpose":
            k, s, d = layer.per_axis("kernel"), layer.per_axis("stride"), layer.per_axis("dilation")
            pads = layer.padding(k, s, d)
            w = (
                _t(p["kernel"]).permute(rank, rank + 1, *range(rank)).contiguous()
            )  # (in, out/g, *k)
            b = _t(p["bias"]) if a["bias"] else None
            op_ = a["output_padding"]
            conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
            assert _symmetric(pads), "asymmetric transposed padding: not in the oracle"
            pad = tuple(pb for pb, _ in pads)
            return lambda xs: conv_t(xs[0], w, b, s, pad, op_, a["groups"], d)
        if op in ("maxpool", "avgpool"):
            k = layer.per_axis("kernel")
            s = layer.per_axis("stride") if a["stride"] else k
            d = layer.per_axis("dilation") if op == "maxpool" else (1,) * rank
            pads = layer.padding(k, s, d)
            assert _symmetric(pads), "asymmetric pooling padding: not in the oracle"
            pad = tuple(pb for pb, _ in pads)
            if op == "maxpool":
                mp = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[rank - 1]
                return lambda xs: mp(xs[0], k, s, pad, d, ceil_mode=a["ceil_mode"])
            ap = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[rank - 1]
            return lambda xs: ap(
                xs[0], k, s, pad, ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"]
            )
        if op == "adaptive_avgpool":
            aap = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[rank - 1]
            size = layer.per_axis("size")
            return lambda xs: aap(xs[0], size)
        if op in ("global_avgpool", "global_maxpool"):
            dims = list(range(2, 2 + rank))
            keep = a["keepdims"]
            if op == "global_avgpool":
                return lambda xs: xs[0].mean(dim=dims, keepdim=keep)
            return lambda xs: xs[0].amax(dim=dims, keepdim=keep)
        if op == "dense":
            w_ours = p["kernel"]  # (in, units)
            if flat is not None:
                idx = flatten_order_from_chw(flat)
                w_np = np.empty((w_ours.shape[1], w_ours.shape[0]), dtype=w_ours.dtype)
                w_np[:, idx] = w_ours.T  # column j of ours is torch's column idx[j]
            else:
                w_np = w_ours.T
            w = _t(w_np).contiguous()
            b = _t(p["bias"]) if a["bias"] else None
            if rank == 0:
                return lambda xs: F.linear(xs[0], w, b)
            return lambda xs: F.linear(xs[0].movedim(1, -1), w, b).movedim(-1, 1)
        if op == "flatten":
            return lambda xs: xs[0].flatten(1)
        if op == "batchnorm":
            assert flat is None, "batchnorm on a flattened map: not in the oracle"
            g = _t(p["gamma"]) if a["affine"] else None
            bt = _t(p["beta"]) if a["affine"] else None
            m, v = _t(p["running_mean"]), _t(p["running_var"])
            return lambda xs: F.batch_norm(xs[0], m, v, g, bt, False, 0.0, a["eps"])
        if op == "lrn":
            return lambda xs: F.local_response_norm(xs[0], a["size"], a["alpha"], a["beta"], a["k"])
        if op == "channel_slice":
            picked = list(a["channels"])
            return lambda xs: xs[0][:, picked]
        if op in ("dropout", "identity"):
            return lambda xs: xs[0]
        simple: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "relu": F.relu,
            "relu6": F.relu6,
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "gelu": F.gelu,
            "silu": F.silu,
        }
        if op in simple:
            f = simple[op]
            return lambda xs: f(xs[0])
        if op == "hardsigmoid":
            return lambda xs: (xs[0] * a["alpha"] + a["beta"]).clamp(0, 1)
        if op == "hardswish":
            return lambda xs: F.hardswish(xs[0])
        if op == "clip":
            return lambda xs: xs[0].clamp(a["low"], a["high"])
        if op == "mul":
            return lambda xs: xs[0] * xs[1]
        if op == "leaky_relu":
            return lambda xs: F.leaky_relu(xs[0], a["slope"])
        if op == "softmax":
            return lambda xs: F.softmax(xs[0], dim=1)
        if op == "add":
            return lambda xs: torch.stack(xs).sum(dim=0)
        if op == "concat":
            return lambda xs: torch.cat(xs, dim=1)
        if op == "zeropad":
            ones = (1,) * rank
            tp = _torch_pad(layer.padding(ones, ones, ones))
            return lambda xs: F.pad(xs[0], tp)
        if op == "upsample":
            scale = [float(v) for v in layer.per_axis("scale")]
            mode = a["mode"]
            if mode != "nearest":
                mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
                return lambda xs: F.interpolate(
                    xs[0], scale_factor=scale, mode=mode, align_corners=False
                )
            return lambda xs: F.interpolate(xs[0], scale_factor=scale, mode="nearest")
        raise NotImplementedError(f"no torch translation for op '{op}'")
