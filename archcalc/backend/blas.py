"""``C += A @ B`` through the BLAS NumPy itself is linked with.

NumPy's ``matmul`` always overwrites its output, so a sum of products (a convolution computed
as one product per kernel tap, each on a shifted range of the input's rows) costs a temporary
and an addition pass over the output per term. BLAS's GEMM accumulates in place
(``C = A @ B + beta * C``), reading each operand straight from memory whatever its row pitch.
NumPy exposes no such call, but its wheels ship OpenBLAS as a shared library whose CBLAS
entry points ``ctypes`` can call: the same library and the same thread pool NumPy's own
``matmul`` uses, so nothing else is loaded and no second set of threads competes for the
cores.

Where that library is not found (a NumPy built against another BLAS), does not pass a check on
first use, or ``ARCHCALC_BLAS=numpy`` is set, :func:`shifted_products` falls back to
``matmul`` into a temporary and an addition: the same results, slower.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

# CBLAS enumerations (cblas.h)
_ROW_MAJOR, _NO_TRANS = 101, 111

# NumPy's wheels name their OpenBLAS's symbols with a "scipy_" prefix, and with a "64_"
# suffix where its integers are 64-bit; a system OpenBLAS has the bare names.
_SYMBOLS = ("scipy_cblas_{t}gemm64_", "scipy_cblas_{t}gemm", "cblas_{t}gemm64_", "cblas_{t}gemm")

Gemm = Callable[..., None]


def _library_paths() -> list[str]:
    """OpenBLAS builds shipped inside NumPy's wheel (Linux and Windows: ``numpy.libs``
    beside the package; macOS: ``numpy/.dylibs``)."""
    here = os.path.dirname(np.__file__)
    patterns = [
        os.path.join(here, os.pardir, "numpy.libs", "*openblas*"),
        os.path.join(here, ".dylibs", "*openblas*"),
    ]
    return sorted(p for pattern in patterns for p in glob.glob(pattern))


def _bind(dtype: np.dtype[Any]) -> Gemm | None:
    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}[dtype]
    scalar = ctypes.c_float if letter == "s" else ctypes.c_double
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern in _SYMBOLS:
            name = pattern.format(t=letter)
            func = getattr(lib, name, None)
            if func is None:
                continue
            index = ctypes.c_int64 if name.endswith("64_") else ctypes.c_int32
            enum, ptr = ctypes.c_int, ctypes.c_void_p
            func.argtypes = [enum, enum, enum, index, index, index, scalar, ptr, index]
            func.argtypes += [ptr, index, scalar, ptr, index]
            func.restype = None
            return func
    return None


@functools.cache
def _gemm_for(dtype: np.dtype[Any]) -> Gemm | None:
    """The bound GEMM for ``dtype``, if found and it computes a small sum of products right."""
    if os.environ.get("ARCHCALC_BLAS", "").lower() == "numpy":
        return None
    func = _bind(dtype)
    if func is None:
        return None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((9, 5)).astype(dtype)
    b = rng.standard_normal((2, 5, 3)).astype(dtype)
    out = np.full((7, 3), np.nan, dtype)  # a first product that read its output would show
    _products(func, a, [0, 2], b, out)
    return func if np.allclose(out, a[:7] @ b[0] + a[2:] @ b[1], rtol=1e-4, atol=1e-5) else None


def shifted_products(a: Array, shifts: Sequence[int], b: Array, out: Array) -> None:
    """``out = sum over i of a[shifts[i] : shifts[i] + len(out)] @ b[i]``: products of row
    ranges of one matrix ``a`` (C-contiguous, ``(rows, K)``) with a stack of matrices ``b``
    (``(len(shifts), K, N)``), summed into ``out`` (``(M, N)``, C-contiguous) by the GEMM
    itself. The pointers are computed here, once, so a call per term costs a few
    microseconds (a convolution's nine taps on a small map are 0.1 ms each)."""
    m = out.shape[0]
    if (
        a.ndim != 2
        or b.shape != (len(shifts), a.shape[1], out.shape[1])
        or min(shifts, default=0) < 0
        or max(shifts, default=0) + m > a.shape[0]
    ):  # BLAS would read past the arrays
        raise ValueError(f"shifted products of {a.shape} at {shifts} by {b.shape} into {out.shape}")
    func = _gemm_for(out.dtype) if out.dtype in (np.float32, np.float64) else None
    contiguous = all(arr.flags.c_contiguous for arr in (a, b, out))
    if func is None or not contiguous or a.dtype != b.dtype or b.dtype != out.dtype or m == 0:
        for i, shift in enumerate(shifts):
            product = a[shift : shift + m] @ b[i]
            if i == 0:
                out[...] = product
            else:
                out += product
        return
    _products(func, a, shifts, b, out)


def _products(func: Gemm, a: Array, shifts: Sequence[int], b: Array, out: Array) -> None:
    m, (k, n), size = out.shape[0], b.shape[1:], a.itemsize
    base_a, base_b, base_c = a.ctypes.data, b.ctypes.data, out.ctypes.data
    for i, shift in enumerate(shifts):
        func(
            _ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0,
            base_a + shift * k * size, k,
            base_b + i * k * n * size, n,
            1.0 if i else 0.0, base_c, n,
        )  # fmt: skip


def available(dtype: Any = np.float32) -> bool:
    """Whether :func:`shifted_products` calls BLAS directly for ``dtype`` (else NumPy)."""
    return _gemm_for(np.dtype(dtype)) is not None
