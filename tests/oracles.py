"""Optional heavy oracles (torch, Graphviz's dot, ...): skip when missing, fail in CI.

``require("dot")`` returns quietly when the program (or importable module) is there. When it is
missing the test is skipped with the reason — unless ARCHCALC_REQUIRE_ORACLES=1 is set (as CI
does), in which case the test fails, so CI always runs the oracle tests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def available(name: str) -> bool:
    return shutil.which(name) is not None or importlib.util.find_spec(name) is not None


def require(name: str) -> None:
    if available(name):
        return
    reason = f"oracle '{name}' is not installed"
    if os.environ.get("ARCHCALC_REQUIRE_ORACLES") == "1":
        pytest.fail(reason + " and ARCHCALC_REQUIRE_ORACLES=1 demands it")
    pytest.skip(reason)
