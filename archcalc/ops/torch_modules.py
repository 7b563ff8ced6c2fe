"""PyTorch counterparts of archcalc layers that torch.nn has no single module for, and the
helpers the ops' ``torch_module`` rules share.

Imported only by those rules (never by the analysis): it imports torch at module level.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class ChannelsLast(nn.Module):
    """A module over the channels of an N, C, ... tensor (nn.Linear on a feature map)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.inner(x.movedim(1, -1))
        return y.movedim(-1, 1)


class ChannelSlice(nn.Module):
    """``x[:, channels]``."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.channels]


class Add(nn.Module):
    """``a + b + ...`` written as an operator, as torchvision's ``out += identity``."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for other in xs[1:]:
            out = out + other
        return out


class Join(nn.Module):
    """``a ∘ b ∘ ...`` for a Python operator (``operator.mul``, ``sub``, ``truediv``), written
    as an operator in code, as torchvision's squeeze-and-excitation ``scale * x``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.join = getattr(operator, name)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for other in xs[1:]:
            out = self.join(out, other)
        return out


class HardSigmoid(nn.Module):
    """``min(max(alpha·x + beta, 0), 1)``; nn.Hardsigmoid is the case alpha 1/6, beta 1/2."""

    def __init__(self, alpha: float, beta: float) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.alpha + self.beta).clamp(0, 1)


class Clamp(nn.Module):
    """``torch.clamp`` with either bound optional."""

    def __init__(self, low: float | None, high: float | None) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.low, self.high)


class Affine(nn.Module):
    """``x * scale + shift``, one value or one per channel: constants of the spec, not state."""

    def __init__(self, scale: float | Sequence[float], shift: float | Sequence[float]) -> None:
        super().__init__()
        self.scale = [float(v) for v in (scale if isinstance(scale, Sequence) else [scale])]
        self.shift = [float(v) for v in (shift if isinstance(shift, Sequence) else [shift])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_channel = (-1,) + (1,) * (x.dim() - 2)  # along dim 1, whatever the rank
        scale = torch.tensor(self.scale, dtype=x.dtype, device=x.device).reshape(per_channel)
        shift = torch.tensor(self.shift, dtype=x.dtype, device=x.device).reshape(per_channel)
        return x * scale + shift


class Crop(nn.Module):
    """Cuts (before, after) off each spatial axis of an N, C, ... tensor."""

    def __init__(self, cuts: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.cuts = list(cuts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, (before, after) in enumerate(self.cuts, start=2):
            x = x.narrow(axis, before, x.shape[axis] - before - after)
        return x


class Concat(nn.Module):
    """``torch.cat`` along the channels."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, 1)


def by_rank(kind: str, rank: int, *args: Any, **kwargs: Any) -> nn.Module:
    """``nn.Conv2d(...)`` for ``by_rank("Conv", 2, ...)``: torch names modules by rank."""
    module: nn.Module = getattr(nn, f"{kind}{max(rank, 1)}d")(*args, **kwargs)
    return module


def symmetric(pads: Sequence[tuple[int, int]], what: str) -> tuple[int, ...]:
    """One padding per axis, for torch modules that pad both sides alike."""
    if any(before != after for before, after in pads):
        raise NotImplementedError(f"{what} with uneven padding has no single PyTorch module")
    return tuple(before for before, _ in pads)


def zero_pad(pads: Sequence[tuple[int, int]]) -> nn.Module:
    """nn.ZeroPadNd for per-axis (before, after) pads, given as torch wants: last axis first."""
    return by_rank("ZeroPad", len(pads), tuple(p for pair in reversed(pads) for p in pair))


class Functional(nn.Module):
    """Runs a module without registering it, as code calling ``F.relu`` runs the function:
    tools that hook the registered modules (ptflops, thop, torchinfo) do not see it, while a
    tracer (fvcore) and ptflops' patched functionals do (a layer's ``call: functional``)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.hidden = (module,)  # a tuple: nn.Module registers only modules set directly

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.hidden[0](*xs)
        return y
