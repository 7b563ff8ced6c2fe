"""`archcalc quiz`: seeded practice problems (or per-student variants) and their key."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archcalc.cli.common import EXIT_OK, guarded

MAX_STUDENTS = 5000


@click.command(short_help="Seeded practice problems (per student) and their answer key.")
@click.option("--seed", required=True, type=int, help="The same seed gives the same quiz.")
@click.option(
    "--students",
    metavar="FILE",
    default=None,
    help="A roster, one name per line: every student gets their own variant of each problem.",
)
@click.option(
    "--kinds",
    default="shape,params,macs,fit,pool,rf,value",
    show_default=True,
    metavar="KIND,...",
    help="Problem kinds, in turn: shape, params, macs, fit, pool, rf, value.",
)
@click.option(
    "--count",
    "-n",
    default=6,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Problems per student.",
)
@click.option(
    "--output", "-o", metavar="FILE", default=None, help="Write the Markdown to FILE, not stdout."
)
@click.option(
    "--key", "key_file", metavar="FILE", default=None, help="Write the answer key (YAML) to FILE."
)
@guarded
def quiz(
    seed: int,
    students: str | None,
    kinds: str,
    count: int,
    output: str | None,
    key_file: str | None,
) -> None:
    """Make practice problems with random but well-posed settings — some filters deliberately
    don't fit — as Markdown for the students, and a key for `archcalc grade`.

    \b
    Examples:
      archcalc quiz --seed 7
      archcalc quiz --seed 7 --students roster.txt -o quiz.md --key key.yaml
      archcalc quiz --seed 1 --kinds fit,value --count 4
    """
    from archcalc.diagnostics import UsageError, did_you_mean
    from archcalc.homework.quiz import KINDS, key_yaml, make_quiz
    from archcalc.safeio import check_output, write_output

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    for kind in chosen:
        if kind not in KINDS:
            raise UsageError(
                f"unknown problem kind '{kind}'",
                did_you_mean(kind, KINDS) or f"choose from {', '.join(KINDS)}",
            )
    if not chosen:
        raise UsageError("--kinds names no kind", f"choose from {', '.join(KINDS)}")
    inputs = [students] if students else []
    for target in (output, key_file):
        if target is not None:
            check_output(target, inputs)
    roster = _roster(students) if students else []
    markdown, key = make_quiz(seed, roster, chosen, count)
    if output is not None and output == key_file:
        raise UsageError("--output and --key name the same file")
    if key_file is not None:
        write_output(key_file, key_yaml(key).encode("utf-8"), inputs)
        click.echo(f"wrote the key to {key_file}", err=True)
    else:
        click.echo("no key written (give --key FILE to write one)", err=True)
    if output is not None:
        write_output(output, markdown.encode("utf-8"), inputs)
        click.echo(f"wrote the quiz to {output}", err=True)
    else:
        click.echo(markdown, nl=False)
    sys.exit(EXIT_OK)


def _roster(path: str) -> list[str]:
    import re

    from archcalc.diagnostics import UsageError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read the roster '{path}': {err}") from None
    names: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        name = line.split("#")[0].strip()
        if not name:
            continue
        if not re.fullmatch(r"[\w.\-]+", name):
            raise UsageError(
                f"{path}:{n}:1: '{name}' is not a usable student name",
                "one name per line: letters, digits, '.', '-' or '_' (it names their file)",
            )
        if name in names:
            raise UsageError(f"{path}:{n}:1: '{name}' is listed twice")
        names.append(name)
    if not names:
        raise UsageError(f"the roster '{path}' names no students")
    if len(names) > MAX_STUDENTS:
        raise UsageError(f"the roster names more than {MAX_STUDENTS:,} students")
    return names
