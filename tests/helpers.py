"""Small helpers shared by the tests: analyse YAML text, run the CLI in-process."""

from __future__ import annotations

import textwrap

from click.testing import CliRunner, Result

from archcalc.analysis import analyze
from archcalc.cli import main
from archcalc.report import Report
from archcalc.spec import load


def analyse(text: str, **kwargs: object) -> Report:
    loaded = load("test.yaml", textwrap.dedent(text))
    return analyze(loaded.graph, diagnostics=loaded.diagnostics, **kwargs)  # type: ignore[arg-type]


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)
