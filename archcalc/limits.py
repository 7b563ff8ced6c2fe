"""Every resource limit archcalc enforces, in one place.

archcalc reads untrusted input (student specs, arrays handed to ``run``), so each way an input
can make it work without end has a named ceiling here. A limit's default suits every real net
by a wide margin; an environment setting raises (or lowers) it for one command, e.g.
``ARCHCALC_MAX_LAYERS=200000 archcalc summarize huge.yaml``. Going over a limit is bad input:
a message saying which limit, where in the file, and how to raise it; exit status 2.

The limits, their settings and defaults are the definitions at the end of this module (the
man page's ENVIRONMENT section is generated from them).
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
    doc: str  # what it bounds, for the man page

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


SPEC_BYTES = Limit(
    "ARCHCALC_MAX_SPEC_BYTES",
    2**19,
    "bytes",
    "Bytes read from a spec, counted while reading, so an endless source (/dev/zero, a pipe) "
    "stops at the limit. Default 512 KiB; units such as 2MiB are understood.",
)
YAML_NODES = Limit(
    "ARCHCALC_MAX_YAML_NODES",
    200_000,
    "YAML values",
    "Values in a spec's YAML, each alias (*name) counted as a copy of its anchor's value, "
    "measured before any value is built. Default 200000.",
)
DEPTH = Limit(
    "ARCHCALC_MAX_DEPTH",
    500,
    "levels of nesting",
    "Levels of nesting in a spec, about 3 per nested residual or block, with used blocks "
    "counted as if written out in place. Default 500.",
)
LAYERS = Limit(
    "ARCHCALC_MAX_LAYERS",
    10_000,
    "layers",
    "Layers and blocks a spec makes once every repeat: and block call is expanded, counted "
    "before any is built. Default 10000.",
)
INPUT_BYTES = Limit(
    "ARCHCALC_MAX_INPUT_BYTES",
    2 * 2**30,
    "bytes",
    "Bytes of arrays archcalc run loads (--input, --weights), from the .npy headers before "
    "loading; --max-memory is checked against them too. Default 2 GiB.",
)

ALL = (SPEC_BYTES, YAML_NODES, DEPTH, LAYERS, INPUT_BYTES)


def recursion_headroom() -> None:
    """Let Python recurse as deep as the nesting limit allows: the YAML constructor, the
    builder and the renderers walk nested specs recursively, a few frames per level, so the
    depth limit — not Python's default of 1000 frames — decides what nests too deeply."""
    import sys

    needed = 8 * DEPTH.value + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
