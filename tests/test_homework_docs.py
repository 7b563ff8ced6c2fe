"""docs/homework.md shows real output: every `$ archcalc ...` line in its console blocks is run
in a copy of docs/examples/homework/ and must print what the document shows.

After an intended change: python -m pytest tests/test_homework_docs.py --update, then read the
diff of docs/homework.md.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "homework.md"
EXAMPLES = ROOT / "docs" / "examples" / "homework"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def run(line: str) -> str:
    """What a terminal shows for one command line (stdout and stderr, as printed)."""
    args = shlex.split(line)
    if args[0] == "cat":
        return Path(args[1]).read_text()
    assert args[0] == "archcalc", line
    result = CliRunner().invoke(main, args[1:], env={"NO_COLOR": "1", "COLUMNS": "80"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.output


def rendered(text: str) -> str:
    """The document with every console block's output as the commands print it now."""

    def block(match: re.Match[str]) -> str:
        lines = [line[2:] for line in match[1].splitlines() if line.startswith("$ ")]
        body = "".join(f"$ {line}\n{run(line)}" for line in lines)
        return f"```console\n{body}```"

    return BLOCK.sub(block, text)


def test_docs_homework_shows_real_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "homework")
    monkeypatch.chdir(tmp_path / "homework")
    text = DOC.read_text()
    now = rendered(text)
    if update_golden:
        DOC.write_text(now)
    assert now == text, "docs/homework.md is out of date: run pytest --update and read the diff"


def test_docs_show_the_example_key_and_every_mistake() -> None:
    text = DOC.read_text()
    key = (EXAMPLES / "key.yaml").read_text()
    assert f"```yaml\n{key}```" in text
    from archcalc.homework.mistakes import CATALOGUE
    from archcalc.homework.net import ASKS

    for mistake in CATALOGUE:
        assert f"`{mistake.id}`" in text
    for ask in ASKS:
        assert f"`{ask}`" in text
