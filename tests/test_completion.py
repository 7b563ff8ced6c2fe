"""Shell completion (click's): bundled spec names, files, and --layer names from the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main


def complete(line: str, shell: str = "bash") -> list[str]:
    words = line.split(" ")
    env = {
        "_ARCHCALC_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    result = CliRunner().invoke(main, [], prog_name="archcalc", env=env)
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line]


def test_spec_names_complete_to_the_bundled_resnets() -> None:
    items = complete("archcalc summarize res")
    # bash's protocol: one "type,value" per line; a "file" item lets the shell add file names
    assert items == ["file,res", *(f"plain,resnet{n}" for n in (101, 152, 18, 34, 50))]


@pytest.mark.parametrize("command", ["summarize", "check", "rf", "verify", "draw", "run", "zoo"])
def test_every_spec_argument_completes(command: str) -> None:
    assert "plain,alexnet" in complete(f"archcalc {command} alex")


@pytest.mark.parametrize("command", ["rf", "run"])
def test_layer_names_come_from_the_spec_given(command: str) -> None:
    items = complete(f"archcalc {command} alexnet --layer con")
    assert items == [f"plain,conv{i}" for i in range(1, 6)]
    assert complete("archcalc rf resnet50 -d 2 --layer layer1.0.sh") == [
        "plain,layer1.0.shortcut.0",
        "plain,layer1.0.shortcut.1",
    ]


def test_layer_completion_of_an_unreadable_spec_is_empty(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [\n")
    assert complete(f"archcalc rf {bad} --layer c") == []


def test_zsh_and_fish_scripts_are_generated() -> None:
    for shell in ("bash", "zsh", "fish"):
        env = {"_ARCHCALC_COMPLETE": f"{shell}_source"}
        script = CliRunner().invoke(main, [], prog_name="archcalc", env=env).output
        assert "_ARCHCALC_COMPLETE" in script, shell
