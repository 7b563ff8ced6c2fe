"""Writing the files homework commands produce, never over one of the command's inputs.

A stand-in for the project's shared safe writer: swap this function for it when it lands.
"""

from __future__ import annotations

import os
from pathlib import Path

from archcalc.diagnostics import UsageError


def write_text(path: str, text: str, inputs: list[str]) -> None:
    target = Path(path)
    for given in inputs:
        try:
            if target.exists() and os.path.samefile(target, given):
                raise UsageError(
                    f"refusing to write '{path}': it is one of this command's inputs",
                    "choose another output file",
                )
        except OSError:
            continue
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as err:
        raise UsageError(f"cannot write '{path}': {err.strerror}") from None
