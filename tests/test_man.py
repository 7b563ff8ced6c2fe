"""The man page is generated from the CLI's help; it must be regenerated when the CLI changes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MAN = Path(__file__).parent.parent / "man"


def test_man_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("generate_man", MAN / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (MAN / "archcalc.1").read_text(encoding="utf-8")
    assert committed == module.render(), "run: python man/generate.py"


def test_man_page_covers_every_command() -> None:
    from archcalc.cli import main

    text = (MAN / "archcalc.1").read_text(encoding="utf-8")
    for name in main.commands:
        assert f'.SS "archcalc {name}' in text
