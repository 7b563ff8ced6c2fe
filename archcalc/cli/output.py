"""Where the picture commands (draw, animate, plot, report) write their files: one place, so
they all refuse a directory or one of their own inputs, and write atomically.

The reliability work brings one safe writer for every command; when it lands this module
becomes a call to it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable

from archcalc.diagnostics import UsageError


def check_output(path: str, inputs: Iterable[str] = ()) -> None:
    """Refuse before any work is done: a directory, or a file the command reads."""
    if os.path.isdir(path):
        raise UsageError(f"'{path}' is a directory", "give a file name")
    if not os.path.exists(path):
        return
    for given in inputs:
        if given and os.path.exists(given) and os.path.samefile(path, given):
            raise UsageError(
                f"refusing to write over an input ('{path}')",
                "choose another file name for the output",
            )


def write_output(path: str, data: bytes, inputs: Iterable[str] = ()) -> None:
    check_output(path, inputs)
    write_atomic(path, data)


def write_atomic(path: str, data: bytes) -> None:
    """Write next to ``path`` and rename over it: an interrupted run never leaves half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777  # keep an existing file's permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # what a plain open() would have given a new file
    fd, tmp = tempfile.mkstemp(prefix=".archcalc-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
