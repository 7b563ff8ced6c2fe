"""Grading a submission against a key: one mark per question, with the worked derivation and
the catalogued mistake behind a wrong answer. Deterministic: same inputs, same marks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.diagnostics import Diagnostics, Pos, SpecError, UsageError
from archcalc.homework import answers as A
from archcalc.homework.key import Key, Question, describe_constraints, expected_value, load_net
from archcalc.homework.mistakes import Case, recognise
from archcalc.homework.net import ASKS, FigureError, Net
from archcalc.shapes import format_shape

MAX_SUBMISSION_BYTES = 1024 * 1024


@dataclass
class Mark:
    id: str
    prompt: str
    points: float
    earned: float
    given: str  # as the student wrote it ("" when missing)
    expected: str
    derivation: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the recognised mistake, a parse problem

    @property
    def ok(self) -> bool:
        return self.earned >= self.points


@dataclass
class Graded:
    student: str
    file: str
    marks: list[Mark]
    error: str = ""  # the submission could not be read: every question scores 0
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(m.earned for m in self.marks)

    @property
    def max_score(self) -> float:
        return sum(m.points for m in self.marks)

    @property
    def all_right(self) -> bool:
        return not self.error and all(m.ok for m in self.marks)


@dataclass
class Answer:
    value: Any
    pos: Pos


class SubmissionError(ValueError):
    def __init__(self, message: str, pos: Pos | None = None) -> None:
        self.pos = pos
        super().__init__(f"{pos}: {message}" if pos else message)


def read_submission(path: str) -> tuple[str, dict[str, Answer]]:
    """The student's name and answers by question id: YAML, JSON or plain 'id: answer' lines.
    A 'student:' entry names the student; otherwise the file's name does."""
    from archcalc.spec.yamlpos import YMap, load_yaml

    file = Path(path)
    student = file.stem
    try:
        data = file.read_bytes()[: MAX_SUBMISSION_BYTES + 1]
    except OSError as err:
        raise SubmissionError(f"cannot read '{path}': {err.strerror}") from None
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError("larger than 1 MiB; that is not a submission", Pos(path, 1, 1))
    if b"\x00" in data:
        raise SubmissionError("a binary file, not answers", Pos(path, 1, 1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SubmissionError("not UTF-8 text", Pos(path, line, 1)) from None
    if not text.strip():
        raise SubmissionError("the submission is empty", Pos(path, 1, 1))
    try:
        parsed = load_yaml(text, path)
    except SpecError:
        parsed = None
    if isinstance(parsed, YMap):
        found = {str(k): Answer(v, parsed.where(k)) for k, v in parsed.items()}
    else:
        found = _lines(text, path)
    if "student" in found:
        student = str(found.pop("student").value)
    return student, found


def _lines(text: str, path: str) -> dict[str, Answer]:
    found: dict[str, Answer] = {}
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        ident, sep, value = stripped.partition(":")
        if not sep:
            ident, sep, value = stripped.partition("=")
        if not sep or not ident.strip():
            raise SubmissionError(
                "expected 'id: answer' (for example 'q1: 32x32x10')", Pos(path, n, 1)
            )
        column = line.index(value.strip()[:1]) + 1 if value.strip() else len(line) + 1
        found[ident.strip()] = Answer(value.strip(), Pos(path, n, column))
    return found


def grade(key: Key, path: str) -> Graded:
    """Grade one submission file; an unreadable one scores 0 with the reason."""
    try:
        student, given = read_submission(path)
    except SubmissionError as err:
        student = Path(path).stem
        marks = [_mark(q, "", 0.0, expected_text(q), []) for q in key.questions_for(student)]
        return Graded(student, path, marks, error=str(err))
    questions = key.questions_for(student)
    if not questions:
        names = sorted({q.student for q in key.questions})
        problem = (
            f"{path}: the key has no questions for student '{student}' (it has variants for "
            f"{', '.join(names[:8])}); start the file with 'student: NAME'"
        )
        return Graded(student, path, [], error=problem)
    marks = [grade_question(q, given.get(q.id), path) for q in questions]
    asked = {q.id for q in questions}
    extra = [
        f"{a.pos}: answers '{i}', which the key does not ask"
        for i, a in given.items()
        if i not in asked
    ]
    return Graded(student, path, marks, notes=extra)


def _mark(
    q: Question,
    given: str,
    earned: float,
    expected: str,
    derivation: list[str],
    notes: list[str] | None = None,
) -> Mark:
    return Mark(q.id, q.prompt, q.points, earned, given, expected, derivation, notes or [])


def expected_text(q: Question) -> str:
    """The right answer as shown to students."""
    if q.ask == "design":
        return "a spec with " + describe_constraints(q.constraints)
    return show(q, expected_value(q))


def show(q: Question, value: Any) -> str:
    kind = ASKS[q.ask]
    if kind == "shape":
        return format_shape(value)
    if kind == "yes/no":
        return "yes, it fits" if value else "no, it doesn't fit"
    if kind == "matrix":
        return A.format_matrix(value)
    return A.format_number(float(value))


def grade_question(q: Question, answer: Answer | None, path: str) -> Mark:
    if q.ask == "design":
        return _grade_design(q, answer, path)
    assert q.net is not None
    expected = expected_value(q)
    shown = show(q, expected)
    derivation = q.net.derivation(q.ask, q.layer) if q.ask != "value" else []
    if answer is None or answer.value in (None, ""):
        return _mark(q, "", 0.0, shown, derivation, ["no answer"])
    written = _written(answer.value)
    try:
        given = _parse(q, answer.value)
    except A.AnswerError as err:
        return _mark(q, written, 0.0, shown, derivation, [f"{answer.pos}: {err}"])
    same = _comparer(q)
    if same(given, expected):
        return _mark(q, written, q.points, shown, [])
    notes, earned = [], 0.0
    if q.ask == "output_shape" and tuple(given) == tuple(expected)[:-1]:
        notes.append("the channels are missing: write every axis, H x W x C")
    if q.ask in ("output_shape",) and "per_axis" in q.partial and len(given) == len(expected):
        right = sum(g == e for g, e in zip(given, expected))
        earned = q.points * q.partial["per_axis"] * right / len(expected)
        if right:
            notes.append(f"{right} of {len(expected)} sizes right")
    # the catalogue is in order of likelihood: name the first slip that explains the answer
    # a slip is named only when it gives the answer exactly (as written), not within tolerance
    exactly = _comparer(q, exact=True)
    for mistake in recognise(Case(q.net, q.ask, q.layer), given, exactly)[:1]:
        notes.append(f"{written} is what you get when {mistake.says}")
        earned = max(earned, q.points * q.partial.get(mistake.id, 0.0))
    return _mark(q, written, round(earned, 6), shown, derivation, notes)


def _written(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return str(value).replace("'", "")
    return str(value)


def _parse(q: Question, raw: Any) -> Any:
    kind = ASKS[q.ask]
    if kind == "shape":
        return A.parse_shape_answer(raw)
    if kind == "yes/no":
        return A.parse_yes_no(raw)
    if kind == "matrix":
        return A.parse_matrix(raw)
    return A.parse_number(raw)


def _comparer(q: Question, exact: bool = False) -> Any:
    kind = ASKS[q.ask]
    tolerance = A.Tolerance() if exact else q.tolerance
    if kind == "shape":
        return lambda g, e: A.shape_matches(g, tuple(e), q.channels_first)
    if kind == "yes/no":
        return lambda g, e: bool(g) == bool(e)
    if kind == "matrix":
        tol = q.tolerance if q.tolerance.absolute or q.tolerance.relative else A.Tolerance(1e-4)

        def same_matrix(g: Any, e: Any) -> bool:
            return (
                len(g) == len(e)
                and all(len(a) == len(b) for a, b in zip(g, e))
                and all(tol.allows(x, y) for a, b in zip(g, e) for x, y in zip(a, b))
            )

        return same_matrix
    return lambda g, e: A.number_matches(g, float(e), tolerance)


# --- design questions ------------------------------------------------------------------


def _grade_design(q: Question, answer: Answer | None, path: str) -> Mark:
    expected = expected_text(q)
    if answer is None or answer.value in (None, ""):
        return _mark(q, "", 0.0, expected, [], ["no answer"])
    value = answer.value
    if isinstance(value, str) and (re.search(r"[/\\]|^\.", value) or "\n" in value):
        # a grader reads untrusted answers: a spec comes inline or from a file beside them
        return _mark(
            q,
            value[:40],
            0.0,
            expected,
            [],
            [
                f"{answer.pos}: give the spec inline (under '{q.id}:') or as the name of a file "
                "next to the submission"
            ],
        )
    diags = Diagnostics()
    try:
        net = load_net(value, answer.pos, path, diags)
    except (UsageError, FigureError) as err:
        net, diags = None, Diagnostics()
        diags.error("spec", str(err), answer.pos)
    if net is None:
        problems = [f"{d.pos or answer.pos}: {d.message}" for d in diags if d.severity == "error"]
        return _mark(q, "a spec", 0.0, expected, [], problems or ["the spec cannot be read"])
    checks = design_checks(q, net)
    passed = sum(ok for ok, _ in checks)
    lines = [("✓ " if ok else "✗ ") + text for ok, text in checks]
    earned = round(q.points * passed / len(checks), 6) if checks else 0.0
    return _mark(q, "a spec", earned, expected, lines if passed < len(checks) else [], [])


def design_checks(q: Question, net: Net) -> list[tuple[bool, str]]:
    """Each constraint with the figure that decides it."""
    from archcalc.shapes import parse_shape

    report, totals = net.report, net.report.totals
    out = report.layers[-1].output_shape if report.layers else None
    checks: list[tuple[bool, str]] = []
    errors = [d for d in report.diagnostics if d.severity == "error"]
    if errors:
        checks.append((False, f"the spec has errors: {errors[0].message}"))
    for name, want in q.constraints.items():
        if name == "input":
            shape = parse_shape(want) if not isinstance(want, int) else (want,)
            checks.append(
                (
                    report.input_shape == shape,
                    f"input {format_shape(report.input_shape)} (wanted {format_shape(shape)})",
                )
            )
        elif name == "output":
            shape = (want,) if isinstance(want, int) else parse_shape(want)
            checks.append(
                (out == shape, f"output {format_shape(out)} (wanted {format_shape(shape)})")
            )
        elif name in ("max_params", "max_macs"):
            value = totals.params if name == "max_params" else totals.macs
            figure = name[4:].replace("macs", "MACs")
            checks.append((value <= int(want), f"{figure} {value:,} (at most {int(want):,})"))
        elif name == "min_rf":
            layer, size = (
                (want.get("layer"), int(want.get("size", 0)))
                if isinstance(want, dict)
                else (None, int(want))
            )
            try:
                rf = net.figure("rf", layer)
                checks.append(
                    (rf >= size, f"receptive field {rf} at {net.row(layer).name} (at least {size})")
                )
            except FigureError as err:
                checks.append((False, f"receptive field: {err}"))
        elif name == "no_fit_warnings":
            bad = [d for d in report.diagnostics if d.code == "stride-fit" and d.severity != "info"]
            checks.append(
                (
                    not bad or not want,
                    f"{len(bad)} stride-fit warning{'s' * (len(bad) != 1)}"
                    + (f" ({bad[0].message})" if bad else ""),
                )
            )
        elif name == "only":
            from archcalc.ops import ALIASES

            allowed = {ALIASES[str(t).lower()] for t in want}  # fc, linear → dense
            used = sorted({r.type for r in report.layers} - allowed)
            checks.append(
                (not used, f"layer types outside {sorted(allowed)}: {', '.join(used) or 'none'}")
            )
    return checks
