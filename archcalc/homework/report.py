"""Grades as text (one student in detail, a class as a table), CSV, and Gradescope JSON.

Gradescope's results.json (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): a top-level ``score`` and ``output``, and ``tests``, each with ``name``,
``score``, ``max_score``, ``output`` and ``visibility`` (visible, hidden, after_due_date,
after_published).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from archcalc.homework.grade import Graded, Mark
from archcalc.homework.key import Key


def points(value: float) -> str:
    return f"{value:g}"


def mark_lines(mark: Mark) -> list[str]:
    """A question's verdict, then for a wrong answer what was written, the recognised
    mistake, and the worked derivation."""
    tick = "✓" if mark.ok else "✗"
    lines = [f"{tick} {mark.id}  {points(mark.earned)}/{points(mark.points)}  {mark.prompt}"]
    if mark.ok:
        lines.append(f"    {mark.expected}")
        return lines
    lines.append(f"    you wrote: {mark.given or '(nothing)'}; expected: {mark.expected}")
    lines += [f"    {note}" for note in mark.notes]
    lines += [f"    {line}" for line in mark.derivation]
    return lines


def fold(line: str, width: int = 80) -> list[str]:
    """A long line folded at the terminal's usual 80 columns, continuing under itself."""
    import textwrap

    indent = " " * (len(line) - len(line.lstrip()))
    return textwrap.wrap(
        line.strip(),
        width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def student_text(graded: Graded) -> str:
    lines = [f"{graded.student}: {points(graded.score)}/{points(graded.max_score)} ({graded.file})"]
    if graded.error:
        lines.append(f"  cannot be read: {graded.error}; every question scores 0")
    else:
        for mark in graded.marks:
            lines += ["  " + line for line in mark_lines(mark)]
    return "\n".join(folded for line in lines for folded in fold(line)) + "\n"


def answer_sheet(key: Key) -> str:
    """The key's own answers with their derivations: what an instructor checks before
    handing the key to `grade`."""
    from archcalc.homework.grade import expected_text

    lines = [key.title] if key.title else []
    for q in key.questions:
        who = f" ({q.student})" if q.student else ""
        lines.append(f"{q.id}{who}  {points(q.points)} pt  {q.prompt}")
        lines.append(f"    answer: {expected_text(q)}")
        if q.net is not None and q.ask not in ("value", "design"):
            lines += [f"    {line}" for line in q.net.derivation(q.ask, q.layer)]
    return "\n".join(folded for line in lines for folded in fold(line)) + "\n"


def class_table(key: Key, results: list[Graded]) -> str:
    ids = key.ids
    header = ["student", *ids, "total"]
    rows = []
    for r in results:
        earned = {m.id: points(m.earned) for m in r.marks}
        cells = [earned.get(i, "") if not r.error else "–" for i in ids]
        total = f"{points(r.score)}/{points(r.max_score)}"
        rows.append([r.student, *cells, total + ("  unreadable" if r.error else "")])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out) + "\n"


def class_csv(key: Key, results: list[Graded]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "file", *key.ids, "total", "max", "error"])
    for r in results:
        earned = {m.id: points(m.earned) for m in r.marks}
        writer.writerow(
            [
                r.student,
                r.file,
                *(earned.get(i, "") for i in key.ids),
                points(r.score),
                points(r.max_score),
                r.error,
            ]
        )
    return buffer.getvalue()


def gradescope(key: Key, graded: Graded) -> dict[str, Any]:
    tests = []
    for mark in graded.marks:
        text = "\n".join(line.strip() for line in mark_lines(mark)[1:]) or graded.error
        tests.append(
            {
                "name": f"{mark.id}: {mark.prompt}",
                "score": mark.earned,
                "max_score": mark.points,
                "output": text,
                "visibility": key.visibility,
            }
        )
    summary = f"{points(graded.score)}/{points(graded.max_score)}"
    if graded.error:
        summary += f" — the submission cannot be read: {graded.error}"
    return {"score": graded.score, "output": summary, "tests": tests}


def gradescope_json(key: Key, results: list[Graded]) -> str:
    if len(results) == 1:
        data: Any = gradescope(key, results[0])
    else:  # a class: one results.json object per student, by name
        data = {r.student: gradescope(key, r) for r in results}
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)
