"""The man pages are generated from the CLI's click definitions: they must be current, cover every
command, read cleanly through groff, and be installed with the package."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from archcalc.cli import main
from tests.oracles import require

ROOT = Path(__file__).parent.parent
MAN = ROOT / "man"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_man", MAN / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_man_pages_are_current() -> None:
    pages = generator().render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in (MAN / "man1").glob("*.1")}
    assert committed == pages, "stale man pages: run python man/generate.py"


def test_a_page_per_command_with_the_sections() -> None:
    pages = generator().render()
    assert set(pages) == {"archcalc.1", *(f"archcalc-{name}.1" for name in main.commands)}
    for name, text in pages.items():
        for section in ("NAME", "SYNOPSIS", "EXIT STATUS", "FILES", "SEE ALSO"):
            assert f".SH {section}" in text, (name, section)
    # every command's own examples become its EXAMPLES section
    assert ".B archcalc summarize resnet50 \\-\\-depth 2" in pages["archcalc-summarize.1"]
    assert ".SH EXAMPLES" in pages["archcalc.1"]


def test_pages_are_plain_ascii_roff() -> None:
    """Every non-ASCII character is a groff escape (a raw × draws a warning and garbles on
    some devices)."""
    for name, text in generator().render().items():
        assert text.isascii(), name


@pytest.mark.parametrize("device", ["ps", "utf8", "ascii"])
def test_groff_reads_the_pages_without_a_warning(device: str) -> None:
    require("groff")
    for page in sorted((MAN / "man1").glob("*.1")):
        run = subprocess.run(
            ["groff", "-man", "-ww", "-z", f"-T{device}", str(page)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0 and run.stderr == "", (page.name, run.stderr)


def test_glyphs_render_on_a_utf8_terminal_and_in_ascii() -> None:
    require("groff")
    page = str(MAN / "man1" / "archcalc-summarize.1")

    def text(device: str) -> str:
        run = subprocess.run(
            ["groff", "-man", f"-T{device}", "-P-cbou", page], capture_output=True, check=True
        )
        return run.stdout.decode("utf-8", "replace")

    assert "≈ a window that loses only padding, ⚠ one" in " ".join(text("utf8").split())
    assert "~ a window that loses only padding, (!) one" in " ".join(text("ascii").split())


def test_the_built_wheel_carries_the_pages_and_the_license(tmp_path: Path) -> None:
    """What `pip install .` and `pipx install .` install: the wheel's data/share/man/man1."""
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("archcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    pages = {n.rsplit("/", 1)[-1] for n in names if "/data/share/man/man1/" in n}
    assert pages == set(generator().render())
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert any(n.startswith("archcalc/specs/") and n.endswith("resnet50.yaml") for n in names)
