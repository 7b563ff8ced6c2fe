"""Write man/archcalc.1 from the CLI's own help, so the man page cannot drift from --help.

Usage: python man/generate.py        (tests/test_man.py fails when the page is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archcalc import __version__, limits
from archcalc.cli import main

PAGE = Path(__file__).parent / "archcalc.1"


def roff(text: str) -> str:
    lines = []
    for line in text.replace("\\", "\\\\").splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line.replace("-", "\\-"))
    return "\n".join(lines)


def paragraphs(text: str) -> str:
    out = []
    for block in text.strip().split("\n\n"):
        block = block.strip(" \n")
        if block.startswith("\b"):
            out.append(".PP\n.nf\n" + roff(block.lstrip("\b\n")) + "\n.fi")
        else:
            out.append(".PP\n" + roff(" ".join(block.split())))
    return "\n".join(out)


def options(command: click.Command, ctx: click.Context) -> str:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record:
            out.append(f".TP\n.B {roff(record[0])}\n{roff(record[1])}")
    return "\n".join(out)


def render() -> str:
    ctx = main.make_context("archcalc", [], resilient_parsing=True)
    parts = [
        f'.TH ARCHCALC 1 "" "archcalc {__version__}" "User Commands"',
        ".SH NAME",
        "archcalc \\- a calculator for convolutional network architectures",
        ".SH SYNOPSIS",
        ".B archcalc",
        "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        paragraphs(main.help or ""),
        ".SH COMMANDS",
    ]
    for name in sorted(main.commands):
        command = main.commands[name]
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        usage = " ".join(command.collect_usage_pieces(sub))
        parts += [
            f'.SS "archcalc {name} {roff(usage)}"',
            paragraphs(command.help or ""),
            options(command, sub),
        ]
    parts += [
        ".SH EXIT STATUS",
        "0 success; 1 the architecture (or the answers, or a verification) has errors; 2 bad usage or a spec that cannot be read.",
        ".SH ENVIRONMENT",
        ".TP\n.B NO_COLOR\nWhen set and not empty, no colour is used. Colour is only ever used on a terminal.",
        *(f".TP\n.B {limit.env}\n{roff(limit.doc)}" for limit in limits.ALL),
        "Going over a limit is an error with exit status 2 that names the setting.",
        ".SH FILES",
        "Bundled specs are installed with the package (\\fBspecs/\\fR in the source tree). The spec language is described in docs/spec\\-format.md.",
    ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
