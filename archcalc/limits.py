"""Every resource limit archcalc enforces, in one place.

archcalc reads untrusted input (student specs, arrays handed to ``run``), so each way an input
can make it work without end has a named ceiling here. A limit's default suits every real net
by a wide margin; an environment setting raises (or lowers) it for one command, e.g.
``ARCHCALC_MAX_LAYERS=200000 archcalc summarize huge.yaml``. Going over a limit is bad input:
a message saying which limit, where in the file, and how to raise it; exit status 2.

=========================  ==========================  =========================================
setting                    default                     what it bounds
=========================  ==========================  =========================================
ARCHCALC_MAX_SPEC_BYTES    512 KiB                     bytes read from a spec (checked while
                                                       reading, so /dev/zero and pipes stop)
ARCHCALC_MAX_YAML_NODES    200,000                     YAML values after alias expansion (an
                                                       alias counts as a copy of its anchor)
ARCHCALC_MAX_DEPTH         500                         levels of YAML nesting (about 3 per
                                                       nested residual/block)
ARCHCALC_MAX_LAYERS        10,000                      layers and blocks after ``repeat:`` and
                                                       block calls are expanded, counted before
                                                       any is built
ARCHCALC_MAX_INPUT_BYTES   2 GiB                       the arrays ``run`` loads (--input and
                                                       --weights), from their headers, before
                                                       loading; ``--max-memory`` is checked too
=========================  ==========================  =========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archcalc.diagnostics import UsageError


@dataclass(frozen=True)
class Limit:
    env: str  # the environment setting that overrides the default
    default: int
    what: str  # the counted thing, plural: "bytes", "layers", ...

    @property
    def value(self) -> int:
        """The limit in force: the environment setting if given, else the default."""
        text = os.environ.get(self.env, "").strip()
        if not text:
            return self.default
        try:
            value = _parse_count(text)
        except ValueError:
            value = 0
        if value < 1:
            raise UsageError(
                f"{self.env}={text!r} is not a positive whole number",
                f"write e.g. {self.env}={self.default * 2}"
                + (" (or with a unit: 2MiB)" if self.what == "bytes" else ""),
            )
        return value

    def hint(self) -> str:
        """How to raise this limit, for the refusal message."""
        return (
            f"the limit is {self.value:,} {self.what}; if this input is meant, raise it, "
            f"e.g. {self.env}={self.value * 10}"
        )


_BINARY_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_count(text: str) -> int:
    """'1000', '1_000', '64MiB', '2G' → an integer (units are binary)."""
    t = text.upper().replace("_", "").replace(" ", "").removesuffix("B").removesuffix("I")
    scale = _BINARY_UNITS.get(t[-1:], 1)
    if scale > 1:
        t = t[:-1]
    return int(float(t) * scale)


SPEC_BYTES = Limit("ARCHCALC_MAX_SPEC_BYTES", 2**19, "bytes")
YAML_NODES = Limit("ARCHCALC_MAX_YAML_NODES", 200_000, "YAML values")
DEPTH = Limit("ARCHCALC_MAX_DEPTH", 500, "levels of nesting")
LAYERS = Limit("ARCHCALC_MAX_LAYERS", 10_000, "layers")
INPUT_BYTES = Limit("ARCHCALC_MAX_INPUT_BYTES", 2 * 2**30, "bytes")

ALL = (SPEC_BYTES, YAML_NODES, DEPTH, LAYERS, INPUT_BYTES)


def recursion_headroom() -> None:
    """Let Python recurse as deep as the nesting limit allows: the YAML constructor, the
    builder and the renderers walk nested specs recursively, a few frames per level, so the
    depth limit — not Python's default of 1000 frames — decides what nests too deeply."""
    import sys

    needed = 8 * DEPTH.value + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
