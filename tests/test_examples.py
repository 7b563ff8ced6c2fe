"""Every example the user is shown runs: the Examples of every command's --help, the commands in
README.md's and docs/*.md's code blocks, and their inline `archcalc ...` commands that name no
placeholder. They run in a scratch directory holding the files they mention (tests/data/examples/,
the homework examples of docs/examples/homework/, and specs/, tests/, docs/ of the repository),
in-process through click. docs/homework.md is left to tests/test_homework_docs.py, which also
compares each command's output with the document's."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.cli import main
from tests.helpers import analyse
from tests.oracles import require

ROOT = Path(__file__).parent.parent
FILES = Path(__file__).parent / "data" / "examples"
HOMEWORK = ROOT / "docs" / "examples" / "homework"
# examples that show errors on purpose (bob's wrong answers): their exit status is 1
SHOWS_ERRORS = {
    "archcalc grade key.yaml submissions/ --format csv",
    "archcalc grade key.yaml submissions/ --format csv -o grades.csv",
}


def help_examples() -> list[str]:
    found = []
    for command in [main, *main.commands.values()]:
        text = command.help or ""
        if "Examples:" in text:
            block = text.split("Examples:", 1)[1].split("\n\n", 1)[0]
            found += [line.strip() for line in block.splitlines() if line.strip()]
    return found


def doc_examples() -> list[str]:
    found = []
    docs = [d for d in sorted((ROOT / "docs").glob("*.md")) if d.name != "homework.md"]
    for doc in [ROOT / "README.md", *docs]:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.removeprefix("$ ")
                # `pip install . && archcalc summarize alexnet`: the archcalc part
                line = line.split("&& ")[-1] if "archcalc" in line else line
                if line.startswith("archcalc "):
                    found.append(line)
        for inline in re.findall(r"`(archcalc [^`\s]+ [^`]+)`", text):
            # SPEC, NAME, FILE, N, i,j, [...]: a pattern, not a command
            if not re.search(r"\b[A-Z]+\b|…|\.\.\.|\bi,j\b|/|--\w+$", inline.split(" ", 2)[-1]):
                found.append(inline)
    return found


EXAMPLES = sorted(set(help_examples() + doc_examples()))


def test_the_examples_are_found() -> None:
    assert "archcalc summarize alexnet" in EXAMPLES
    assert "archcalc zoo googlenet > my_googlenet.yaml" in EXAMPLES
    assert any(e.startswith("archcalc run pool.yaml") for e in EXAMPLES)
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("specs", "tests", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    shutil.copytree(HOMEWORK, tmp_path, dirs_exist_ok=True)
    for file in FILES.iterdir():
        shutil.copy(file, tmp_path / file.name)
    if "x.npy" in example:  # archcalc run alexnet --layer conv1 --input x.npy --weights ...
        rng = np.random.default_rng(0)
        np.save(tmp_path / "x.npy", rng.random((227, 227, 3), dtype=np.float32))
        conv1 = next(
            r
            for r in analyse(
                "input: 227x227x3\nlayers: [conv: {name: conv1, filters: 96, kernel: 11, stride: 4}]"
            ).layers
        )
        np.savez(
            tmp_path / "alexnet.npz",
            **{f"conv1.{k}": rng.random(v, dtype=np.float32) for k, v in conv1.weights.items()},
        )
    args = shlex.split(example)[1:]
    if ">" in args:  # a shell redirection: the output is what the runner captures
        args = args[: args.index(">")]
    out = next((args[i + 1] for i, a in enumerate(args) if a in ("-o", "--output")), "")
    if args[0] == "draw" and not out.endswith(".dot"):
        require("dot")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    expected = 1 if example in SHOWS_ERRORS else 0
    assert result.exit_code == expected, f"{example}\n{result.output}"
