"""The bundled specs (``specs/`` in the source tree, ``archcalc/specs`` when installed)."""

from __future__ import annotations

from pathlib import Path


def specs_dir() -> Path:
    installed = Path(__file__).parent / "specs"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "specs"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in specs_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path | None:
    if "/" in name or "\\" in name:
        return None
    path = specs_dir() / f"{name.removesuffix('.yaml')}.yaml"
    return path if path.is_file() else None
