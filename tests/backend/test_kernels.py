"""Tests for archcalc.backend.kernels: course worked examples, MAC counts, torch oracle."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from archcalc.backend import blas, native
from archcalc.backend import kernels as K
from tests.course_data import F_IMAGE, G_EXPECTED
from tests.oracles import require, require_native

RTOL, ATOL = 1e-4, 1e-5


def img(rows: list[list[float]]) -> np.ndarray:
    """A single-channel image as an (1, H, W, 1) float32 batch."""
    return np.asarray(rows, dtype=np.float32)[None, :, :, None]


def plane(y: np.ndarray) -> np.ndarray:
    return y[0, :, :, 0]


def kern(rows: list[list[float]]) -> np.ndarray:
    """A single-channel kernel in (kh, kw, 1, 1) layout."""
    return np.asarray(rows, dtype=np.float32)[:, :, None, None]


# ---------------------------------------------------------------------------------------
# Course worked examples
# ---------------------------------------------------------------------------------------


def test_course_max_pool() -> None:
    x = img([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    y = K.max_pool(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(plane(y), [[6, 8], [3, 4]])


def test_course_avg_pool() -> None:
    x = img([[2, 3, 1, 9], [4, 7, 3, 5], [8, 2, 2, 2], [1, 3, 4, 5]])
    y = K.avg_pool(x, (2, 2), (2, 2))
    # The course prints [[4, 4.5], [3.25, 3.25]], but its bottom-left window is
    # (8 + 2 + 1 + 3) / 4 = 3.5: an arithmetic slip in the notes, checked by hand here.
    assert (8 + 2 + 1 + 3) / 4 == 3.5
    np.testing.assert_allclose(plane(y), [[4, 4.5], [3.5, 3.25]])
    np.testing.assert_allclose(plane(y)[[0, 0, 1], [0, 1, 1]], [4, 4.5, 3.25])


def test_course_moving_average_box_filter() -> None:
    box = np.full((3, 3, 1, 1), 1 / 9, dtype=np.float32)
    g = plane(K.conv(img(F_IMAGE), box, None, (1, 1), (1, 1), ((0, 0), (0, 0)), 1))
    assert g.shape == (8, 8)
    np.testing.assert_array_equal(np.round(g / 10) * 10, G_EXPECTED)
    # The course rounded to tens; the exact sums are multiples of 10 too.
    np.testing.assert_array_equal(np.round(g), G_EXPECTED)


def test_correlation_vs_convolution_non_symmetric_kernel() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 6, 7, 1)).astype(np.float32)
    w = kern([[1, 2, 0], [0, -1, 3], [4, 0, 0]])
    corr = K.conv(x, w, None, 1, 1, 0, 1)
    convo = K.conv(x, w, None, 1, 1, 0, 1, flip=True)
    assert not np.allclose(corr, convo)
    w_flipped = np.ascontiguousarray(w[::-1, ::-1])
    np.testing.assert_allclose(K.conv(x, w_flipped, None, 1, 1, 0, 1), convo, rtol=1e-6)
    np.testing.assert_allclose(
        K.conv(x, w_flipped, None, 1, 1, 0, 1, flip=True), corr, rtol=1e-6, atol=1e-6
    )
    # Convolution by hand at one position: sum x[i+a, j+b] * w[2-a, 2-b].
    i, j = 2, 3
    by_hand = sum(x[0, i + a, j + b, 0] * w[2 - a, 2 - b, 0, 0] for a in range(3) for b in range(3))
    assert convo[0, i, j, 0] == pytest.approx(by_hand, rel=1e-5)


def test_shift_kernel_moves_image_left() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 6, 1)).astype(np.float32)
    shift = kern([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    y = plane(K.conv(x, shift, None, 1, 1, 1, 1))  # "same" padding
    expected = np.zeros((5, 6), dtype=np.float32)
    expected[:, :-1] = plane(x)[:, 1:]  # pixel (i, j) takes its right neighbour
    np.testing.assert_array_equal(y, expected)


def test_translation_equivariance() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 16, 16, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)

    def f(t: np.ndarray) -> np.ndarray:
        return K.conv(t, w, None, 1, 1, 1, 1)

    dy, dx = 2, 3
    shifted_then_conv = f(np.roll(x, (dy, dx), axis=(1, 2)))
    conv_then_shifted = np.roll(f(x), (dy, dx), axis=(1, 2))
    inner = (slice(None), slice(dy + 1, -1), slice(dx + 1, -1), slice(None))
    np.testing.assert_allclose(shifted_then_conv[inner], conv_then_shifted[inner], atol=1e-5)


# ---------------------------------------------------------------------------------------
# MAC accounting
# ---------------------------------------------------------------------------------------

MAC_CASES = [
    # (in spatial, cin, cout, kernel, stride, dilation, padding, groups)
    ((12, 12), 8, 16, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((12, 12), 8, 16, (3, 3), (2, 2), (1, 1), ((1, 0), (0, 1)), 1),
    ((12, 12), 8, 16, (3, 3), (1, 1), (2, 2), ((2, 2), (2, 2)), 1),
    ((12, 12), 8, 16, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 4),
    ((12, 12), 8, 16, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), 8),
    ((12, 12), 8, 8, (5, 5), (1, 1), (2, 2), ((4, 4), (4, 4)), 8),
    ((12, 12), 8, 16, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
    ((12, 12), 8, 16, (1, 1), (2, 2), (1, 1), ((0, 0), (0, 0)), 2),
    ((20,), 6, 9, (5,), (2,), (1,), ((2, 1),), 3),
    ((20,), 6, 4, (3,), (1,), (3,), ((0, 0),), 1),
]


@pytest.mark.parametrize("case", MAC_CASES)
def test_conv_mac_count_matches_formula(case: tuple[Any, ...]) -> None:
    spatial, cin, cout, kernel, stride, dil, pad, groups = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin // groups, cout)).astype(np.float32)
    with K.count_macs() as c:
        y = K.conv(x, w, None, stride, dil, pad, groups)
    out_elements = y.size
    assert c.total == out_elements * (cin // groups) * math.prod(kernel)


@pytest.mark.parametrize(
    "spatial,cin,cout,kernel,stride,groups",
    [
        ((5, 6), 8, 6, (3, 3), (2, 2), 1),
        ((5, 6), 8, 6, (4, 3), (2, 1), 2),
        ((7,), 4, 8, (3,), (3,), 4),
    ],
)
def test_conv_transpose_mac_count(
    spatial: tuple[int, ...],
    cin: int,
    cout: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    groups: int,
) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin, cout // groups)).astype(np.float32)
    with K.count_macs() as c:
        K.conv_transpose(x, w, None, stride, 1, 1, 0, groups)
    assert c.total == 3 * math.prod(spatial) * cin * (cout // groups) * math.prod(kernel)


def test_dense_mac_count_and_nesting() -> None:
    x = np.ones((4, 10), dtype=np.float32)
    w = np.ones((10, 7), dtype=np.float32)
    with K.count_macs() as outer:
        with K.count_macs() as inner:
            K.dense(x, w, None)
        K.dense(x, w, np.zeros(7, dtype=np.float32))
    assert inner.total == 4 * 10 * 7
    assert outer.total == 2 * 4 * 10 * 7
    assert outer.records[0][0] == "matmul"
    # Nothing is counted once the counters are closed.
    K.dense(x, w, None)
    assert outer.total == 2 * 4 * 10 * 7


def test_non_mac_kernels_count_nothing() -> None:
    x = np.ones((1, 8, 8, 3), dtype=np.float32)
    with K.count_macs() as c:
        K.max_pool(x, 2)
        K.avg_pool(x, 2)
        K.adaptive_avg_pool(x, (3, 3))
        K.batchnorm(x, *(np.ones(3, np.float32),) * 4, 1e-5)
    assert c.total == 0


# ---------------------------------------------------------------------------------------
# Small numpy-only checks
# ---------------------------------------------------------------------------------------


def test_dtype_is_kept() -> None:
    x = np.ones((1, 6, 6, 2), dtype=np.float32)
    w = np.ones((3, 3, 2, 4), dtype=np.float64)
    assert K.conv(x, w, np.zeros(4), 1, 1, 1, 1).dtype == np.float32
    for fn in (K.relu, K.relu6, K.sigmoid, K.tanh, K.gelu, K.silu, K.softmax, K.erf):
        assert fn(x).dtype == np.float32, fn.__name__
    assert K.upsample(x, 2, "bilinear").dtype == np.float32
    assert K.avg_pool(x, 2).dtype == np.float32


def test_erf_accuracy() -> None:
    z = np.linspace(-6, 6, 20001)
    got = K.erf(z)
    ref = np.array([math.erf(v) for v in z])
    assert np.max(np.abs(got - ref)) < 1e-6


def test_flatten_order_from_chw() -> None:
    rng = np.random.default_rng(5)
    x_chw = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    x_cl = np.moveaxis(x_chw, 1, -1)
    idx = K.flatten_order_from_chw(x_cl.shape[1:])
    np.testing.assert_array_equal(K.flatten(x_cl), x_chw.reshape(2, -1)[:, idx])


def test_add_concat_zeropad() -> None:
    a = np.ones((1, 2, 2, 3), dtype=np.float32)
    assert np.all(K.add(a, a, a) == 3)
    assert K.concat([a, a[..., :1]]).shape == (1, 2, 2, 4)
    p = K.zeropad(a, ((1, 0), (0, 2)))
    assert p.shape == (1, 3, 4, 3)
    assert p.sum() == a.sum()


# ---------------------------------------------------------------------------------------
# Torch oracle
# ---------------------------------------------------------------------------------------


def to_torch(x: np.ndarray) -> Any:
    """Channels-last numpy -> channels-first torch tensor."""
    torch = require("torch")
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def from_torch(t: Any) -> np.ndarray:
    return np.moveaxis(t.detach().numpy(), 1, -1)


def torch_pad_arg(pads: tuple[tuple[int, int], ...]) -> list[int]:
    """(before, after) per axis -> F.pad's list, last axis first."""
    out: list[int] = []
    for pb, pa in reversed(pads):
        out += [pb, pa]
    return out


def close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


CONV_CASES = [
    # (spatial, cin, cout, kernel, stride, dilation, padding, groups)
    ((13, 11), 6, 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((13, 11), 6, 8, (3, 2), (2, 1), (1, 1), ((0, 0), (0, 0)), 1),
    ((13, 11), 6, 8, (3, 3), (2, 3), (1, 2), ((1, 2), (0, 3)), 1),
    ((13, 11), 6, 8, (3, 3), (1, 1), (2, 2), ((2, 2), (2, 2)), 2),
    ((13, 11), 6, 9, (3, 3), (2, 2), (1, 1), ((1, 0), (1, 0)), 3),
    ((13, 11), 6, 6, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 6),
    ((13, 11), 6, 12, (5, 5), (2, 2), (1, 1), ((2, 2), (2, 1)), 6),
    ((13, 11), 6, 6, (3, 3), (1, 1), (3, 2), ((3, 3), (2, 2)), 6),
    ((13, 11), 6, 18, (3, 3), (2, 1), (1, 1), ((1, 0), (1, 1)), 6),
    ((13, 11), 6, 6, (2, 3), (1, 2), (1, 1), ((0, 1), (1, 1)), 6),
    ((13, 11), 6, 8, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
    ((13, 11), 6, 8, (1, 1), (2, 2), (1, 1), ((0, 0), (0, 0)), 1),
    ((13, 11), 6, 8, (1, 1), (1, 1), (1, 1), ((1, 0), (0, 1)), 2),
    ((32, 32), 3, 16, (7, 7), (2, 2), (1, 1), ((3, 3), (3, 3)), 1),
    ((19,), 4, 6, (5,), (1,), (1,), ((2, 2),), 1),
    ((19,), 4, 6, (3,), (2,), (2,), ((0, 3),), 2),
    ((19,), 4, 4, (3,), (1,), (1,), ((1, 1),), 4),
    ((19,), 4, 8, (3,), (1,), (2,), ((2, 1),), 4),
    ((19,), 4, 8, (1,), (3,), (1,), ((0, 0),), 1),
]


def _torch_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Any, dil: Any, pad: Any, groups: int
) -> np.ndarray:
    torch = require("torch")
    fn = torch.nn.functional
    nd = x.ndim - 2
    wt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (nd, nd + 1), (1, 0))))
    xt = fn.pad(to_torch(x), torch_pad_arg(pad))
    conv = (fn.conv1d, fn.conv2d, fn.conv3d)[nd - 1]
    return from_torch(conv(xt, wt, torch.from_numpy(b), stride, 0, dil, groups))


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_vs_torch(case: tuple[Any, ...], batch: int) -> None:
    spatial, cin, cout, kernel, stride, dil, pad, groups = case
    rng = np.random.default_rng(10)
    x = rng.standard_normal((batch, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin // groups, cout)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    got = K.conv(x, w, b, stride, dil, pad, groups)
    assert got.dtype == np.float32
    close(got, _torch_conv(x, w, b, stride, dil, pad, groups))


def _random_grouped_case(seed: int) -> tuple[Any, ...]:
    """A random depthwise (with a depth multiplier) or small-group conv whose output is not
    empty: odd sizes, strides up to 3, dilation, asymmetric padding, batch up to 3, 1-3 axes."""
    rng = np.random.default_rng(seed)
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    depthwise = seed % 3 != 0
    groups = int(rng.integers(2, 9)) if depthwise else int(rng.integers(2, 5))
    cin = groups if depthwise else groups * int(rng.integers(1, 4))
    cout = groups * int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 6, nd))
    stride = tuple(int(v) for v in rng.integers(1, 4, nd))
    dil = tuple(int(v) for v in rng.integers(1, 4, nd))
    pad = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (nd, 2)))
    spatial = tuple(
        int(rng.integers(d * (k - 1) + 1, d * (k - 1) + 12)) for k, d in zip(kernel, dil)
    )
    batch = int(rng.integers(1, 4))
    return batch, spatial, cin, cout, kernel, stride, dil, pad, groups


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("schedule", ["compiled", "einsum-channels", "einsum-fused"])
def test_depthwise_and_grouped_conv_vs_torch(
    seed: int, schedule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every depthwise schedule on every case: the compiled kernel (tests/backend/
    # test_native.py), and NumPy's with the channels as einsum's inner loop or with the last
    # axis fused with the channels, split into phases when strided.
    if schedule == "compiled":
        require_native()
    else:
        monkeypatch.setattr(native, "depthwise", lambda *args: None)
        monkeypatch.setattr(K, "_DEPTHWISE_LONG_CHANNELS", 1 if "channels" in schedule else 10**9)
    batch, spatial, cin, cout, kernel, stride, dil, pad, groups = _random_grouped_case(seed)
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((batch, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin // groups, cout)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    with K.count_macs() as c:
        got = K.conv(x, w, b, stride, dil, pad, groups)
    close(got, _torch_conv(x, w, b, stride, dil, pad, groups))
    assert c.total == got.size * (cin // groups) * math.prod(kernel)


@pytest.mark.parametrize("compiled", [True, False])
def test_depthwise_mobilenet_shapes_vs_torch(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layer shapes the depthwise kernels are tuned for, at full size and batch 2."""
    if compiled:
        require_native()
    else:
        monkeypatch.setattr(native, "depthwise", lambda *args: None)
    rng = np.random.default_rng(5)
    for size, channels, stride in ((112, 32, 1), (112, 96, 2), (14, 576, 2), (7, 960, 1)):
        x = rng.standard_normal((2, size, size, channels)).astype(np.float32)
        w = rng.standard_normal((3, 3, 1, channels)).astype(np.float32)
        b = rng.standard_normal(channels).astype(np.float32)
        got = K.conv(x, w, b, stride, 1, 1, channels)
        close(got, _torch_conv(x, w, b, stride, 1, ((1, 1), (1, 1)), channels))


@pytest.mark.parametrize("mult, stride", [(1, 1), (4, 1), (4, 2), (3, 2)])
@pytest.mark.parametrize("compiled", [True, False])
def test_depthwise_workspace_covers_what_it_allocates(
    mult: int, stride: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memory guard's estimate of a depthwise conv's temporaries (conv_workspace) is at
    least what NumPy allocated besides the output (tracemalloc sees NumPy's buffers), with a
    depth multiplier and a stride, on either path."""
    import tracemalloc

    if compiled:
        require_native()
    else:
        monkeypatch.setattr(native, "depthwise", lambda *args: None)
    cin, size = 16, 20
    rng = np.random.default_rng(mult)
    x = rng.standard_normal((2, size, size, cin)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, cin * mult)).astype(np.float32)
    out = (size + 2 - 3) // stride + 1
    pads = ((1, 1), (1, 1))
    estimate = K.conv_workspace(
        2, (size, size), (out, out), cin, cin * mult, (3, 3), (stride,) * 2, (1, 1), pads, cin, 4
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = K.conv(x, w, None, stride, 1, 1, cin)
        allocated = tracemalloc.get_traced_memory()[1] - before - y.nbytes
    finally:
        tracemalloc.stop()
    assert 0 < allocated <= estimate


SHIFTED_SLAB_WHOLE = 1 << 30  # slab positions: every sample in one slab
SHIFTED_CASES = [
    # (batch, spatial, cin, cout, kernel, dilation, padding): unit stride, one group
    (1, (9, 8), 8, 3, (3, 3), (1, 1), ((1, 1), (1, 1))),
    (3, (11, 7), 6, 2, (3, 2), (2, 1), ((2, 0), (1, 3))),
    (2, (5, 6), 5, 4, (2, 3), (1, 2), ((0, 0), (0, 0))),
    (2, (17,), 4, 1, (5,), (3,), ((2, 5),)),
    (2, (4, 5, 6), 6, 3, (2, 3, 2), (1, 1, 2), ((1, 0), (1, 1), (0, 2))),
    (2, (13, 11), 5, 4, (7, 7), (1, 1), ((3, 3), (3, 3))),
]


@pytest.mark.parametrize("slab", [SHIFTED_SLAB_WHOLE, 1])
@pytest.mark.parametrize("case", SHIFTED_CASES)
def test_shifted_conv_vs_torch(case: tuple[Any, ...], slab: int, monkeypatch: Any) -> None:
    """The per-tap product path, called directly (conv() picks it only for deep inputs), in
    slabs of whole samples or of one grid row each."""
    batch, spatial, cin, cout, kernel, dil, pad = case
    monkeypatch.setattr(K, "SHIFTED_SLAB_POSITIONS", slab)
    rng = np.random.default_rng(len(spatial) + batch)
    x = rng.standard_normal((batch, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin, cout)).astype(np.float32)
    out = tuple(n + sum(p) - d * (k - 1) for n, k, d, p in zip(spatial, kernel, dil, pad))
    with K.count_macs() as c:
        got = K._conv_shifted(x, pad, w, kernel, dil, out)
    got = got.reshape(batch, *out, cout)
    close(got, _torch_conv(x, w, np.zeros(cout, np.float32), 1, dil, pad, 1))
    assert c.total == got.size * cin * math.prod(kernel)  # the cropped positions not counted


def test_shifted_conv_without_direct_blas(monkeypatch: Any) -> None:
    """Where NumPy's BLAS cannot be called directly, the products are accumulated by NumPy:
    the same results."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 12, 10, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 8)).astype(np.float32)
    direct = K._conv_shifted(x, ((1, 1), (1, 1)), w, (3, 3), (2, 1), (8, 10))
    monkeypatch.setenv("ARCHCALC_BLAS", "numpy")
    blas._gemm_for.cache_clear()
    try:
        assert not blas.available(np.float32)
        fallback = K._conv_shifted(x, ((1, 1), (1, 1)), w, (3, 3), (2, 1), (8, 10))
    finally:
        monkeypatch.delenv("ARCHCALC_BLAS")
        blas._gemm_for.cache_clear()
    np.testing.assert_allclose(fallback, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("direct", [True, False])
def test_blas_shifted_products(dtype: Any, direct: bool, monkeypatch: Any) -> None:
    """Sums of products of shifted row ranges, through the BLAS and through NumPy's fallback,
    against NumPy's own products."""
    if not direct:
        monkeypatch.setenv("ARCHCALC_BLAS", "numpy")
    blas._gemm_for.cache_clear()
    try:
        if direct and not blas.available(dtype):
            pytest.skip("test_blas_shifted_products: NumPy's own OpenBLAS was not found")
        assert blas.available(dtype) == direct
        rng = np.random.default_rng(8)
        a = rng.standard_normal((40, 7)).astype(dtype)
        b = rng.standard_normal((3, 7, 5)).astype(dtype)
        out = np.full((30, 5), np.nan, dtype)  # nothing of it is read
        blas.shifted_products(a, [0, 4, 10], b, out)
        expected = a[:30] @ b[0] + a[4:34] @ b[1] + a[10:40] @ b[2]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        with pytest.raises(ValueError):  # a range past the end of a is never read
            blas.shifted_products(a, [0, 4, 11], b, out)
    finally:
        monkeypatch.delenv("ARCHCALC_BLAS", raising=False)
        blas._gemm_for.cache_clear()


def test_conv_paths() -> None:
    """Which algorithm conv() runs on the bundled nets' layer shapes."""
    one, two = (1, 1), (2, 2)

    def path(size: int, cin: int, cout: int, k: int, s: tuple[int, int], batch: int = 1) -> str:
        out = ((size + 2 * (k // 2) - k) // s[0] + 1,) * 2  # padded to keep the size at stride 1
        return K.conv_path(batch, out, cin, cout, (k, k), s, one, 1, 4)

    assert path(56, 64, 64, 3, one) == "shifted"  # ResNet's first stage
    assert path(512, 128, 64, 3, one) == "shifted"  # U-Net's last decoder layer
    assert path(28, 128, 32, 3, one) == "shifted"  # DenseNet: few filters
    assert path(28, 128, 128, 3, one) == "im2col"  # a small map at batch 1 ...
    assert path(28, 128, 128, 3, one, batch=8) == "shifted"  # ... but not at batch 8
    assert path(14, 256, 256, 3, one, batch=8) == "im2col"
    assert path(56, 128, 128, 3, two) == "im2col"  # strided
    assert path(224, 3, 64, 3, one) == "im2col"  # few input channels: shallow products
    assert path(7, 512, 512, 3, one, batch=64) == "im2col"  # a 9x9 grid for a 7x7 output
    assert path(56, 64, 64, 1, one) == "pointwise"
    assert K.conv_path(1, (112, 112), 32, 32, (3, 3), one, one, 32, 4) == "depthwise"
    assert K.conv_path(1, (56, 56), 64, 16, (3, 3), one, one, 2, 4) == "im2col"


def test_conv_non_contiguous_input_vs_torch() -> None:
    rng = np.random.default_rng(9)
    base = rng.standard_normal((2, 6, 9, 10)).astype(np.float32)
    x = np.moveaxis(base, 1, -1)  # (2, 9, 10, 6) view with channels not innermost
    for groups, cout in ((1, 4), (6, 6), (2, 4)):
        w = rng.standard_normal((3, 3, 6 // groups, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        got = K.conv(x, w, b, 1, 1, 0, groups)
        close(got, _torch_conv(np.ascontiguousarray(x), w, b, 1, 1, ((0, 0), (0, 0)), groups))


def test_conv_flip_vs_torch() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 9, 10, 3)).astype(np.float32)
    w = rng.standard_normal((3, 4, 3, 5)).astype(np.float32)
    b = np.zeros(5, dtype=np.float32)
    pad = ((1, 1), (2, 1))
    got = K.conv(x, w, b, 1, 1, pad, 1, flip=True)
    close(got, _torch_conv(x, np.ascontiguousarray(w[::-1, ::-1]), b, 1, 1, pad, 1))


CONVT_CASES = [
    # (spatial, cin, cout, kernel, stride, dilation, padding, output_padding, groups)
    ((5, 6), 4, 6, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((5, 6), 4, 6, (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)), (0, 0), 1),
    ((5, 6), 4, 6, (3, 2), (1, 3), (2, 1), ((0, 0), (0, 0)), (0, 2), 2),
    ((5, 6), 4, 4, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), (1, 0), 4),
    ((5, 6), 4, 6, (3, 3), (2, 2), (1, 2), ((2, 0), (0, 1)), (0, 0), 1),
    ((9,), 4, 6, (5,), (3,), (1,), ((2, 2),), (2,), 2),
    ((9,), 3, 2, (2,), (2,), (2,), ((0, 1),), (0,), 1),
    # stride equal to the kernel: non-overlapping tiles, one product and one copy
    ((5, 6), 4, 6, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), (0, 0), 1),
    ((5, 6), 4, 3, (3, 2), (3, 2), (1, 1), ((0, 0), (0, 0)), (0, 0), 1),
    ((9,), 3, 2, (4,), (4,), (1,), ((0, 0),), (0,), 1),
    ((5, 6), 4, 6, (2, 2), (2, 2), (1, 1), ((1, 0), (0, 1)), (1, 1), 1),  # cropped: general path
]


@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose_vs_torch(case: tuple[Any, ...]) -> None:
    torch = require("torch")
    fn = torch.nn.functional
    spatial, cin, cout, kernel, stride, dil, pad, opad, groups = case
    nd = len(spatial)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, *spatial, cin)).astype(np.float32)
    w = rng.standard_normal((*kernel, cin, cout // groups)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    got = K.conv_transpose(x, w, b, stride, dil, pad, opad, groups)
    wt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (nd, nd + 1), (0, 1))))
    conv_t = fn.conv_transpose2d if nd == 2 else fn.conv_transpose1d
    # torch only pads symmetrically: run unpadded, then crop (before, after) by hand.
    full = from_torch(conv_t(to_torch(x), wt, torch.from_numpy(b), stride, 0, opad, groups, dil))
    crop = (
        slice(None),
        *(slice(pb, n - pa) for (pb, pa), n in zip(pad, full.shape[1:-1], strict=True)),
    )
    close(got, full[crop])
    if all(pb == pa for pb, pa in pad):
        sym = tuple(pb for pb, _ in pad)
        ref = conv_t(to_torch(x), wt, torch.from_numpy(b), stride, sym, opad, groups, dil)
        close(got, from_torch(ref))


POOL_CASES = [
    # (spatial, kernel, stride, padding, dilation, ceil_mode)
    ((9, 10), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((9, 10), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((9, 10), (2, 2), (2, 2), (0, 0), (1, 1), True),
    ((8, 8), (3, 2), (2, 3), (1, 0), (1, 1), True),
    ((10, 11), (3, 3), (3, 2), (0, 1), (2, 1), True),
    ((11, 11), (2, 2), (2, 2), (1, 1), (2, 2), False),
    ((7, 7), (3, 3), (3, 3), (1, 1), (1, 1), True),
    ((14,), (3,), (2,), (1,), (1,), True),
    ((14,), (4,), (3,), (2,), (2,), False),
    ((15,), (2,), (2,), (0,), (1,), True),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_vs_torch(case: tuple[Any, ...]) -> None:
    torch = require("torch")
    fn = torch.nn.functional
    spatial, k, s, p, d, ceil = case
    nd = len(spatial)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, *spatial, 3)).astype(np.float32)
    got = K.max_pool(x, k, s, p, d, ceil)
    pool = fn.max_pool2d if nd == 2 else fn.max_pool1d
    close(got, from_torch(pool(to_torch(x), k, s, p, d, ceil_mode=ceil)))


def test_max_pool_asymmetric_padding_vs_torch() -> None:
    torch = require("torch")
    fn = torch.nn.functional
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    pad = ((0, 1), (1, 0))  # TF-style "same" padding for an even input
    got = K.max_pool(x, 3, 2, pad)
    ref = fn.max_pool2d(fn.pad(to_torch(x), torch_pad_arg(pad), value=-math.inf), 3, 2)
    close(got, from_torch(ref))


@pytest.mark.parametrize("case", [c for c in POOL_CASES if all(v == 1 for v in c[4])])
@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool_vs_torch(case: tuple[Any, ...], include_pad: bool) -> None:
    torch = require("torch")
    fn = torch.nn.functional
    spatial, k, s, p, _, ceil = case
    nd = len(spatial)
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, *spatial, 3)).astype(np.float32)
    got = K.avg_pool(x, k, s, p, ceil, include_pad)
    pool = fn.avg_pool2d if nd == 2 else fn.avg_pool1d
    ref = pool(to_torch(x), k, s, p, ceil_mode=ceil, count_include_pad=include_pad)
    close(got, from_torch(ref))


def test_avg_pool_asymmetric_padding_vs_torch() -> None:
    torch = require("torch")
    fn = torch.nn.functional
    rng = np.random.default_rng(16)
    x = rng.standard_normal((1, 8, 9, 4)).astype(np.float32)
    pad = ((1, 2), (0, 1))
    got = K.avg_pool(x, (3, 2), (2, 2), pad)
    ref = fn.avg_pool2d(fn.pad(to_torch(x), torch_pad_arg(pad)), (3, 2), (2, 2))
    close(got, from_torch(ref))


@pytest.mark.parametrize(
    "spatial,out",
    [((7, 9), (3, 4)), ((5, 5), (5, 5)), ((6, 10), (1, 3)), ((13,), (5,)), ((4,), (7,))],
)
def test_adaptive_avg_pool_vs_torch(spatial: tuple[int, ...], out: tuple[int, ...]) -> None:
    torch = require("torch")
    fn = torch.nn.functional
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, *spatial, 3)).astype(np.float32)
    pool = fn.adaptive_avg_pool2d if len(spatial) == 2 else fn.adaptive_avg_pool1d
    close(K.adaptive_avg_pool(x, out), from_torch(pool(to_torch(x), out)))


@pytest.mark.parametrize("spatial", [(6, 7), (9,)])
def test_global_pools_vs_torch(spatial: tuple[int, ...]) -> None:
    torch = require("torch")
    rng = np.random.default_rng(18)
    x = rng.standard_normal((3, *spatial, 5)).astype(np.float32)
    xt = to_torch(x)
    dims = tuple(range(2, xt.ndim))
    close(K.global_avg_pool(x), xt.mean(dim=dims).numpy())
    close(K.global_max_pool(x), xt.amax(dim=dims).numpy())
    assert torch.is_tensor(xt)


def test_dense_vs_torch() -> None:
    torch = require("torch")
    rng = np.random.default_rng(19)
    x = rng.standard_normal((5, 12)).astype(np.float32)
    w = rng.standard_normal((12, 7)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    ref = torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w.T.copy()), torch.from_numpy(b)
    )
    close(K.dense(x, w, b), ref.numpy())


def test_flatten_then_dense_with_torch_weights() -> None:
    torch = require("torch")
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)  # (N, H, W, C)
    lin = torch.nn.Linear(3 * 4 * 5, 6)
    ref = lin(torch.flatten(to_torch(x), 1)).detach().numpy()
    idx = K.flatten_order_from_chw(x.shape[1:])
    w = lin.weight.detach().numpy()[:, idx].T
    close(K.dense(K.flatten(x), w, lin.bias.detach().numpy()), ref)


@pytest.mark.parametrize("spatial", [(5, 6), (11,)])
def test_batchnorm_vs_torch(spatial: tuple[int, ...]) -> None:
    torch = require("torch")
    rng = np.random.default_rng(21)
    c = 4
    x = rng.standard_normal((2, *spatial, c)).astype(np.float32)
    gamma, beta, mean = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2.0, c).astype(np.float32)
    t = [torch.from_numpy(a) for a in (mean, var, gamma, beta)]
    ref = torch.nn.functional.batch_norm(to_torch(x), *t, training=False, eps=1e-3)
    got = K.batchnorm(x, gamma, beta, mean, var, 1e-3)
    assert got.dtype == np.float32
    close(got, from_torch(ref))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("spatial", [(4, 5), (6,)])
def test_lrn_vs_torch(size: int, spatial: tuple[int, ...]) -> None:
    torch = require("torch")
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, *spatial, 7)).astype(np.float32)
    ref = torch.nn.functional.local_response_norm(to_torch(x), size, 1e-2, 0.75, 2.0)
    close(K.lrn(x, size, 1e-2, 0.75, 2.0), from_torch(ref))


def test_zeropad_vs_torch() -> None:
    torch = require("torch")
    x = np.random.default_rng(23).standard_normal((1, 3, 4, 2)).astype(np.float32)
    pad = ((2, 0), (1, 3))
    ref = torch.nn.functional.pad(to_torch(x), torch_pad_arg(pad))
    close(K.zeropad(x, pad), from_torch(ref))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, 3, (2, 1), 1.5])
def test_upsample_2d_vs_torch(mode: str, scale: Any) -> None:
    torch = require("torch")
    x = np.random.default_rng(24).standard_normal((2, 5, 6, 3)).astype(np.float32)
    sf = tuple(float(s) for s in scale) if isinstance(scale, tuple) else float(scale)
    kw: dict[str, Any] = {} if mode == "nearest" else {"align_corners": False}
    ref = torch.nn.functional.interpolate(to_torch(x), scale_factor=sf, mode=mode, **kw)
    close(K.upsample(x, scale, mode), from_torch(ref))


@pytest.mark.parametrize("mode,tmode", [("nearest", "nearest"), ("linear", "linear")])
def test_upsample_1d_vs_torch(mode: str, tmode: str) -> None:
    torch = require("torch")
    x = np.random.default_rng(25).standard_normal((2, 7, 3)).astype(np.float32)
    kw: dict[str, Any] = {} if mode == "nearest" else {"align_corners": False}
    ref = torch.nn.functional.interpolate(to_torch(x), scale_factor=2.0, mode=tmode, **kw)
    close(K.upsample(x, 2, mode), from_torch(ref))


ACTIVATIONS = [
    ("relu", lambda F, t: F.relu(t), K.relu),
    ("relu6", lambda F, t: F.relu6(t), K.relu6),
    ("leaky_relu", lambda F, t: F.leaky_relu(t, 0.2), lambda x: K.leaky_relu(x, 0.2)),
    ("sigmoid", lambda F, t: F.sigmoid(t), K.sigmoid),
    ("tanh", lambda F, t: F.tanh(t), K.tanh),
    ("gelu", lambda F, t: F.gelu(t), K.gelu),
    ("silu", lambda F, t: F.silu(t), K.silu),
    ("softmax", lambda F, t: F.softmax(t, dim=-1), K.softmax),
    ("softmax_axis1", lambda F, t: F.softmax(t, dim=1), lambda x: K.softmax(x, axis=1)),
]


@pytest.mark.parametrize("name,ref_fn,fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_vs_torch(name: str, ref_fn: Any, fn: Any) -> None:
    torch = require("torch")
    rng = np.random.default_rng(26)
    x = (rng.standard_normal((3, 4, 5, 6)) * 4).astype(np.float32)
    x[0, 0, 0, :3] = [-80.0, 80.0, 0.0]  # saturation and the kink
    ref = ref_fn(torch.nn.functional, torch.from_numpy(x)).numpy()
    got = fn(x)
    assert got.dtype == np.float32
    close(got, ref)


def test_add_concat_vs_torch() -> None:
    torch = require("torch")
    rng = np.random.default_rng(27)
    a, b = (rng.standard_normal((2, 3, 3, 4)).astype(np.float32) for _ in range(2))
    close(K.add(a, b), (torch.from_numpy(a) + torch.from_numpy(b)).numpy())
    ref = torch.cat([to_torch(a), to_torch(b)], dim=1)
    close(K.concat([a, b]), from_torch(ref))


def test_conv_im2col_slabs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny im2col budget forces one slab per output row: same result, same MAC count."""
    rng = np.random.default_rng(28)
    x = rng.standard_normal((3, 10, 9, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    with K.count_macs() as whole:
        expected = K.conv(x, w, None, 1, 1, 1, 2)
    monkeypatch.setattr(K, "IM2COL_LIMIT_BYTES", 1)
    with K.count_macs() as chunked:
        got = K.conv(x, w, None, 1, 1, 1, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert len(chunked.records) == 3 * 10  # samples x output rows
    assert chunked.total == whole.total == got.size * 2 * 9


def test_conv_3d_is_generic_vs_torch() -> None:
    torch = require("torch")
    rng = np.random.default_rng(29)
    x = rng.standard_normal((1, 5, 6, 7, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 2, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    got = K.conv(x, w, b, (1, 2, 1), (1, 1, 2), ((1, 1), (0, 1), (2, 2)), 2)
    wt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (3, 4), (1, 0))))
    xt = torch.nn.functional.pad(to_torch(x), [2, 2, 0, 1, 1, 1])
    ref = torch.nn.functional.conv3d(xt, wt, torch.from_numpy(b), (1, 2, 1), 0, (1, 1, 2), 2)
    close(got, from_torch(ref))
