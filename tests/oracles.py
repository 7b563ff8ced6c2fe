"""Optional independent oracles (PyTorch, onnx, onnxruntime, Keras, Graphviz's dot, groff,
chromium driven by Playwright) for the tests.

``require(name)`` returns the imported module — or, for a program (``"dot"``, ``"groff"``), its path. When the
oracle is missing the test is skipped with the reason, unless ``ARCHCALC_REQUIRE_ORACLES=1`` is
set (CI does), in which case it fails, so a missing oracle can never pass silently.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

import pytest

BINARIES = {
    "dot": "Graphviz's 'dot'",
    "groff": "'groff' (man pages)",
    "chromium": "Debian's 'chromium' (apt-get install chromium)",
}


def oracles_required() -> bool:
    return os.environ.get("ARCHCALC_REQUIRE_ORACLES", "") == "1"


def require(name: str) -> Any:
    if name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
        reason = f"oracle {BINARIES[name]} is not on PATH"
    else:
        if name == "keras":
            os.environ.setdefault("KERAS_BACKEND", "torch")  # the one backend installed here
        try:
            return importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising OSError
            reason = f"oracle {name!r} unavailable: {type(exc).__name__}: {exc}"
    if oracles_required():
        pytest.fail(f"{reason} (ARCHCALC_REQUIRE_ORACLES=1)")
    pytest.skip(reason)


def require_native() -> None:
    """Skip (fail in CI) a test of the compiled depthwise kernel where it was not built: the
    install found no C compiler (hatch_build.py)."""
    from archcalc.backend import native

    if native.available():
        return
    reason = (
        f"the compiled depthwise kernel {native.LIBRARY.name} is not built or not usable "
        "(reinstall archcalc with a C compiler on PATH)"
    )
    if oracles_required():
        pytest.fail(f"{reason} (ARCHCALC_REQUIRE_ORACLES=1)")
    pytest.skip(reason)
