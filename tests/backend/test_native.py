"""The compiled depthwise kernel (archcalc/backend/_native.c through native.py): its results
against NumPy's, when it is refused, and that a wheel carries it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archcalc.backend import kernels as K
from archcalc.backend import native
from tests.oracles import require_native

ROOT = Path(__file__).resolve().parents[2]


def _reference(
    xp: np.ndarray, w: np.ndarray, s: tuple[int, ...], d: tuple[int, ...], out: tuple[int, ...]
) -> np.ndarray:
    """The sum over taps of the strided input under each tap times its weights, in float64."""
    y = np.zeros((xp.shape[0], *out, xp.shape[-1]))
    for tap in np.ndindex(*w.shape[:-1]):
        under = tuple(
            slice(t * dl, t * dl + (o - 1) * st + 1, st) for t, dl, st, o in zip(tap, d, s, out)
        )
        y += xp[(slice(None), *under)].astype(np.float64) * w[tap].astype(np.float64)
    return y


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Forget which library loaded, before and after a test that changes what is found."""
    native._library.cache_clear()
    native._kernel.cache_clear()
    yield
    native._library.cache_clear()
    native._kernel.cache_clear()


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_matches_reference(seed: int, dtype: Any) -> None:
    """1-3 spatial axes, strides and dilations up to 3, with and without a bias, and channel
    counts that reach every loop of the C: blocks of four vectors, single vectors and a scalar
    tail."""
    require_native()
    rng = np.random.default_rng(seed)
    nd = int(rng.choice([1, 2, 2, 3]))
    kernel = tuple(int(k) for k in rng.integers(1, 6, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 4, nd))
    out = tuple(int(v) for v in rng.integers(1, 9 if nd < 3 else 4, nd))
    spatial = tuple(
        (o - 1) * st + dl * (k - 1) + 1 + int(rng.integers(0, 3))
        for o, st, dl, k in zip(out, s, d, kernel)
    )
    channels = int(rng.choice([1, 3, 8, 13, 32, 45, 64, 71]))
    xp = rng.standard_normal((int(rng.integers(1, 3)), *spatial, channels)).astype(dtype)
    w = rng.standard_normal((*kernel, channels)).astype(dtype)
    b = rng.standard_normal(channels).astype(dtype) if seed % 2 else None
    got = native.depthwise(xp, w, b, kernel, s, d, out)
    assert got is not None and got.dtype == dtype and got.shape == (xp.shape[0], *out, channels)
    want = _reference(xp, w, s, d, out) + (0 if b is None else b)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_depthwise_reads_non_contiguous_input() -> None:
    require_native()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 9, 40)).astype(np.float32)
    xp = x[:, ::-1, :, ::2]  # flipped rows, every other channel: a view
    w = rng.standard_normal((3, 3, 20)).astype(np.float32)
    got = native.depthwise(xp, w, None, (3, 3), (2, 2), (1, 1), (4, 4))
    assert got is not None
    np.testing.assert_allclose(got, _reference(xp, w, (2, 2), (1, 1), (4, 4)), rtol=1e-4, atol=1e-4)


def test_depthwise_refuses_an_output_past_the_input() -> None:
    """The C reads where the offsets point, unchecked: the wrapper checks them first."""
    require_native()
    xp = np.zeros((1, 5, 5, 8), np.float32)
    w = np.zeros((3, 3, 8), np.float32)
    with pytest.raises(ValueError, match="reaches past"):
        native.depthwise(xp, w, None, (3, 3), (1, 1), (1, 1), (4, 3))


def test_conv_counts_the_same_macs_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify compares the multiply-accumulates the kernels ran with the analysis: the compiled
    path records what the NumPy one does."""
    require_native()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 10, 9, 12)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 24)).astype(np.float32)  # depth multiplier 2
    with K.count_macs() as compiled:
        y = K.conv(x, w, None, 2, 1, 1, 12)
    monkeypatch.setattr(native, "depthwise", lambda *args: None)
    with K.count_macs() as einsum:
        y_numpy = K.conv(x, w, None, 2, 1, 1, 12)
    np.testing.assert_allclose(y, y_numpy, rtol=1e-5, atol=1e-5)
    assert compiled.total == einsum.total == y.size * 9


@pytest.mark.usefixtures("fresh_caches")
def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    require_native()
    monkeypatch.setenv("ARCHCALC_NATIVE", "0")
    native._library.cache_clear()
    native._kernel.cache_clear()
    assert not native.available()
    xp = np.ones((1, 4, 4, 8), np.float32)
    assert (
        native.depthwise(xp, np.ones((3, 3, 8), np.float32), None, (3, 3), (1, 1), (1, 1), (2, 2))
        is None
    )


@pytest.mark.usefixtures("fresh_caches")
def test_a_library_built_from_other_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable install whose C changed after it was compiled must not run the old code."""
    require_native()
    library = tmp_path / native.LIBRARY.name
    shutil.copy(native.LIBRARY, library)
    source = tmp_path / "_native.c"
    source.write_bytes(native.SOURCE.read_bytes())
    monkeypatch.setattr(native, "LIBRARY", library)
    monkeypatch.setattr(native, "SOURCE", source)
    assert native.available()
    source.write_bytes(native.SOURCE.read_bytes() + b"/* edited */\n")
    native._library.cache_clear()
    native._kernel.cache_clear()
    assert not native.available()


@pytest.mark.usefixtures("fresh_caches")
def test_no_library_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed without a compiler: NumPy computes the same conv."""
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "missing.so")
    assert not native.available()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 7, 7, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 16)).astype(np.float32)
    y = K.conv(x, w, None, 1, 1, 1, 16)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(
        y, _reference(xp, w[:, :, 0], (1, 1), (1, 1), (7, 7)), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("build_native", [True, False])
def test_wheel_carries_the_library(tmp_path: Path, build_native: bool) -> None:
    """A wheel built where a compiler is found holds the library and is tagged for the
    platform; with ARCHCALC_BUILD_NATIVE=0 it is pure Python."""
    require_native()  # a compiler was there when this archcalc was installed
    pytest.importorskip("hatchling", reason="test_wheel_carries_the_library: needs hatchling")
    tree = tmp_path / "src"
    # the files a wheel is built from, without the work tree's own compiled library
    ignore = shutil.ignore_patterns("_native.so", "_native.dll", "__pycache__", ".*")
    for name in ("archcalc", "specs", "man"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    for name in ("pyproject.toml", "hatch_build.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    env = {"ARCHCALC_BUILD_NATIVE": "1" if build_native else "0"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist"), str(tree)],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("archcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert (f"archcalc/backend/{native.LIBRARY.name}" in names) == build_native
    assert "archcalc/backend/_native.c" in names
    assert wheel.name.endswith("-py3-none-any.whl") != build_native
