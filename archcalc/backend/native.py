"""The backend's one compiled kernel: depthwise convolution (``_native.c``).

A depthwise conv does nine multiply-adds per output value on a 3x3 kernel and no matrix
product, so BLAS has nothing to offer it, and NumPy's ``einsum`` (the fallback, in
:mod:`kernels`) multiplies and adds in separate passes over the channels and stays on one
core. The C loop keeps each output's sums in vector registers across all its taps and writes
it once; on MobileNetV2's shapes it runs on one core in less time than PyTorch's depthwise
kernel on two (``benchmarks/bench_kernels.py``, docs/backend.md).

The library is compiled when archcalc is installed (``hatch_build.py``, with the system's C
compiler) and loaded through ``ctypes``: plain C with no Python API, so one library serves
every Python version. It is not used, and :func:`depthwise` returns None so the caller falls
back to NumPy, where it was not built (no compiler at install time), where it was built from
another version of ``_native.c`` than the one beside it (an editable install whose C source
changed since), where it fails a check on first use, or where ``ARCHCALC_NATIVE=0`` is set.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_native.c"
LIBRARY = HERE / ("_native.dll" if sys.platform == "win32" else "_native.so")


def source_hash(text: bytes) -> str:
    """What the build stamps into the library (``archcalc_native_source``) and the loader
    compares with the C source beside it."""
    return hashlib.sha256(text).hexdigest()[:16]


@functools.cache
def _library() -> ctypes.CDLL | None:
    if os.environ.get("ARCHCALC_NATIVE", "").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        lib = ctypes.CDLL(str(LIBRARY))
        stamp = ctypes.string_at(
            ctypes.addressof(ctypes.c_char.in_dll(lib, "archcalc_native_source"))
        )
    except (OSError, ValueError):
        return None
    # a wheel ships the source beside the library; an editable install may have edited it
    if SOURCE.exists() and stamp != source_hash(SOURCE.read_bytes()).encode():
        return None
    return lib


Kernel = Callable[..., None]


@functools.cache
def _kernel(dtype: np.dtype[Any]) -> Kernel | None:
    """The bound C function for ``dtype``, if the library loaded and it passes a check
    against the plain NumPy sum on a case that reaches every loop (a vector block of
    channels, single vectors and a scalar tail; a stride and a dilation)."""
    lib = _library()
    if lib is None or dtype not in (np.float32, np.float64):
        return None
    func = getattr(
        lib, "archcalc_depthwise_f32" if dtype == np.float32 else "archcalc_depthwise_f64"
    )
    ptr, size = ctypes.c_void_p, ctypes.c_ssize_t
    func.argtypes = [ptr] * 6 + [size] * 5
    func.restype = None
    rng = np.random.default_rng(0)
    channels = 4 * 8 + 8 + 3
    x = rng.standard_normal((2, 9, 11, channels)).astype(dtype)
    w = rng.standard_normal((3, 2, channels)).astype(dtype)
    b = rng.standard_normal(channels).astype(dtype)
    got = _run(func, x, w, b, (3, 2), (2, 1), (1, 3), (2, 8))
    want = np.broadcast_to(b, got.shape).copy()
    for i, j in np.ndindex(3, 2):
        want += x[:, i : i + 4 : 2, 3 * j : 3 * j + 8] * w[i, j]
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    return func if np.allclose(got, want, rtol=tolerance, atol=tolerance) else None


def _run(
    func: Kernel,
    xp: Array,
    w: Array,
    b: Array | None,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array:
    """Lay out the offsets ``_native.c`` reads (its header says what they are) and call it."""
    n, spatial, c = xp.shape[0], xp.shape[1:-1], xp.shape[-1]
    pitch = [c * math.prod(spatial[i + 1 :]) for i in range(len(spatial))]  # elements per step
    # where each output row's first output starts reading: batch, then every axis but the last
    origin = np.arange(n, dtype=np.intp) * (math.prod(spatial) * c)
    for axis in range(len(out) - 1):
        steps = np.arange(out[axis], dtype=np.intp) * (s[axis] * pitch[axis])
        origin = (origin[:, None] + steps).ravel()
    tap = np.zeros(1, dtype=np.intp)
    for axis, k in enumerate(kernel):
        tap = (tap[:, None] + np.arange(k, dtype=np.intp) * (d[axis] * pitch[axis])).ravel()
    y = np.empty((n, *out, c), dtype=xp.dtype)
    step = s[-1] * c
    func(
        xp.ctypes.data, w.ctypes.data, None if b is None else b.ctypes.data, y.ctypes.data,
        origin.ctypes.data, tap.ctypes.data, tap.size, c, out[-1], step, origin.size,
    )  # fmt: skip
    return y


def depthwise(
    xp: Array,
    w: Array,
    b: Array | None,
    kernel: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    out: tuple[int, ...],
) -> Array | None:
    """Depthwise cross-correlation of the padded channels-last input ``xp``
    ``(N, *spatial, C)`` with ``w`` ``(*kernel, C)``, plus the bias ``b`` ``(C,)`` if given,
    output ``(N, *out, C)``; None where the compiled kernel is not to be used (then NumPy
    computes it)."""
    func = _kernel(xp.dtype)
    if func is None or w.dtype != xp.dtype or (b is not None and b.dtype != xp.dtype):
        return None
    c = xp.shape[-1]
    if (
        w.shape != (*kernel, c)
        or (b is not None and b.shape != (c,))
        or len(out) != len(kernel)
        or xp.ndim != len(kernel) + 2
    ):
        raise ValueError(f"depthwise of {xp.shape} by {w.shape} into {out}")
    reach = [(o - 1) * st + dl * (k - 1) + 1 for o, st, dl, k in zip(out, s, d, kernel)]
    if any(r > size for r, size in zip(reach, xp.shape[1:-1])):  # C would read past xp
        raise ValueError(f"depthwise output {out} reaches past input {xp.shape}")
    contiguous = np.ascontiguousarray
    return _run(
        func, contiguous(xp), contiguous(w), None if b is None else contiguous(b), kernel, s, d, out
    )


def available(dtype: Any = np.float32) -> bool:
    """Whether :func:`depthwise` runs the compiled kernel for ``dtype``."""
    return _kernel(np.dtype(dtype)) is not None
