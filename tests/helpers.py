"""Small helpers shared by the tests: analyse YAML text, run the CLI in-process."""

from __future__ import annotations

import os
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


def examples(quick: int, ci: int | None = None) -> int:
    """A property test's example count: ``quick`` in the normal run, ``ci`` (four times
    ``quick`` unless given) in the longer profile CI selects with ARCHCALC_HYPOTHESIS=ci."""
    if os.environ.get("ARCHCALC_HYPOTHESIS") == "ci":
        return quick * 4 if ci is None else ci
    return quick
