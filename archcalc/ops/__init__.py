"""The op registry: one entry per layer type, each in the module of its family."""

from archcalc.ops import activation, conv, dense, merge, norm, pool, reshape
from archcalc.ops.base import ALIASES, REGISTRY, Attr, Layer, Op, OpError, register

__all__ = [
    "ALIASES",
    "REGISTRY",
    "Attr",
    "Layer",
    "Op",
    "OpError",
    "activation",
    "conv",
    "dense",
    "merge",
    "norm",
    "pool",
    "register",
    "reshape",
]
