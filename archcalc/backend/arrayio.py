"""Reading the arrays `run` is given (.npy inputs, .npz weights), checked before loading.

A .npy header states the dtype and shape, so the size of what loading would allocate is known
from a few hundred bytes: it is checked against the input limit (archcalc.limits.INPUT_BYTES)
and against the run's memory limit before any data is read. Text, objects and complex numbers
are refused with a message rather than converted.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from archcalc import limits
from archcalc.diagnostics import UsageError
from archcalc.render.numbers import human

_NUMBERS = "biuf"  # bool, signed and unsigned integers, floats


def npy_header(fh: BinaryIO, shown: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype a .npy stream declares; the stream is left at the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
    except (ValueError, OSError, EOFError) as err:
        raise UsageError(
            f"'{shown}' is not a readable .npy array: {err}",
            "save the array with numpy.save",
        ) from None
    if dtype.kind not in _NUMBERS or dtype.fields is not None:
        what = {
            "c": "complex numbers",
            "U": "text",
            "S": "bytes",
            "O": "Python objects",
            "M": "dates",
            "m": "time spans",
        }.get(dtype.kind, f"records of type {dtype}")
        raise UsageError(
            f"'{shown}' holds {what} ({dtype}); archcalc runs nets on real numbers",
            "save a float or integer array"
            + (", e.g. numpy.save(path, array.real)" if dtype.kind == "c" else ""),
        )
    return tuple(int(n) for n in shape), dtype


def check_size(shown: str, size: int, what: str, memory: tuple[int, str]) -> None:
    """Refuse to load ``size`` bytes (``what``: the arrays, for the message) over the run's
    memory limit (``memory``: the limit and where it comes from) or the input limit."""
    limit, source = memory
    if size > limit:
        raise UsageError(
            f"'{shown}' would take {human(size, 'B')} to load ({what}), over the memory "
            f"limit of {human(limit, 'B')} ({source})",
            "give a smaller input (fewer samples, or a smaller height and width), or raise "
            "--max-memory if you know the memory is there",
        )
    if size > limits.INPUT_BYTES.value:
        raise UsageError(
            f"'{shown}' would take {human(size, 'B')} to load ({what}), over the input limit",
            limits.INPUT_BYTES.hint(),
        )


def load_npy(path: Path, shown: str, compute_itemsize: int, memory: tuple[int, str]) -> Any:
    """A .npy array, after its header passed the checks (its size counted in the dtype the
    net computes in, which is what the run holds)."""
    try:
        with open(path, "rb") as fh:
            shape, dtype = npy_header(fh, shown)
            size = math.prod(shape) * max(dtype.itemsize, compute_itemsize)
            check_size(shown, size, f"{'x'.join(map(str, shape))} values", memory)
            fh.seek(0)
            return np.lib.format.read_array(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UsageError(
            f"cannot read the array in '{shown}': {err}", "save the array with numpy.save"
        ) from None


def load_npz(path: str, memory: tuple[int, str]) -> dict[str, Any]:
    """Every array in an .npz archive, after each member's header passed the checks."""
    if Path(path).suffix.lower() == ".npy":
        raise UsageError(
            f"'{path}' is a single array; --weights takes an .npz archive of named arrays",
            "save them with numpy.savez(path, **{'conv1.kernel': k, 'conv1.bias': b})",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            total = 0
            for member in members:
                with archive.open(member) as fh:
                    shape, dtype = npy_header(fh, f"{path}:{member.filename}")  # type: ignore[arg-type]
                total += math.prod(shape) * dtype.itemsize
            check_size(path, total, f"{len(members)} arrays", memory)
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UsageError(f"no such weights file: '{path}'") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as err:
        raise UsageError(
            f"cannot read weights from '{path}': {err}",
            "give an .npz archive made with numpy.savez, keyed 'layer.kernel', 'layer.bias'",
        ) from None
