"""Compile the backend's depthwise convolution (archcalc/backend/_native.c) when a wheel is
built, with the system's C compiler.

The result is a plain shared library that archcalc/backend/native.py loads with ctypes. A
wheel carries it (and so is tagged for this platform); an editable install gets it beside the
C source, in the work tree, where that install imports the package from. Without a compiler,
or if compiling fails, the build goes on without it and the backend computes depthwise convs
in NumPy: slower, the same results. Set ARCHCALC_BUILD_NATIVE=0 to build without it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("archcalc", "backend", "_native.c")
LIBRARY_NAME = "_native.dll" if sys.platform == "win32" else "_native.so"
# -O3 vectorises; gnu99 for the vector extension; fPIC and shared for a loadable library
FLAGS = ["-O3", "-std=gnu99", "-fPIC", "-shared"]


def _compiler() -> list[str] | None:
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(command)
    return words if words and shutil.which(words[0]) else None


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("ARCHCALC_BUILD_NATIVE") == "0":
            return
        source = Path(self.root, SOURCE)
        if version == "editable":
            self._compile(source, source.with_name(LIBRARY_NAME))
            return
        self._scratch = tempfile.mkdtemp(prefix="archcalc-native-")
        library = Path(self._scratch, LIBRARY_NAME)
        if self._compile(source, library):
            build_data["force_include"][str(library)] = (SOURCE.parent / LIBRARY_NAME).as_posix()
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if getattr(self, "_scratch", None):
            shutil.rmtree(self._scratch, ignore_errors=True)

    def _compile(self, source: Path, library: Path) -> bool:
        compiler = _compiler()
        if compiler is None:
            self.app.display_warning(
                "archcalc: no C compiler found (set CC): depthwise convolutions will run in "
                "NumPy, slower"
            )
            return False
        # the same stamp archcalc/backend/native.py:source_hash computes to match them up
        stamp = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        command = [*compiler, *FLAGS, f'-DARCHCALC_SOURCE_HASH="{stamp}"', str(source)]
        built = library.with_suffix(".tmp")  # renamed into place whole: a loader never sees half
        try:
            result = subprocess.run(
                [*command, "-o", str(built)], capture_output=True, text=True, timeout=300
            )
            failure = result.stderr.strip() if result.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            failure = str(exc)
        if failure or not built.exists():
            self.app.display_warning(
                f"archcalc: compiling {SOURCE} failed; depthwise convolutions will run in NumPy, "
                f"slower:\n{failure}"
            )
            built.unlink(missing_ok=True)
            return False
        os.replace(built, library)
        return True
