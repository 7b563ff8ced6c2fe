"""Where the picture commands (draw, animate, plot, report) write their files: one place, so
they all refuse a directory or one of their own inputs, and write atomically.

The reliability work brings one safe writer for every command; when it lands this module
becomes a call to it.
"""

from __future__ import annotations

import os
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
    from archcalc.render.graphviz import write_atomic

    check_output(path, inputs)
    write_atomic(path, data)
