"""Performance helpers shared by the loader and the analyzers."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    A 100,000-layer spec creates millions of short tuples and dicts and no garbage cycles;
    the collector's repeated passes over them made analysis time grow faster than linearly.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
