"""Optional independent oracles (torch, graphviz's dot) for tests.

``require(name)`` returns the imported module (or the binary's path) and skips the test with a
reason when it is missing — unless ARCHCALC_REQUIRE_ORACLES=1, when a missing oracle fails.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

import pytest


def require(name: str) -> Any:
    strict = os.environ.get("ARCHCALC_REQUIRE_ORACLES") == "1"
    if name == "dot":
        found = shutil.which("dot")
        if found:
            return found
        reason = "graphviz's 'dot' binary is not on PATH"
    else:
        try:
            return importlib.import_module(name)
        except ImportError as err:
            reason = f"oracle module '{name}' is not installed ({err})"
    if strict:
        pytest.fail(reason + " and ARCHCALC_REQUIRE_ORACLES=1")
    pytest.skip(reason)
