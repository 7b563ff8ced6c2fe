"""Optional reference implementations ("oracles") used by the tests.

``require("torch")`` returns the imported module. When it cannot be imported the test
is skipped with the reason, unless ``ARCHCALC_REQUIRE_ORACLES=1`` is set (CI), in which
case the test fails instead, so a missing oracle can never pass silently.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def oracles_required() -> bool:
    return os.environ.get("ARCHCALC_REQUIRE_ORACLES", "") == "1"


def require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install raising OSError
        reason = f"oracle {module!r} unavailable: {type(exc).__name__}: {exc}"
        if oracles_required():
            pytest.fail(f"{reason} (ARCHCALC_REQUIRE_ORACLES=1)")
        pytest.skip(reason)
