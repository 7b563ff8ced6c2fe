"""The memory guard run before any execution: weights, the peak live set at the batch size and
the largest kernel workspace, against a limit (a share of available memory)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from archcalc.backend.executor import concat_chains, layer_of, param_shapes
from archcalc.diagnostics import UsageError
from archcalc.graph import INPUT, Graph
from archcalc.ops.base import Layer
from archcalc.render.numbers import human
from archcalc.shapes import numel


@dataclass
class MemoryEstimate:
    weights: int
    activations: int  # peak live set at the batch size
    workspace: int  # largest temporary a kernel needs (im2col patches, padded copies)

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.workspace


# What the estimate adds for the allocator (freed blocks it keeps), the interpreter's own
# transient arrays and the workspaces the kernels keep between layers (three, of at most
# kernels.SCRATCH_LIMIT_BYTES each): measured peaks of VGG-16, ResNet-50 and U-Net at batches
# 1-8 stay below it.
_SLACK = 1.35
_FIXED = 128 * 2**20


def estimate_memory(
    graph: Graph,
    layers: Mapping[str, Layer | None],
    peak_activation_bytes: int,
    batch: int,
    itemsize: int,
) -> MemoryEstimate:
    """Weights, then the worst layer's live activations plus its workspace.

    ``peak_activation_bytes`` (the analysis' live-set peak) is a floor for the activations; the
    walk here also counts, at each layer, the inputs it still holds and its own temporaries.
    """
    weights = sum(numel(s) for ps in param_shapes(graph, layers).values() for s in ps.values())
    size = {INPUT: batch * numel(graph.input_shape) * itemsize}
    schedule = graph.free_after()
    chains = concat_chains(graph, layers)
    live = size[INPUT]
    worst_live, worst_work = live, 0
    for i, node in enumerate(graph.nodes):
        layer = layer_of(layers, node.name)
        size[node.name] = batch * numel(layer.output) * itemsize
        if node.name in chains:  # one buffer, allocated whole by the first, freed with the last
            first, width = chains[node.name]
            whole = batch * numel(layer.output[:-1]) * width * itemsize
            live += whole if node.name == first else 0
            size[node.name] = whole if layer.output[-1] == width else 0
        else:
            live += size[node.name]
        work = node.op.workspace(layer, batch, itemsize)
        if live + work > worst_live + worst_work:
            worst_live, worst_work = live, work
        live -= sum(size[name] for name in schedule[i])
    activations = max(worst_live, peak_activation_bytes)
    extra = int((activations + worst_work) * (_SLACK - 1)) + _FIXED
    return MemoryEstimate(weights * itemsize, activations, worst_work + extra)


def available_memory() -> tuple[int, str]:
    """Bytes of memory available now, and where the figure came from."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        return pages * os.sysconf("SC_PAGE_SIZE"), "available physical pages"
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30, "a 4 GiB assumption (the system does not say)"


MEMORY_SHARE = 0.7


def default_limit() -> tuple[int, str]:
    avail, source = available_memory()
    return int(avail * MEMORY_SHARE), f"{MEMORY_SHARE:.0%} of available memory ({source})"


_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """'2GiB', '512M', '1.5 GB', '1000000' → bytes (binary units: GB and GiB are both 2**30)."""
    t = text.strip().upper().replace(" ", "")
    for suffix in ("IB", "B"):
        if t.endswith(suffix) and len(t) > len(suffix) and not t[: -len(suffix)][-1].isdigit():
            t = t[: -len(suffix)]
            break
    unit = t[-1] if t and t[-1] in "KMGT" else ""
    number = t[:-1] if unit else t.removesuffix("B")
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"cannot read the memory size '{text}'", "write e.g. 2GiB, 512MiB or 1500000000"
        ) from None
    if value <= 0:
        raise UsageError(f"the memory limit must be positive, got '{text}'")
    return int(value * _UNITS[unit])


GUARD_HINT = (
    "use --batch 1 or a smaller --input (e.g. half the height and width), or raise "
    "--max-memory if you know the memory is there"
)


def guard_memory(
    estimate: MemoryEstimate, limit: int, limit_source: str, what: str, hint: str = GUARD_HINT
) -> None:
    """Refuse (UsageError, exit 2) when the estimate is over the limit. ``hint``: what the
    calling command's options allow doing about it."""
    if estimate.total <= limit:
        return
    raise UsageError(
        f"{what} would need about {human(estimate.total, 'B')} (weights "
        f"{human(estimate.weights, 'B')}, peak activations {human(estimate.activations, 'B')}"
        f", kernel workspace {human(estimate.workspace, 'B')}), over the limit of "
        f"{human(limit, 'B')} ({limit_source})",
        hint,
    )
