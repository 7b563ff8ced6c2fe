"""Vectorised NumPy kernels for running a convolutional network, channels-last.

Layout: 2-D feature maps are ``(N, H, W, C)``, 1-D ones ``(N, L, C)``. Every spatial
kernel is written over an arbitrary number of spatial axes (the axes between batch and
channels), so the same code serves 1-D and 2-D layers.

Per-axis arguments (``stride``, ``dilation``, ``kernel`` ...) take one entry per spatial
axis; a bare int is broadcast to every axis. ``padding`` is one ``(before, after)`` pair
per spatial axis (a bare int or a flat sequence of ints means symmetric padding).

All kernels keep the floating dtype of their input (float32 in practice): weights and
constants are cast to ``x.dtype`` so nothing is silently promoted to float64.

Every multiply-accumulate performed by :func:`conv`, :func:`conv_transpose` and
:func:`dense` goes through :func:`_matmul` or :func:`_einsum`, which record the multiply-
accumulates the operand shapes they were actually given imply in all active
:class:`MacCounter` objects (see :func:`count_macs`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from archcalc.backend import blas, native
from archcalc.shapes import out_length, pad_pairs, per_axis

Array = npt.NDArray[Any]
IntArg = int | Sequence[int]
PadArg = int | Sequence[int] | Sequence[tuple[int, int]] | Sequence[Sequence[int]]

__all__ = [
    "MacCounter",
    "adaptive_avg_pool",
    "add",
    "avg_pool",
    "batchnorm",
    "concat",
    "conv",
    "conv_transpose",
    "count_macs",
    "dense",
    "erf",
    "flatten",
    "flatten_order_from_chw",
    "gelu",
    "global_avg_pool",
    "global_max_pool",
    "leaky_relu",
    "lrn",
    "max_pool",
    "relu",
    "relu6",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
    "upsample",
    "zeropad",
]

# ---------------------------------------------------------------------------------------
# MAC accounting
# ---------------------------------------------------------------------------------------


class MacCounter:
    """Accumulates multiply-accumulates performed by the kernels while it is active.

    Use through :func:`count_macs`. Counters nest: every active counter sees every MAC.
    The bookkeeping is a plain module-level stack, so it is not meant to be shared
    between threads.
    """

    def __init__(self) -> None:
        self.total = 0
        #: One ``(operation, operand shapes, macs)`` entry per recorded call.
        self.records: list[tuple[str, tuple[tuple[int, ...], ...], int]] = []

    def add(self, op: str, shapes: tuple[tuple[int, ...], ...], macs: int) -> None:
        self.total += macs
        self.records.append((op, shapes, macs))

    def __enter__(self) -> MacCounter:
        _ACTIVE_COUNTERS.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _ACTIVE_COUNTERS.remove(self)


_ACTIVE_COUNTERS: list[MacCounter] = []


def count_macs() -> MacCounter:
    """Return a fresh counter to use as a context manager: ``with count_macs() as c: ...``."""
    return MacCounter()


def _record(op: str, shapes: tuple[tuple[int, ...], ...], macs: int) -> None:
    for counter in _ACTIVE_COUNTERS:
        counter.add(op, shapes, macs)


def _matmul(a: Array, b: Array, out: Array | None = None) -> Array:
    """``a @ b`` (with numpy broadcasting of leading axes, into ``out`` when given) that
    records m*k*n per batch."""
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError("_matmul needs operands with at least 2 dimensions")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul shape mismatch {a.shape} @ {b.shape}")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m, k = a.shape[-2:]
    n = b.shape[-1]
    _record("matmul", (a.shape, b.shape), math.prod(batch) * m * k * n)
    result: Array = np.matmul(a, b, out=out)
    return result


def _einsum(
    a: Array, a_axes: list[int], b: Array, b_axes: list[int], out: Array, out_axes: list[int]
) -> None:
    """``np.einsum`` of two operands into ``out``, axes numbered as in its sublist form;
    records one MAC per point of the index space, whose sizes it takes from the operands."""
    sizes = dict(zip(a_axes, a.shape, strict=True)) | dict(zip(b_axes, b.shape, strict=True))
    _record("einsum", (a.shape, b.shape), math.prod(sizes.values()))
    np.einsum(a, a_axes, b, b_axes, out_axes, out=out)


# ---------------------------------------------------------------------------------------
# Argument normalisation
# ---------------------------------------------------------------------------------------


def _tuple(value: IntArg, nd: int, name: str) -> tuple[int, ...]:
    try:
        return per_axis(value, nd)
    except ValueError:
        raise ValueError(f"{name} needs {nd} entries, got {value!r}") from None


def _pairs(value: PadArg, nd: int) -> tuple[tuple[int, int], ...]:
    pairs = pad_pairs(value, nd)
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError("negative padding is not supported")
    return pairs


def _spatial_ndim(x: Array) -> int:
    if x.ndim < 3:
        raise ValueError(f"expected (N, *spatial, C), got shape {x.shape}")
    return x.ndim - 2


def _pad_spatial(
    x: Array, pads: Sequence[tuple[int, int]], value: float = 0.0, role: int | None = None
) -> Array:
    """Pad the spatial axes; returns ``x`` itself (no copy) when there is nothing to pad.
    With a workspace ``role`` the copy is a temporary there (see :func:`_scratch`).

    ``x`` copied into the middle of a new array and only the borders filled, so every
    element is written once: ``np.pad`` costs tens of microseconds more per call (which adds
    up over a net's small late layers), and filling the whole array first writes it twice.
    """
    if all(p == (0, 0) for p in pads):
        return x
    shape = (x.shape[0], *(n + pb + pa for n, (pb, pa) in zip(x.shape[1:-1], pads)), x.shape[-1])
    y = np.empty(shape, dtype=x.dtype) if role is None else _scratch(shape, x.dtype, role)
    inner = (slice(None), *(slice(pb, pb + n) for n, (pb, _) in zip(x.shape[1:-1], pads)))
    y[inner] = x
    for axis, (pb, pa) in enumerate(pads, start=1):
        for part in (slice(0, pb), slice(y.shape[axis] - pa, y.shape[axis])):
            edge = [slice(None)] * y.ndim
            edge[axis] = part
            y[tuple(edge)] = value
    return y


def _tap_slices(
    taps: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: Sequence[int],
) -> tuple[slice, ...]:
    """Index selecting, for each output position, the input element under one kernel tap."""
    spatial = tuple(
        slice(t * d, t * d + (o - 1) * s + 1, s)
        for t, s, d, o in zip(taps, stride, dilation, out, strict=True)
    )
    return (slice(None), *spatial, slice(None))


# ---------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------

# The im2col patch matrix is built in slabs of output rows, each at most this size.
IM2COL_LIMIT_BYTES = 16 * 1024 * 1024

# Temporaries (patch matrices and sums, padded copies of inputs, pooling's half-reduced maps)
# live in workspaces kept between calls, one per role, so their pages are touched once per
# process instead of once per layer: a fresh page costs a fault, and on the development VM
# faults made ResNet-18's max pooling ten times slower than its arithmetic. Temporaries
# larger than this are allocated and freed as usual, so a large net's peak is not raised by
# buffers kept from its early layers. Like the MAC counters, the workspaces are shared by the
# whole process: the kernels are not to be called from several threads at once.
SCRATCH_LIMIT_BYTES = 16 * 1024 * 1024
PATCHES, PADDED, HALF_REDUCED = range(3)  # workspace roles
_workspaces = [np.empty(0, np.uint8) for _ in range(3)]


def _scratch(shape: tuple[int, ...], dtype: np.dtype[Any], role: int = PATCHES) -> Array:
    """An uninitialised array of ``shape`` in the workspace of ``role``, valid until the next
    call for that role (or a fresh array, if larger than ``SCRATCH_LIMIT_BYTES``)."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > SCRATCH_LIMIT_BYTES:
        return np.empty(shape, dtype)
    if _workspaces[role].nbytes < nbytes:
        _workspaces[role] = np.empty(nbytes, np.uint8)
    return _workspaces[role][:nbytes].view(dtype).reshape(shape)


def conv(
    x: Array,
    w: Array,
    b: Array | None,
    stride: IntArg = 1,
    dilation: IntArg = 1,
    padding: PadArg = 0,
    groups: int = 1,
    flip: bool = False,
) -> Array:
    """Convolution layer (cross-correlation, as frameworks define it).

    ``x`` is ``(N, *spatial, C_in)``, ``w`` is ``(*kernel, C_in // groups, C_out)`` and
    ``b`` is ``(C_out,)`` or None. ``flip=True`` flips the kernel along every spatial axis,
    giving true mathematical convolution. Output length per axis is
    ``floor((L + pb + pa - d*(k-1) - 1) / s) + 1``.

    Output channel ``o`` belongs to group ``o // (C_out // groups)`` (PyTorch's order).
    """
    nd = _spatial_ndim(x)
    if w.ndim != nd + 2:
        raise ValueError(f"weight shape {w.shape} does not match input {x.shape}")
    kernel = tuple(w.shape[:nd])
    cin = x.shape[-1]
    cin_g, cout = w.shape[nd], w.shape[nd + 1]
    if cin % groups or cout % groups or cin // groups != cin_g:
        raise ValueError(
            f"channels {cin}->{cout} with groups={groups} do not match weight {w.shape}"
        )
    s = _tuple(stride, nd, "stride")
    d = _tuple(dilation, nd, "dilation")
    pads = _pairs(padding, nd)
    w = w.astype(x.dtype, copy=False)
    if flip:
        w = w[(slice(None, None, -1),) * nd]
    out = tuple(
        out_length(x.shape[1 + i], d[i] * (kernel[i] - 1) + 1, s[i], *pads[i]) for i in range(nd)
    )
    if any(o <= 0 for o in out):
        raise ValueError(f"convolution output would be empty: {out}")

    n = x.shape[0]
    path = conv_path(n, out, cin, cout, kernel, s, d, groups, x.itemsize)
    if b is not None:
        b = b.astype(x.dtype, copy=False)
    if path == "depthwise":  # adds the bias itself: the compiled kernel starts its sums from it
        y = _conv_depthwise(_pad_spatial(x, pads, role=PADDED), w, b, kernel, s, d, out)
        return y.reshape(n, *out, cout)
    if path == "pointwise":
        y = _conv_pointwise(_pad_spatial(x, pads, role=PADDED), w, s, out, groups)
    elif path == "shifted":
        y = _conv_shifted(x, pads, w, kernel, d, out)
    else:
        y = _conv_im2col(x, pads, w, kernel, s, d, out, groups)
    if b is not None:
        y += b
    return y.reshape(n, *out, cout)


def conv_path(
    batch: int,
    out: Sequence[int],
    cin: int,
    cout: int,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    groups: int,
    itemsize: int,
) -> str:
    """Which algorithm :func:`conv` runs: ``depthwise`` (one input channel per group),
    ``pointwise`` (1x1 kernels), ``shifted`` (one accumulated product per kernel tap, see
    :func:`_conv_shifted`) or ``im2col``.

    The shifted path reads the input as it lies, where im2col copies it once per tap into the
    patch matrix. It pays with unit stride, on large maps or for few filters (where the patch
    matrix is a large copy for the products it feeds; on small maps with many filters nine
    small products lose to one large one), with products deep enough to run near the BLAS's
    speed, and where the grid it computes on, cropped afterwards, is not much larger than the
    output (small maps with a wide kernel are not). Measured on VGG, ResNet, DenseNet and
    U-Net layer shapes.
    """
    if cin == groups and groups > 1:
        return "depthwise"
    if all(k == 1 for k in kernel):
        return "pointwise"
    grid = _shifted_grid(kernel, d, out)
    if (
        groups == 1
        and all(st == 1 for st in s)
        and cin >= SHIFTED_MIN_CHANNELS
        and (2 * cout <= cin or batch * math.prod(out) >= SHIFTED_MIN_POSITIONS)
        and 4 * math.prod(grid) <= 5 * math.prod(out)
        and blas.available(np.dtype(f"f{itemsize}"))
    ):
        return "shifted"
    return "im2col"


def conv_workspace(
    batch: int,
    spatial: Sequence[int],
    out: Sequence[int],
    cin: int,
    cout: int,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    groups: int,
    itemsize: int,
) -> int:
    """Bytes :func:`conv` allocates besides its output (spatial size ``out``), at most (for
    the memory guard)."""
    path = conv_path(batch, out, cin, cout, kernel, s, d, groups, itemsize)
    padded = batch * cin * itemsize * math.prod(n + pb + pa for n, (pb, pa) in zip(spatial, pads))
    if path in ("depthwise", "pointwise"):  # a padded (or strided) copy, and a second sum
        copies = padded + batch * math.prod(spatial) * cin * itemsize
        if path == "depthwise" and cout > cin:
            # the padded channels repeated per depth multiplier, then the strided phases of that
            # made contiguous (the NumPy fallback)
            copies = padded + 2 * padded * (cout // cin)
        return copies + 2 * batch * math.prod(out) * cout * itemsize
    if path == "shifted":
        grid = _shifted_grid(kernel, d, out)
        rows = _shifted_slab_rows(grid, batch)
        return rows * math.prod(grid[1:]) * (cin + cout) * itemsize  # per slab: input, sums
    kk = math.prod(kernel)
    patch = math.prod(out[1:]) * kk * cin * itemsize  # one output row's patches
    slab = min(batch * out[0] * patch, max(IM2COL_LIMIT_BYTES, patch))
    return min(padded, slab) + slab  # only the rows a slab reads are padded


def _conv_pointwise(
    xp: Array, w: Array, s: tuple[int, ...], out: tuple[int, ...], groups: int
) -> Array:
    """1x1 kernels: no im2col, just a (strided) view flattened into a matmul operand."""
    nd = len(s)
    if any(st != 1 for st in s):
        sl = (slice(None), *(slice(0, (o - 1) * st + 1, st) for o, st in zip(out, s, strict=True)))
        xp = xp[sl]
    cin = xp.shape[-1]
    rows = xp.reshape(-1, cin)  # a view when xp is contiguous (stride 1, no padding)
    wm = w.reshape(w.shape[nd], w.shape[nd + 1])
    if groups == 1:
        return _matmul(rows, wm)
    cin_g, cout_g = cin // groups, wm.shape[1] // groups
    a = rows.reshape(-1, groups, cin_g).transpose(1, 0, 2)  # (G, M, Cin_g)
    wg = wm.reshape(cin_g, groups, cout_g).transpose(1, 0, 2)  # (G, Cin_g, Cout_g)
    y = _matmul(a, wg)  # (G, M, Cout_g)
    return np.ascontiguousarray(y.transpose(1, 0, 2)).reshape(-1, groups * cout_g)


# A convolution computed as one product per kernel tap needs deep products to run near the
# BLAS's speed, and (unless it has few filters) enough output positions that the patch
# matrix it saves is a large copy: below these, im2col's one deep product wins (measured on
# VGG, ResNet, DenseNet and U-Net layer shapes; 28x28x128 -> 128 loses at batch 1 and wins
# at batch 8).
SHIFTED_MIN_CHANNELS = 32
SHIFTED_MIN_POSITIONS = 2048
# Grid positions (output rows of the products) per slab: enough for each product to run at
# the BLAS's full speed, few enough that the slab's sums stay in cache between taps.
SHIFTED_SLAB_POSITIONS = 4096


def _shifted_reach(kernel: tuple[int, ...], d: tuple[int, ...]) -> list[int]:
    """Per axis, the furthest a tap reads past its output's own position."""
    return [(k - 1) * di for k, di in zip(kernel, d, strict=True)]


def _shifted_grid(
    kernel: tuple[int, ...], d: tuple[int, ...], out: Sequence[int]
) -> tuple[int, ...]:
    """The grid :func:`_conv_shifted` computes on: the output plus the taps' reach (the
    padded input's extent)."""
    return tuple(o + r for o, r in zip(out, _shifted_reach(kernel, d), strict=True))


def _shifted_slab_rows(grid: tuple[int, ...], batch: int) -> int:
    """Grid rows (along the first spatial axis, all samples' rows counted) per slab."""
    per_sample = grid[0]
    rows = max(1, SHIFTED_SLAB_POSITIONS // math.prod(grid[1:]))
    return (
        min(rows, per_sample) if rows < per_sample else min(batch, rows // per_sample) * per_sample
    )


def _conv_shifted(
    x: Array,
    pads: tuple[tuple[int, int], ...],
    w: Array,
    kernel: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array:
    """Unit stride, one group: one product per kernel tap on a shifted range of rows,
    accumulated by the BLAS in place; no patch matrix.

    On the padded input flattened to rows of channels, the input under tap ``t`` for output
    position ``p`` lies a fixed number of rows after ``p``'s own position in the padded grid,
    the same for every ``p``: so the whole convolution is ``sum over t of
    rows[shift_t : shift_t + m] @ w[t]``, each term a GEMM on a slice of the input as it lies,
    added into the sums by the GEMM itself (:func:`blas.shifted_products`). Outputs are computed on the
    padded grid and the positions past the output's edge are cropped: computed, thrown away,
    and not counted as MACs. The work goes in slabs of grid rows (whole samples where they
    fit), each padding only the input rows it reads, so the sums stay in cache across the
    taps and no padded copy of a whole large input exists.
    """
    nd = len(kernel)
    n, cin = x.shape[0], x.shape[-1]
    cout = w.shape[-1]
    reach = _shifted_reach(kernel, d)
    grid = _shifted_grid(kernel, d, out)
    pitch = [math.prod(grid[i + 1 :]) for i in range(nd)]
    taps = list(itertools.product(*(range(k) for k in kernel)))
    shifts = [sum(t * di * p for t, di, p in zip(tap, d, pitch)) for tap in taps]
    stack = np.ascontiguousarray(w).reshape(len(taps), cin, cout)  # taps in the same order
    y = np.empty((n, *out, cout), dtype=x.dtype)
    rows = _shifted_slab_rows(grid, n)
    if rows >= grid[0]:
        step = rows // grid[0]
        slabs = [(i, min(i + step, n), 0, out[0]) for i in range(0, n, step)]
    else:
        per = max(1, rows - reach[0])
        slabs = [
            (i, i + 1, r, min(r + per, out[0])) for i in range(n) for r in range(0, out[0], per)
        ]
    length, before = x.shape[1], pads[0][0]
    for i0, i1, r0, r1 in slabs:
        lo, hi = r0 - before, r1 + reach[0] - before  # input rows read, some in the padding
        piece = x[i0:i1, max(lo, 0) : min(hi, length)]
        piece = _pad_spatial(piece, ((max(-lo, 0), max(hi - length, 0)), *pads[1:]), role=PADDED)
        flat = np.ascontiguousarray(piece).reshape(-1, cin)
        m = flat.shape[0] - shifts[-1]
        sums = _scratch((flat.shape[0], cout), x.dtype)
        useful = (i1 - i0) * (r1 - r0) * math.prod(out[1:]) * cin * cout
        for _ in taps:
            _record("matmul", ((m, cin), (cin, cout)), useful)
        blas.shifted_products(flat, shifts, stack, sums[:m])
        crop = (slice(None), *(slice(0, o) for o in (r1 - r0, *out[1:])), slice(None))
        y[i0:i1, r0:r1] = sums.reshape(i1 - i0, hi - lo, *grid[1:], cout)[crop]
    return y.reshape(-1, cout)


def _conv_im2col(
    x: Array,
    pads: tuple[tuple[int, int], ...],
    w: Array,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
    groups: int,
) -> Array:
    """Patch matrix (im2col) times the kernel matrix, one slab of output rows at a time.

    A slab is whole samples when one fits in ``IM2COL_LIMIT_BYTES``, else rows of the first
    spatial axis of one sample. Only the input rows a slab reads are padded (so no padded copy
    of a whole large input exists), and each slab's product is written straight into the
    output.
    """
    nd = len(kernel)
    n, cin = x.shape[0], x.shape[-1]
    cout = w.shape[-1]
    kk = math.prod(kernel)
    cin_g, cout_g = cin // groups, cout // groups
    if groups == 1:
        wm: Array = w.reshape(kk * cin, cout)  # rows ordered (*kernel, C_in), as the patches
    else:
        # (*k, Cin_g, G, Cout_g) -> (G, *k, Cin_g, Cout_g) -> (G, K, Cout_g)
        wg = np.moveaxis(w.reshape(*kernel, cin_g, groups, cout_g), nd + 1, 0)
        wm = wg.reshape(groups, kk * cin_g, cout_g)
    y = np.empty((n, *out, cout), dtype=x.dtype)
    per = max(1, IM2COL_LIMIT_BYTES // (math.prod(out[1:]) * kk * cin * x.itemsize))
    if per >= out[0]:  # whole samples per slab
        step = per // out[0]
        slabs = [(i, min(i + step, n), 0, out[0]) for i in range(0, n, step)]
    else:
        slabs = [
            (i, i + 1, r, min(r + per, out[0])) for i in range(n) for r in range(0, out[0], per)
        ]
    length, before = x.shape[1], pads[0][0]
    for i0, i1, r0, r1 in slabs:
        # Input rows (first spatial axis) the slab reads, lo to hi - 1, some in the padding.
        lo = r0 * s[0] - before
        hi = (r1 - 1) * s[0] + d[0] * (kernel[0] - 1) + 1 - before
        piece = x[i0:i1, max(lo, 0) : min(hi, length)]
        piece = _pad_spatial(piece, ((max(-lo, 0), max(hi - length, 0)), *pads[1:]), role=PADDED)
        dest = y[i0:i1, r0:r1]  # contiguous: whole samples, or rows of one sample
        m = math.prod(dest.shape[:-1])
        cols = _patches(_windows(piece, kernel, s, d, (r1 - r0, *out[1:])), groups)
        if groups == 1:
            _matmul(cols, wm, out=dest.reshape(m, cout))
        else:  # (G, M, Cout_g) written as (M, G, Cout_g)
            _matmul(cols, wm, out=dest.reshape(m, groups, cout_g).transpose(1, 0, 2))
    return y.reshape(-1, cout)


def _windows(
    xp: Array,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array:
    """A view ``(N, *out, C, *kernel)``: the input under every kernel tap of every output.

    Built from strides directly (``sliding_window_view`` takes 70 us of checks, more than
    LeNet's whole convolutions); ``out`` must fit the input: ``(o - 1) * s + (k - 1) * d``
    is inside it on every axis."""
    st = xp.strides
    spatial = range(1, len(kernel) + 1)
    if any(
        (o - 1) * si + (k - 1) * di >= xp.shape[i]
        for i, o, si, k, di in zip(spatial, out, s, kernel, d)
    ):
        raise ValueError(f"windows {out} by {kernel} do not fit {xp.shape}")
    shape = (xp.shape[0], *out, xp.shape[-1], *kernel)
    strides = (
        st[0],
        *(si * st[i] for i, si in zip(spatial, s)),
        st[-1],
        *(di * st[i] for i, di in zip(spatial, d)),
    )
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def _patches(v: Array, groups: int) -> Array:
    """Copy a window view ``(N, *out, C, *kernel)`` into the workspace as the patch matrix
    ``(M, K)`` (or ``(G, M, K_g)``), K ordered ``(*kernel, C)``: channels innermost, so the
    copy reads contiguous runs."""
    nd = (v.ndim - 2) // 2
    lead, cin, kernel = v.shape[: nd + 1], v.shape[nd + 1], v.shape[nd + 2 :]
    m, kk = math.prod(lead), math.prod(kernel)
    if groups == 1:
        order = (*range(nd + 1), *range(nd + 2, 2 * nd + 2), nd + 1)
        cols = _scratch((*lead, *kernel, cin), v.dtype)
        np.copyto(cols, v.transpose(order))
        return cols.reshape(m, kk * cin)
    cin_g = cin // groups
    v = v.reshape(*lead, groups, cin_g, *kernel)  # splitting an axis keeps it a view
    order = (nd + 1, *range(nd + 1), *range(nd + 3, 2 * nd + 3), nd + 2)
    cols = _scratch((groups, *lead, *kernel, cin_g), v.dtype)
    np.copyto(cols, v.transpose(order))
    return cols.reshape(groups, m, kk * cin_g)


def _conv_depthwise(
    xp: Array,
    w: Array,
    b: Array | None,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array:
    """One input channel per group: the compiled kernel (:mod:`native`), which starts its
    sums from the bias, where it was built; else :func:`_depthwise_einsum` and the bias
    added after. ``(N * prod(out), C_out)``."""
    n, cin = xp.shape[0], xp.shape[-1]
    cout = w.shape[-1]
    mult = cout // cin  # depth multiplier; output channel = c * mult + j
    if mult > 1:
        xp = np.repeat(xp, mult, axis=-1)  # every output channel reads its own lane
    w = w.reshape(*kernel, cout)
    y = native.depthwise(xp, w, b, kernel, s, d, out)
    if y is not None:
        _record("depthwise", (xp.shape, w.shape), n * math.prod(out) * cout * math.prod(kernel))
        return y.reshape(-1, cout)
    y = _depthwise_einsum(xp, w, kernel, s, d, out).reshape(-1, cout)
    if b is not None:
        y += b
    return y


def _depthwise_einsum(
    xp: Array,
    w: Array,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array:
    """A depthwise conv (one weight per tap and channel, ``w`` ``(*kernel, C)``) in NumPy:
    ``np.einsum`` over a strided view of the taps.

    Per-group matmuls would be ``groups`` tiny GEMMs, and one element-wise multiply and add
    per tap is two passes over the whole output per tap (NumPy has no fused multiply-add
    ufunc). ``einsum`` multiplies and accumulates in one pass per tap, one output row at a
    time, so the row stays in cache. Its inner loop should be long: with unit stride on the
    last spatial axis it is fused with the channels (a tap's input for a whole output row is
    one contiguous run of ``out[-1] * C`` values, against a weight row tiled to match); a
    stride on that axis is split into its phases (even and odd columns for stride 2), each
    made contiguous once, unless the channels alone make a long enough inner loop.
    """
    n, cout = xp.shape[0], w.shape[-1]
    nd = len(kernel)
    if s[-1] > 1 and cout >= _DEPTHWISE_LONG_CHANNELS:
        # einsum axes: batch, output axes, channel (the inner loop), then the taps
        y = np.empty((n, *out, cout), dtype=xp.dtype)
        axes, taps = list(range(nd + 2)), list(range(nd + 2, 2 * nd + 2))
        _einsum(_windows(xp, kernel, s, d, out), axes + taps, w, [*taps, nd + 1], y, axes)
        return y
    # The last output axis fused with the channels: einsum axes batch, leading output axes,
    # taps, then the fused run.
    step, dil = s[-1], d[-1]
    run = out[-1] * cout
    lead, taps, fused = list(range(nd)), list(range(nd, 2 * nd)), [2 * nd]
    acc = np.empty((n, *out[:-1], run), dtype=xp.dtype)
    spare = np.empty_like(acc) if step > 1 else acc  # later phases' sums, added to acc
    first = True
    for phase in range(step):
        cols = [j for j in range(kernel[-1]) if (j * dil) % step == phase]
        if not cols:
            continue
        xs = xp if step == 1 else np.ascontiguousarray(xp[..., phase::step, :])
        rows = xs.reshape(*xs.shape[:-2], -1)
        offset = (cols[0] * dil // step) * cout
        spacing = ((cols[1] - cols[0]) * dil // step) * cout if len(cols) > 1 else 0
        view = _tap_view(
            rows[..., offset:],
            (*out[:-1], run),
            s[:-1],
            d[:-1],
            (*kernel[:-1], len(cols)),
            spacing * rows.itemsize,
        )
        rw = np.broadcast_to(w[..., cols, None, :], (*kernel[:-1], len(cols), out[-1], cout))
        rw = np.ascontiguousarray(rw).reshape(*kernel[:-1], len(cols), run)
        dest = acc if first else spare
        _einsum(view, lead + taps + fused, rw, taps + fused, dest, lead + fused)
        if not first:
            acc += spare
        first = False
    return acc


# Above this many channels a strided depthwise conv runs with the channels as einsum's inner
# loop, rather than splitting the input into its phases (measured on MobileNetV2's layers).
_DEPTHWISE_LONG_CHANNELS = 64


def _tap_view(
    x: Array,
    out: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    kernel: tuple[int, ...],
    last_tap_bytes: int,
) -> Array:
    """A strided view ``(N, *out[:-1], *kernel, out[-1])`` of ``x`` ``(N, *spatial, L)``: the
    input under each tap of each output, the last output axis running along ``x``'s last axis
    (``L``) with unit stride, and the last tap axis stepping ``last_tap_bytes``."""
    st = x.strides
    nd = len(kernel)
    lead_axes = len(out) - 1
    shape = (x.shape[0], *out[:-1], *kernel, out[-1])
    strides = (
        st[0],
        *(si * st[1 + i] for i, si in enumerate(s[:lead_axes])),
        *(di * st[1 + i] for i, di in enumerate(d[: nd - 1])),
        last_tap_bytes,
        st[-1],
    )
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def conv_transpose(
    x: Array,
    w: Array,
    b: Array | None,
    stride: IntArg = 1,
    dilation: IntArg = 1,
    padding: PadArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
) -> Array:
    """Transposed convolution with PyTorch ``ConvTranspose`` semantics.

    ``w`` is ``(*kernel, C_in, C_out // groups)``. Output length per axis is
    ``(L - 1)*s - pb - pa + d*(k-1) + output_padding + 1``; ``padding`` may be asymmetric
    (it crops the full output). Computed as one GEMM of every input pixel against the
    whole kernel, then a scatter-add (col2im) of each kernel tap.
    """
    nd = _spatial_ndim(x)
    if w.ndim != nd + 2:
        raise ValueError(f"weight shape {w.shape} does not match input {x.shape}")
    kernel = tuple(w.shape[:nd])
    n, cin = x.shape[0], x.shape[-1]
    if w.shape[nd] != cin or cin % groups:
        raise ValueError(f"weight {w.shape} does not match {cin} input channels / {groups}")
    cout_g = w.shape[nd + 1]
    cout = cout_g * groups
    cin_g = cin // groups
    s = _tuple(stride, nd, "stride")
    d = _tuple(dilation, nd, "dilation")
    op = _tuple(output_padding, nd, "output_padding")
    pads = _pairs(padding, nd)
    in_sp = tuple(x.shape[1 : nd + 1])
    full = tuple(
        (ln - 1) * st + di * (k - 1) + 1 + o
        for ln, st, di, k, o in zip(in_sp, s, d, kernel, op, strict=True)
    )
    out = tuple(f - pb - pa for f, (pb, pa) in zip(full, pads, strict=True))
    if any(o <= 0 for o in out):
        raise ValueError(f"transposed convolution output would be empty: {out}")
    w = w.astype(x.dtype, copy=False)
    kk = math.prod(kernel)
    m = n * math.prod(in_sp)
    if groups == 1 and kernel == s and all(di == 1 for di in d) and full == out:
        return _conv_transpose_tiles(x, w, b, out)

    # (*k, Cin, Cout_g) -> (Cin, *k, Cout_g) -> per group (Cin_g, K*Cout_g)
    wm = np.moveaxis(w, nd, 0).reshape(groups, cin_g, kk * cout_g)
    if groups == 1:
        cols = _matmul(x.reshape(m, cin), wm[0])[None]
    else:
        xg = x.reshape(m, groups, cin_g).transpose(1, 0, 2)
        cols = _matmul(xg, wm)  # (G, M, K*Cout_g)
    # -> (N, *in, *k, G, Cout_g): each tap then reads an (N, *in, Cout) block.
    cols = cols.reshape(groups, n, *in_sp, *kernel, cout_g)
    cols = np.moveaxis(cols, 0, -2)

    y = np.zeros((n, *full, cout), dtype=x.dtype)
    for taps in itertools.product(*(range(k) for k in kernel)):
        dst = _tap_slices(taps, s, d, in_sp)
        y[dst] += cols[(slice(None),) * (nd + 1) + taps].reshape(n, *in_sp, cout)
    crop = (slice(None), *(slice(pb, f - pa) for f, (pb, pa) in zip(full, pads, strict=True)))
    y = y[crop]
    if b is not None:
        y = y + b.astype(x.dtype, copy=False)
    elif any(p != (0, 0) for p in pads):
        y = np.ascontiguousarray(y)
    return y


def _conv_transpose_tiles(x: Array, w: Array, b: Array | None, out: tuple[int, ...]) -> Array:
    """A transposed convolution whose stride equals its kernel (U-Net's 2x2 up-convolutions):
    every input pixel paints its own kernel-sized tile of the output, and no two tiles
    overlap. So the output is one product, every pixel against the whole kernel, written
    straight into an array laid out as the tiles, ``(N, *in, *kernel, C_out)``, and read
    back in output order by one copy: no zeroed output, no scatter-add per tap.
    """
    nd = x.ndim - 2
    n, in_sp, cin = x.shape[0], x.shape[1:-1], x.shape[-1]
    kernel, cout = w.shape[:nd], w.shape[-1]
    kk = math.prod(kernel)
    wm = np.moveaxis(w, nd, 0).reshape(cin, kk * cout)  # (Cin, *k, Cout)
    tiles = _matmul(x.reshape(-1, cin), wm).reshape(n, *in_sp, *kernel, cout)
    # (N, *in, *k, C) -> (N, in_0, k_0, in_1, k_1, ..., C): each input axis beside its tap axis
    order = (0, *(a for i in range(nd) for a in (1 + i, 1 + nd + i)), 2 * nd + 1)
    y = np.empty((n, *(size for pair in zip(in_sp, kernel) for size in pair), cout), x.dtype)
    np.copyto(y, tiles.transpose(order))
    if b is not None:
        y += b
    return y.reshape(n, *out, cout)


def dense(x: Array, w: Array, b: Array | None) -> Array:
    """Fully connected layer: ``x (N, in) @ w (in, out) + b``."""
    y = _matmul(x, w.astype(x.dtype, copy=False))
    if b is not None:
        y += b.astype(x.dtype, copy=False)
    return y


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------


def max_pool(
    x: Array,
    kernel: IntArg,
    stride: IntArg | None = None,
    padding: PadArg = 0,
    dilation: IntArg = 1,
    ceil_mode: bool = False,
) -> Array:
    """Max pooling with PyTorch semantics; padding counts as ``-inf``.

    ``stride`` defaults to ``kernel``. Computed separably (max over each axis in turn),
    which is exact for a rectangular window and costs ``sum(kernel)`` passes.
    """
    nd = _spatial_ndim(x)
    k = _tuple(kernel, nd, "kernel")
    s = k if stride is None else _tuple(stride, nd, "stride")
    d = _tuple(dilation, nd, "dilation")
    pads = _pairs(padding, nd)
    return _separable_reduce(x, k, s, d, pads, ceil_mode, -np.inf, np.maximum)


def avg_pool(
    x: Array,
    kernel: IntArg,
    stride: IntArg | None = None,
    padding: PadArg = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Array:
    """Average pooling with PyTorch semantics (divisor rules included).

    With ``count_include_pad`` the divisor counts padding but never the extra cells a
    ``ceil_mode`` window hangs past the padding; without it only real input cells count.
    """
    nd = _spatial_ndim(x)
    k = _tuple(kernel, nd, "kernel")
    s = k if stride is None else _tuple(stride, nd, "stride")
    pads = _pairs(padding, nd)
    ones = (1,) * nd
    total = _separable_reduce(x, k, s, ones, pads, ceil_mode, 0.0, np.add)
    out = total.shape[1:-1]
    divisor = np.ones((), dtype=np.float64)
    for i in range(nd):
        length = x.shape[1 + i]
        pb, pa = pads[i]
        start = np.arange(out[i]) * s[i] - pb
        end = np.minimum(start + k[i], length + pa)
        # With count_include_pad the divisor counts padding but not ceil-mode overhang.
        valid = np.minimum(end, length) - np.maximum(start, 0)
        count = end - start if count_include_pad else valid
        divisor = np.multiply.outer(divisor, count)
    result: Array = total / divisor[None, ..., None].astype(x.dtype)
    return result


def _separable_reduce(
    x: Array,
    k: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    ceil_mode: bool,
    fill: float,
    ufunc: np.ufunc,
) -> Array:
    """Reduce sliding windows with ``ufunc`` one spatial axis at a time."""
    nd = len(k)
    y = x
    for ax in range(nd):
        length = x.shape[1 + ax]
        pb, pa = pads[ax]
        o = out_length(length, d[ax] * (k[ax] - 1) + 1, s[ax], pb, pa, ceil_mode)
        if o < 1:
            raise ValueError("pooling window larger than the padded input")
        need = (o - 1) * s[ax] + d[ax] * (k[ax] - 1) + 1  # padded extent actually read
        after = max(need - length - pb, 0)
        axis_pads = [(0, 0)] * nd
        axis_pads[ax] = (pb, after)
        yp = _pad_spatial(y, axis_pads, fill, role=PADDED)
        parts = []
        for t in range(k[ax]):
            idx = [slice(None)] * y.ndim
            idx[1 + ax] = slice(t * d[ax], t * d[ax] + (o - 1) * s[ax] + 1, s[ax])
            parts.append(yp[tuple(idx)])
        if len(parts) == 1:
            y = parts[0].copy()
            continue
        # A map reduced along some axes only is a temporary, unless it is what it is read from.
        temporary = ax < nd - 1 and not np.may_share_memory(yp, _workspaces[HALF_REDUCED])
        shape = parts[0].shape
        y = _scratch(shape, x.dtype, HALF_REDUCED) if temporary else np.empty(shape, x.dtype)
        ufunc(parts[0], parts[1], out=y)  # the first two taps: no copy of the first
        for part in parts[2:]:
            ufunc(y, part, out=y)
    return y


def adaptive_avg_pool(x: Array, out_size: IntArg) -> Array:
    """PyTorch adaptive average pooling: bin i spans ``[floor(i*L/o), ceil((i+1)*L/o))``."""
    nd = _spatial_ndim(x)
    outs = _tuple(out_size, nd, "out_size")
    y = x
    for ax in range(nd):
        length, o = x.shape[1 + ax], outs[ax]
        i = np.arange(o)
        start = (i * length) // o
        end = -((-(i + 1) * length) // o)
        # Averaging matrix (o, L); applying it is a small contraction, not a layer MAC.
        cols = np.arange(length)
        mask = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
        avg = (mask / (end - start)[:, None]).astype(x.dtype)
        y = np.moveaxis(np.tensordot(avg, y, axes=([1], [1 + ax])), 0, 1 + ax)
    return np.ascontiguousarray(y)


def global_avg_pool(x: Array) -> Array:
    """Mean over all spatial axes: ``(N, *spatial, C) -> (N, C)``."""
    _spatial_ndim(x)
    result: Array = x.mean(axis=tuple(range(1, x.ndim - 1)), dtype=x.dtype)
    return result


def global_max_pool(x: Array) -> Array:
    """Max over all spatial axes: ``(N, *spatial, C) -> (N, C)``."""
    _spatial_ndim(x)
    result: Array = x.max(axis=tuple(range(1, x.ndim - 1)))
    return result


# ---------------------------------------------------------------------------------------
# Reshaping and padding
# ---------------------------------------------------------------------------------------


def flatten(x: Array) -> Array:
    """Flatten all but the batch axis, in channels-last (``H, W, C``) order.

    PyTorch flattens ``(C, H, W)``, so a ``Linear`` weight imported from torch that
    follows a flatten must have its input columns permuted: with
    ``idx = flatten_order_from_chw(x.shape[1:])``, use ``w = w_torch[:, idx].T``.
    """
    return x.reshape(x.shape[0], -1)


def flatten_order_from_chw(shape: Sequence[int]) -> npt.NDArray[np.intp]:
    """Permutation from PyTorch's flatten order to ours.

    ``shape`` is one sample's channels-last shape ``(*spatial, C)``. The result ``idx``
    satisfies ``flatten(x_cl) == x_chw.reshape(N, -1)[:, idx]``.
    """
    *spatial, c = (int(v) for v in shape)
    chw = np.arange(c * math.prod(spatial)).reshape(c, *spatial)
    return np.moveaxis(chw, 0, -1).ravel()


def zeropad(x: Array, padding: PadArg) -> Array:
    """Zero padding of the spatial axes."""
    return _pad_spatial(x, _pairs(padding, _spatial_ndim(x)))


def add(*xs: Array, out: Array | None = None) -> Array:
    """Element-wise sum of any number of same-shaped tensors (residual joins), into ``out``
    when given (which may be the first input)."""
    if not xs:
        raise ValueError("add needs at least one input")
    if out is None:
        out = xs[0].copy()
    elif out is not xs[0]:
        np.copyto(out, xs[0])
    for other in xs[1:]:
        out += other
    return out


def concat(xs: Sequence[Array], out: Array | None = None) -> Array:
    """Concatenate along the channel (last) axis, into ``out`` when given (and returned).

    An input that already is the matching channel slice of ``out`` (a view at the same
    address, as when a concat grows a buffer its first input lies in) is not copied.
    """
    if out is None:
        return np.concatenate(list(xs), axis=-1)
    start = 0
    for x in xs:
        dest = out[..., start : start + x.shape[-1]]
        start += x.shape[-1]
        if not (_address(x) == _address(dest) and x.strides == dest.strides):
            dest[...] = x
    if start != out.shape[-1]:
        raise ValueError(f"concat of {start} channels into an array of {out.shape[-1]}")
    return out


def _address(a: Array) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def upsample(x: Array, scale: float | Sequence[float], mode: str = "nearest") -> Array:
    """PyTorch ``interpolate(scale_factor=...)`` with ``align_corners=False``.

    ``mode`` is ``nearest`` or ``bilinear`` (``linear`` is accepted as an alias: the
    interpolation is applied per axis, so it is linear/bilinear by dimension).
    Output length per axis is ``floor(L * scale)``.
    """
    nd = _spatial_ndim(x)
    scales = (
        (float(scale),) * nd
        if isinstance(scale, (int, float, np.integer, np.floating))
        else tuple(float(v) for v in scale)
    )
    if len(scales) != nd:
        raise ValueError(f"scale needs {nd} entries")
    if mode not in ("nearest", "bilinear", "linear"):
        raise ValueError(f"unsupported upsample mode {mode!r}")
    y = x
    for ax, sc in enumerate(scales):
        length = x.shape[1 + ax]
        o = math.floor(length * sc)
        dst = np.arange(o, dtype=np.float64)
        if mode == "nearest":
            # PyTorch uses 1/scale directly when a scale factor is given.
            src = np.minimum(np.floor(dst * (1.0 / sc)).astype(np.intp), length - 1)
            y = np.take(y, src, axis=1 + ax)
            continue
        pos = np.maximum((dst + 0.5) / sc - 0.5, 0.0)
        i0 = np.minimum(np.floor(pos).astype(np.intp), length - 1)
        i1 = np.minimum(i0 + 1, length - 1)
        lam = (pos - i0).astype(x.dtype)
        shape = [1] * y.ndim
        shape[1 + ax] = o
        lam = lam.reshape(shape)
        a = np.take(y, i0, axis=1 + ax)
        c = np.take(y, i1, axis=1 + ax)
        y = a + (c - a) * lam
    return y


# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------


def batchnorm(
    x: Array,
    gamma: Array,
    beta: Array,
    mean: Array,
    var: Array,
    eps: float = 1e-5,
    out: Array | None = None,
) -> Array:
    """Inference batch norm over the channel axis, folded into one scale and shift (into
    ``out`` when given, which may be ``x``)."""
    scale, shift = batchnorm_affine(gamma, beta, mean, var, eps, x.dtype)
    y: Array = np.multiply(x, scale, out=out)
    y += shift
    return y


def batchnorm_affine(
    gamma: Array, beta: Array, mean: Array, var: Array, eps: float, dtype: Any
) -> tuple[Array, Array]:
    """Inference batch norm as ``x * scale + shift`` per channel."""
    scale = gamma / np.sqrt(var + eps)
    return scale.astype(dtype), (beta - mean * scale).astype(dtype)


def lrn(x: Array, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Array:
    """PyTorch ``LocalResponseNorm``: ``x / (k + alpha/size * sum_window(x^2))^beta``.

    The window over channels covers ``[c - size//2, c + (size-1)//2]``, zero padded.
    """
    c = x.shape[-1]
    sq = np.square(x)
    width = [(0, 0)] * (x.ndim - 1) + [(size // 2, (size - 1) // 2)]
    sqp = np.pad(sq, width)
    acc = sqp[..., 0:c].copy()
    for t in range(1, size):  # loop over the window taps, `size` is small
        acc += sqp[..., t : t + c]
    denom = acc * x.dtype.type(alpha / size) + x.dtype.type(k)
    result: Array = x / np.power(denom, x.dtype.type(beta))
    return result


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------

# Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for erf/erfc on the whole real line.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erfc_abs(z: Array) -> Array:
    """``erfc(|z|)``, computed directly so small tails keep relative accuracy."""
    a = np.abs(z).astype(np.float64)
    t = 1.0 / (1.0 + _ERF_P * a)
    poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4]))))
    result: Array = poly * np.exp(-a * a)
    return result


def erf(x: Array) -> Array:
    """Vectorised error function (max absolute error 1.5e-7), keeps ``x.dtype``."""
    q = _erfc_abs(x)
    return np.where(x >= 0, 1.0 - q, q - 1.0).astype(x.dtype)


def gelu(x: Array) -> Array:
    """Exact GELU ``x/2 * (1 + erf(x/sqrt(2)))``.

    ``1 + erf`` is formed from ``erfc`` so negative inputs do not lose precision to
    cancellation.
    """
    q = _erfc_abs(x / math.sqrt(2.0))
    one_plus_erf = np.where(x >= 0, 2.0 - q, q)
    return (0.5 * x * one_plus_erf).astype(x.dtype)


def relu(x: Array, out: Array | None = None) -> Array:
    # clip to [0, inf] rather than maximum(x, 0): the same values (NaN stays NaN), but NumPy's
    # clip loop is vectorised for float32 and measured three times faster.
    result: Array = np.clip(x, x.dtype.type(0), x.dtype.type(np.inf), out=out)
    return result


def relu6(x: Array, out: Array | None = None) -> Array:
    result: Array = np.clip(x, x.dtype.type(0), x.dtype.type(6), out=out)
    return result


def leaky_relu(x: Array, slope: float = 0.01) -> Array:
    return np.where(x >= 0, x, x * x.dtype.type(slope))


def sigmoid(x: Array) -> Array:
    # exp of a non-positive number only, so large |x| never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def tanh(x: Array) -> Array:
    return np.tanh(x)


def silu(x: Array) -> Array:
    return x * sigmoid(x)


def hardsigmoid(x: Array, alpha: float = 1 / 6, beta: float = 0.5) -> Array:
    y: Array = x * x.dtype.type(alpha)
    y += x.dtype.type(beta)
    return np.clip(y, x.dtype.type(0), x.dtype.type(1), out=y)


def hardswish(x: Array) -> Array:
    result: Array = x * hardsigmoid(x)
    return result


def clip(x: Array, low: float | None = None, high: float | None = None) -> Array:
    return np.clip(
        x,
        None if low is None else x.dtype.type(low),
        None if high is None else x.dtype.type(high),
    )


def softmax(x: Array, axis: int = -1) -> Array:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    result: Array = e / e.sum(axis=axis, keepdims=True)
    return result
