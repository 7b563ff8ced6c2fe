"""`archcalc grade`: mark answers about an architecture against a key."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archcalc.cli.common import EXIT_ERRORS, EXIT_OK, format_option, guarded

MAX_SUBMISSIONS = 10_000


@click.command(short_help="Mark answers against a key: text, CSV or Gradescope JSON.")
@click.argument("key", metavar="KEY")
@click.argument("submissions", nargs=-1, metavar="[SUBMISSION]...")
@format_option("text", "csv", "gradescope")
@click.option(
    "--details/--no-details",
    default=None,
    help="Every question of every student (the default for one submission).",
)
@click.option(
    "--output", "-o", metavar="FILE", default=None, help="Write the grades to FILE, not stdout."
)
@guarded
def grade(
    key: str,
    submissions: tuple[str, ...],
    fmt: str,
    details: bool | None,
    output: str | None,
) -> None:
    """Mark SUBMISSIONs (files, or folders of them) against the answer KEY; with none, print
    the key's answers and their derivations.

    A submission answers by question id, as YAML, JSON or plain 'id: answer' lines; answers
    are read in the usual notations (32x32x10, [32, 32, 10], 760 params, 62,378,344, 62.4M,
    2.33, no / doesn't fit, a matrix). Each question gets ✓ or ✗, its points, the expected
    answer and, when wrong, the catalogued mistake that gives that answer and the worked
    derivation. A submission that cannot be read scores 0 and the others are still graded.
    Exit status: 0 when every answer is right, 1 otherwise, 2 when the key cannot be read.
    See docs/homework.md for the key format.

    \b
    Examples:
      archcalc grade key.yaml alice.yaml
      archcalc grade key.yaml submissions/ --format csv -o grades.csv
      archcalc grade key.yaml submission.yaml --format gradescope -o results.json
    """
    from archcalc.homework import report as render
    from archcalc.homework.grade import grade as grade_one
    from archcalc.homework.key import load_key

    files = _expand(submissions) if submissions else []
    if output is not None:  # before any grading: never over an input
        from archcalc.safeio import check_output

        check_output(output, [key, *files])
    answers_key = load_key(key)
    if not files:
        click.echo(render.answer_sheet(answers_key), nl=False)
        sys.exit(EXIT_OK)
    results = [grade_one(answers_key, f) for f in files]
    for r in results:
        if r.error:
            click.echo(f"{r.error} (scored 0)", err=True)
        for note in r.notes:
            click.echo(f"warning: {note}", err=True)
    if fmt == "csv":
        text = render.class_csv(answers_key, results)
    elif fmt == "gradescope":
        text = render.gradescope_json(answers_key, results) + "\n"
    elif details or (details is None and len(results) == 1):
        text = "\n".join(render.student_text(r) for r in results)
    else:
        text = render.class_table(answers_key, results)
    if output is not None:
        from archcalc.safeio import write_output

        write_output(output, text.encode("utf-8"), [key, *files])
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_OK if all(r.all_right for r in results) else EXIT_ERRORS)


def _expand(given: tuple[str, ...]) -> list[str]:
    """Files as given; a folder's files (not hidden) in name order."""
    from archcalc.diagnostics import UsageError

    files: list[str] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            files += sorted(
                str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
            )
        elif path.exists():
            files.append(item)
        else:
            raise UsageError(f"no such submission: '{item}'")
        if len(files) > MAX_SUBMISSIONS:
            raise UsageError(f"more than {MAX_SUBMISSIONS:,} submissions; grade them in parts")
    if not files:
        raise UsageError("no submissions to grade (the folders are empty)")
    return files
