"""`archcalc grade`: the course notes' worked examples as keys, graded right and wrong; partial
credit; design questions; a class folder with broken and empty submissions; CSV; Gradescope's
results.json; positioned messages for bad keys and submissions."""

from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.homework.grade import grade
from archcalc.homework.key import load_key
from archcalc.homework.net import ASKS

KEYS = Path(__file__).parent / "data" / "keys"
SEED_KEYS = ["spatial", "alexnet", "pooling", "filters", "blocks", "design"]


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def wrong_file(name: str) -> Path:
    [path] = KEYS.glob(f"{name}.wrong.*")
    return path


@pytest.mark.parametrize("name", SEED_KEYS)
def test_seed_keys_graded_right(name: str) -> None:
    code, out, err = cli("grade", str(KEYS / f"{name}.yaml"), str(KEYS / f"{name}.right.yaml"))
    assert code == 0, out + err
    assert "✗" not in out
    key = load_key(str(KEYS / f"{name}.yaml"))
    assert f": {key.points:g}/{key.points:g}" in out.splitlines()[0]


@pytest.mark.parametrize("name", SEED_KEYS)
def test_seed_keys_graded_wrong(name: str) -> None:
    key = load_key(str(KEYS / f"{name}.yaml"))
    graded = grade(key, str(wrong_file(name)))
    assert not graded.error
    assert any(not m.ok for m in graded.marks)
    for mark in graded.marks:
        if not mark.ok:  # every wrong answer shows the expected one and how it is derived
            assert mark.expected and (mark.derivation or mark.given)
    code, out, _ = cli("grade", str(KEYS / f"{name}.yaml"), str(wrong_file(name)))
    assert code == 1 and "✗" in out and "expected:" in out


def test_the_expected_answers_are_the_notes_figures() -> None:
    """Checked against the course notes, not against archcalc: the numbers as the notes print
    them (and worked by hand where the notes slip)."""
    expected = {
        "spatial": {
            "q1": "32x32x10",
            "q2": "760",
            "q3": "5x5x1",
            "q4": "3x3x1",
            "q5": "2.333",
            "q7": "28x28x6",
            "q9": "2,080",
            "q11": "24x24x10",
            "q12": "3072",
            "q13": "7x7x1",
            "q14": "32x32x4",
        },
        "alexnet": {
            "conv1_out": "55x55x96",
            "conv1_params": "34,944",
            "pool1_out": "27x27x96",
            "conv2_out": "27x27x256",
            "pool2_out": "13x13x256",
            "conv3_out": "13x13x384",
            "conv5_out": "13x13x256",
            "pool3_out": "6x6x256",
            "total": "62,378,344",
        },
        "pooling": {"max": "6 8; 3 4", "size": "112x112x64", "params": "0"},
        # the bottleneck without biases: 256·64 + 3·3·64·64 + 64·256 = 69,632
        "blocks": {
            "inception_out": "28x28x256",
            "resnet50_params": "25,557,032",
            "bottleneck_params": f"{256 * 64 + 9 * 64 * 64 + 64 * 256:,}",
            "bottleneck_out": "56x56x256",
            "welcome_out": "16x1",
        },
    }
    for name, answers in expected.items():
        key = load_key(str(KEYS / f"{name}.yaml"))
        graded = grade(key, str(KEYS / f"{name}.right.yaml"))
        shown = {m.id: m.expected for m in graded.marks}
        for qid, value in answers.items():
            assert shown[qid] == value, (name, qid)


def test_the_notes_average_pooling_slip_is_marked_wrong() -> None:
    # the notes print 3.25 for the window 8, 2, 1, 3 — whose mean is 14/4 = 3.5
    graded = grade(load_key(str(KEYS / "pooling.yaml")), str(KEYS / "pooling.wrong.yaml"))
    avg = next(m for m in graded.marks if m.id == "avg")
    assert not avg.ok and avg.expected.split(";")[1].split() == ["3.5", "3.25"]


def test_recognised_mistakes_and_partial_credit() -> None:
    graded = grade(load_key(str(KEYS / "spatial.yaml")), str(KEYS / "spatial.wrong.txt"))
    marks = {m.id: m for m in graded.marks}
    # 750 for 760: the biases left out, worth half of the 2 points in this key
    assert marks["q2"].earned == 1.0 and marks["q2"].points == 2.0
    assert any("biases are left out" in n for n in marks["q2"].notes)
    assert "(5·5·3 + 1)·10 = 760" in " ".join(marks["q2"].derivation)
    assert any("off by one" in n for n in marks["q3"].notes)
    assert any("rounded the wrong way" in n for n in marks["q5"].notes)
    assert any("channels are missing" in n for n in marks["q4"].notes)
    assert "(7 − 3)/3 + 1 = 2.33" in " ".join(marks["q6"].derivation)
    assert "fits exactly with pad 1 (→ 3)" in " ".join(marks["q6"].derivation)


def test_json_submissions(tmp_path: Path) -> None:
    answers = tmp_path / "s.json"
    answers.write_text(
        '{"student": "zoe", "max": [[6, 8], [3, 4]], "size": "112x112x64", "params": 0}'
    )
    graded = grade(load_key(str(KEYS / "pooling.yaml")), str(answers))
    assert graded.student == "zoe"
    assert [m.ok for m in graded.marks] == [True, False, True, True]  # avg left out


def test_without_submissions_grade_prints_the_answer_sheet() -> None:
    code, out, _ = cli("grade", str(KEYS / "spatial.yaml"))
    assert code == 0
    key = load_key(str(KEYS / "spatial.yaml"))
    for q in key.questions:
        assert f"\n{q.id}  " in out
    assert "answer: 760\n    conv1 (conv 5×5, 10):\n    params (5·5·3 + 1)·10 = 760" in out
    assert "answer: no, it doesn't fit" in out


def test_per_axis_partial_credit(tmp_path: Path) -> None:
    key = tmp_path / "key.yaml"
    key.write_text(
        "spec: {input: 32x32x3, layers: [conv: {name: c, filters: 10, kernel: 5}]}\n"
        "questions:\n  - {id: q, ask: output_shape, points: 3, partial: {per_axis: 1}}\n"
    )
    answers = tmp_path / "s.yaml"
    answers.write_text("q: 28x28x3\n")
    [mark] = grade(load_key(str(key)), str(answers)).marks
    assert mark.earned == pytest.approx(2.0) and not mark.ok


def test_design_question_checks_each_constraint() -> None:
    graded = grade(load_key(str(KEYS / "design.yaml")), str(KEYS / "design.wrong.yaml"))
    [mark] = graded.marks
    # input, output and params pass; the receptive field (3 < 15), the stride-2 conv that
    # loses a row ((32 − 3)/2 + 1 = 15.5) and the softmax fail: 3 of 6 constraints
    assert mark.earned == pytest.approx(2.5)
    text = "\n".join(mark.derivation)
    assert "✓ params 36,458 (at most 100,000)" in text
    assert "✗ receptive field 3 at last_conv (at least 15)" in text
    assert "15.50" in text and "softmax" in text


def test_a_design_answer_cannot_name_files_elsewhere(tmp_path: Path) -> None:
    answers = tmp_path / "s.yaml"
    answers.write_text("net: ../../etc/passwd\n")
    [mark] = grade(load_key(str(KEYS / "design.yaml")), str(answers)).marks
    assert mark.earned == 0 and "give the spec inline" in mark.notes[0]
    spec = (KEYS / "design.right.yaml").read_text().replace("net:\n", "")
    (tmp_path / "mine.yaml").write_text(textwrap.dedent(spec))
    answers.write_text("net: mine.yaml\n")
    [mark] = grade(load_key(str(KEYS / "design.yaml")), str(answers)).marks
    assert mark.ok, mark


def make_class(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(KEYS / "spatial.right.yaml", folder / "alice.yaml")
    shutil.copy(KEYS / "spatial.wrong.txt", folder / "bob.txt")
    (folder / "carol.yaml").write_text("")  # empty
    (folder / "dave.yaml").write_text("q1: 32x32x10\nq2 760\n")  # broken line 2
    (folder / "erin.bin").write_bytes(b"\x00\x01binary")
    return folder


def test_a_class_folder_with_broken_and_empty_submissions(tmp_path: Path) -> None:
    folder = make_class(tmp_path)
    key = str(KEYS / "spatial.yaml")
    code, out, err = cli("grade", key, str(folder))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[0] == "student" and lines[0].split()[-1] == "total"
    by_student = {line.split()[0]: line for line in lines[1:]}
    assert by_student["alice"].split()[-1] == "15/15"
    assert "1/15" in by_student["bob"]
    for broken in ("carol", "dave", "erin"):
        assert "0/15" in by_student[broken] and "unreadable" in by_student[broken]
    assert "carol.yaml:1:1: the submission is empty" in err
    assert "dave.yaml:2:1: expected 'id: answer'" in err
    assert "erin.bin:1:1: a binary file" in err
    # the same inputs give the same output, every time
    assert cli("grade", key, str(folder))[1] == out


def test_csv_has_a_row_per_student_and_a_column_per_question(tmp_path: Path) -> None:
    folder = make_class(tmp_path)
    code, out, _ = cli("grade", str(KEYS / "spatial.yaml"), str(folder), "--format", "csv")
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    key = load_key(str(KEYS / "spatial.yaml"))
    assert list(rows[0]) == [
        "student",
        "file",
        *(q.id for q in key.questions),
        "total",
        "max",
        "error",
    ]
    by = {r["student"]: r for r in rows}
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave", "erin"]
    assert (
        by["alice"]["total"] == "15" and by["alice"]["max"] == "15" and by["alice"]["error"] == ""
    )
    assert by["bob"]["q2"] == "1" and by["bob"]["q1"] == "0" and by["bob"]["total"] == "1"
    assert by["carol"]["total"] == "0" and "empty" in by["carol"]["error"]
    assert sum(float(by["bob"][q.id]) for q in key.questions) == float(by["bob"]["total"])


# Gradescope's documented results.json fields (gradescope-autograders.readthedocs.io/en/latest/
# specs/, "Output format"): top level score (float), output, tests; each test name, score,
# max_score, output, visibility in {visible, hidden, after_due_date, after_published}.
VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}
TOP = {
    "score",
    "execution_time",
    "output",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}


def check_gradescope(result: dict[str, object], key_points: float) -> None:
    assert set(result) <= TOP and {"score", "tests"} <= set(result)
    tests = result["tests"]
    assert isinstance(tests, list) and tests
    for test in tests:
        assert set(test) <= TEST
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITY
    assert result["score"] == pytest.approx(sum(t["score"] for t in tests))
    assert sum(t["max_score"] for t in tests) == pytest.approx(key_points)


def test_gradescope_results_json(tmp_path: Path) -> None:
    key = str(KEYS / "spatial.yaml")
    out_file = tmp_path / "results.json"
    code, _, err = cli(
        "grade", key, str(KEYS / "spatial.wrong.txt"), "-f", "gradescope", "-o", str(out_file)
    )
    assert code == 1 and "wrote" in err
    result = json.loads(out_file.read_text())
    check_gradescope(result, 15)
    assert result["score"] == 1.0
    q2 = next(t for t in result["tests"] if t["name"].startswith("q2:"))
    assert q2["score"] == 1.0 and q2["max_score"] == 2.0 and "biases" in q2["output"]
    # a class: one results object per student; unreadable ones score 0
    folder = make_class(tmp_path)
    code, out, _ = cli("grade", key, str(folder), "-f", "gradescope")
    assert code == 1
    every = json.loads(out)
    assert sorted(every) == ["alice", "bob", "carol", "dave", "erin"]
    for result in every.values():
        check_gradescope(result, 15)
    assert every["carol"]["score"] == 0 and "empty" in every["carol"]["output"]


def test_output_never_overwrites_an_input(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    shutil.copy(KEYS / "spatial.right.yaml", answers)
    before = answers.read_text()
    code, _, err = cli("grade", str(KEYS / "spatial.yaml"), str(answers), "-o", str(answers))
    assert code == 2 and "refusing to write" in err
    assert answers.read_text() == before


BAD_KEYS = [
    ("questions: []\n", "key.yaml:1:12: error: 'questions' must be a non-empty list"),
    (
        "spec: {input: 7x7x1, layers: [conv: {filters: 1, kernel: 3}]}\nquestions:\n"
        "  - {id: q1, ask: output_size}\n",
        "key.yaml:3:19: error: unknown ask 'output_size'",
    ),
    (
        "spec: {input: 7x7x1, layers: [conv: {filters: 1, kernel: 3}]}\nquestions:\n"
        "  - {id: q1, ask: params, layer: conv9}\n",
        "key.yaml:3:34: error: question 'q1': the net has no layer 'conv9'",
    ),
    (
        "spec: {input: 7x7x1, layers: [conv: {filters: 1, kernel: 3}]}\nquestions:\n"
        "  - {id: q1, ask: params, partial: {bias-left-out: 0.5}}\n",
        "key.yaml:3:37: error: no catalogued mistake 'bias-left-out'",
    ),
    (
        "spec: {input: 7x7x1, layers: [conv: {filters: 1, kernl: 3}]}\nquestions:\n"
        "  - {id: q1, ask: params}\n",
        "key.yaml:1:50: error: conv has no attribute 'kernl'",
    ),
    (
        "spec: nosuchnet\nquestions:\n  - {id: q1, ask: params}\n",
        "key.yaml:1:7: error: no such file or bundled spec",
    ),
    (
        "spec: {input: 7x7x1, layers: [relu]}\nquestions:\n  - {id: q1, ask: params, tolerance: lots}\n",
        "key.yaml:3:38: error: a tolerance is a number",
    ),
    (
        "questions:\n  - {id: d, ask: design, constraints: {max_params: many}}\n",
        "key.yaml:2:52: error: constraint max_params: expected a whole number",
    ),
    ("questions: [\n", "key.yaml:2:1: error:"),
    (
        "questions:\n  - {id: d, ask: design, constraints: {only: [conv, pooling]}}\n",
        "key.yaml:2:46: error: constraint only: 'pooling' is not a layer type",
    ),
    # every problem is reported, not only the first
    (
        "spec: {input: 3x3x1, layers: [conv: {name: c, filters: 1, kernel: 3}]}\nquestions:\n"
        "  - {id: v, ask: value, input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}\n"
        "  - {id: w, ask: value, spec: {input: 4x4x1, layers: [maxpool: 2]}, input: [[1, 2]]}\n",
        "key.yaml:3:5: error: question 'v': no values for 'c.kernel'",
    ),
    (
        "spec: {input: 3x3x1, layers: [conv: {name: c, filters: 1, kernel: 3}]}\nquestions:\n"
        "  - {id: v, ask: value, input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}\n"
        "  - {id: w, ask: value, spec: {input: 4x4x1, layers: [maxpool: 2]}, input: [[1, 2]]}\n",
        "key.yaml:4:5: error: question 'w': the input numbers are 1x2 but the net takes 4x4x1",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_KEYS)
def test_bad_keys_get_positioned_messages(
    tmp_path: Path, text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("key.yaml").write_text(text)
    Path("s.yaml").write_text("q1: 1\n")
    code, out, err = cli("grade", "key.yaml", "s.yaml")
    assert code == 2 and out == ""
    assert message in err
    assert "Traceback" not in err


def test_unreadable_answers_are_positioned_and_score_zero(tmp_path: Path) -> None:
    answers = tmp_path / "s.yaml"
    answers.write_text("q1: 32 by 32\nq2: lots\nq9: 2080\nq99: 1\n")
    code, out, err = cli("grade", str(KEYS / "spatial.yaml"), str(answers))
    assert code == 1
    out = " ".join(out.split())  # long lines are folded at 80 columns
    assert f"{answers}:1:5: expected a shape" in out
    assert f"{answers}:2:5: expected a number" in out
    assert f"{answers}:4:6: answers 'q99', which the key does not ask" in err
    assert "✓ q9" in out and "you wrote: (nothing)" in out


# Each figure a key can ask for, worked out by hand for a small net.
EVERY_ASK = """
spec:
  input: 32x32x3
  layers:
    - conv: {name: conv1, filters: 10, kernel: 5, pad: 2}
    - maxpool: {name: pool1, kernel: 2, stride: 2}
    - conv: {name: odd, filters: 4, kernel: 3, stride: 3}
questions:
  - {id: shape, ask: output_shape, layer: pool1}
  - {id: params, ask: params, layer: conv1}
  - {id: total, ask: params}
  - {id: macs, ask: macs, layer: conv1}
  - {id: flops, ask: flops, layer: conv1}
  - {id: rf, ask: rf, layer: odd}
  - {id: rf_stride, ask: rf_stride, layer: odd}
  - {id: exact, ask: exact_size, layer: odd}
  - {id: fits, ask: fits, layer: odd}
  - {id: lost, ask: lost, layer: odd}
  - {id: act, ask: activation_bytes, layer: conv1}
  - {id: pbytes, ask: param_bytes, layer: conv1}
"""
BY_HAND = {
    "shape": "16x16x10",  # (32 − 2)/2 + 1 = 16
    "params": "760",  # (5·5·3 + 1)·10
    "total": "1,124",  # 760 + (3·3·10 + 1)·4 = 760 + 364
    "macs": "768,000",  # 32·32·10 · 5·5·3
    "flops": "1,546,240",  # 2·768,000 + 32·32·10 bias adds
    "rf": "10",  # 5, then + (2 − 1)·1 = 6, then + (3 − 1)·2 = 10
    "rf_stride": "6",  # 1·2·3
    "exact": "5.333",  # (16 − 3)/3 + 1 = 16/3
    "fits": "no, it doesn't fit",
    "lost": "1",  # 13 = 4·3 + 1: one row after the last window
    "act": "40,960",  # 32·32·10 float32 values, 4 bytes each
    "pbytes": "3,040",  # 760 · 4
}


def test_every_ask_against_hand_worked_figures(tmp_path: Path) -> None:
    key = tmp_path / "key.yaml"
    key.write_text(EVERY_ASK)
    answers = tmp_path / "s.txt"
    answers.write_text(
        "shape: 16x16x10\nparams: 760\ntotal: 1124\nmacs: 768,000\nflops: 1.55M\nrf: 10\n"
        "rf_stride: 6\nexact: 5.33\nfits: no\nlost: 1\nact: 40960 bytes\npbytes: 3.04 kB\n"
    )
    loaded = load_key(str(key))
    assert {q.ask for q in loaded.questions} == set(ASKS) - {"value", "design"}
    graded = grade(loaded, str(answers))
    assert {m.id: m.expected for m in graded.marks} == BY_HAND
    assert graded.all_right, [m for m in graded.marks if not m.ok]
