"""`archcalc quiz`: the same seed gives the same quiz; settings are well-posed, some
deliberately don't fit; the key grades, and per-student variants go to their students."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.homework.grade import grade
from archcalc.homework.key import expected_value, load_key


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def make(tmp_path: Path, *args: str) -> tuple[str, Path]:
    tmp_path.mkdir(exist_ok=True)
    key = tmp_path / "key.yaml"
    code, out, err = cli("quiz", *args, "--key", str(key))
    assert code == 0, err
    return out, key


def test_same_seed_same_quiz(tmp_path: Path) -> None:
    first, key1 = make(tmp_path / "a", "--seed", "3")
    second, key2 = make(tmp_path / "b", "--seed", "3")
    assert first == second and key1.read_text() == key2.read_text()
    other, _ = make(tmp_path / "c", "--seed", "4")
    assert other != first


SETTING = re.compile(
    r"input of (\d+)x\d+x(\d+) goes through (\d+) filters of (\d+)x\d+ with stride (\d+) and "
    r"padding (\d+)"
)


def test_answers_match_the_course_formula(tmp_path: Path) -> None:
    """The key's answers (from the analysis) against (N + 2P − F)/S + 1 worked out here from
    the question's own words, over many seeds; and some settings don't fit."""
    not_fitting = 0
    for seed in range(12):
        _, key_file = make(tmp_path / str(seed), "--seed", str(seed), "--kinds", "shape,params,fit")
        key = load_key(str(key_file))
        for q in key.questions:
            match = SETTING.search(q.text)
            if not match:
                continue
            n, c, k, f, s, p = map(int, match.groups())
            exact = (n + 2 * p - f) / s + 1
            value = expected_value(q)
            if q.ask == "output_shape":
                assert value == ((n + 2 * p - f) // s + 1,) * 2 + (k,)
                assert exact.is_integer()  # shape problems always fit
            elif q.ask == "params":
                assert value == (f * f * c + 1) * k
            elif q.ask == "fits":
                assert value == exact.is_integer()
                not_fitting += not value
    assert not_fitting >= 3


def test_value_problems_are_graded_from_the_backend(tmp_path: Path) -> None:
    _, key_file = make(tmp_path, "--seed", "5", "--kinds", "value", "--count", "2")
    key = load_key(str(key_file))
    for q in key.questions:
        m = q.input
        assert m is not None
        pool = max if "Max" in q.text else (lambda *v: sum(v) / 4)
        by_hand = [
            [pool(m[i][j], m[i][j + 1], m[i + 1][j], m[i + 1][j + 1]) for j in (0, 2)]
            for i in (0, 2)
        ]
        got = [v for row in expected_value(q) for v in row]
        assert got == pytest.approx([v for row in by_hand for v in row])


def test_per_student_variants(tmp_path: Path) -> None:
    roster = tmp_path / "roster.txt"
    roster.write_text("alice\nbob  # second row\n\n")
    md, key_file = make(tmp_path, "--seed", "1", "--students", str(roster), "--kinds", "shape")
    assert "## alice" in md and "## bob" in md and "student: alice" in md
    key = load_key(str(key_file))
    alice, bob = key.questions_for("alice"), key.questions_for("bob")
    assert [q.id for q in alice] == [q.id for q in bob]
    assert [q.text for q in alice] != [q.text for q in bob]
    # each student's own right answers earn full marks; the other's variant does not
    answers = tmp_path / "sub"
    answers.mkdir()
    for student, questions in (("alice", alice), ("bob", bob)):
        lines = [f"student: {student}"] + [
            f"{q.id}: {'x'.join(map(str, expected_value(q)))}" for q in questions
        ]
        (answers / f"{student}.txt").write_text("\n".join(lines) + "\n")
    (answers / "mallory.txt").write_text(
        (answers / "alice.txt").read_text().replace("alice", "bob")
    )
    results = {
        g.file.split("/")[-1]: g for g in (grade(key, str(p)) for p in sorted(answers.iterdir()))
    }
    assert results["alice.txt"].all_right and results["bob.txt"].all_right
    assert not results["mallory.txt"].all_right
    code, out, _ = cli("grade", str(key_file), str(answers))
    assert code == 1 and "alice" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "1", "--kinds", "shapes"], "unknown problem kind 'shapes'"),
        (["--seed", "1", "--students", "nosuch.txt"], "cannot read the roster"),
        (["--seed", "1", "-o", "same.md", "--key", "same.md"], "name the same file"),
    ],
)
def test_bad_quiz_usage(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("quiz", *args)
    assert code == 2 and message in err


def test_quiz_never_writes_over_its_roster(tmp_path: Path) -> None:
    roster = tmp_path / "roster.txt"
    roster.write_text("alice\n")
    code, _, err = cli("quiz", "--seed", "1", "--students", str(roster), "--key", str(roster))
    assert code == 2 and "refusing to write" in err
    assert roster.read_text() == "alice\n"
