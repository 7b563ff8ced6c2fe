"""Write the man pages from the CLI's own click definitions, so they cannot drift from --help:
man/man1/archcalc.1 and one page per subcommand (archcalc-summarize.1, ...), each with
EXAMPLES (the command's own examples), EXIT STATUS, ENVIRONMENT and FILES. A command added to
the group gets its page the next time this runs; tests/test_man.py fails while a page is stale.

Usage: python man/generate.py

The pages are installed with the package (pyproject.toml maps man/man1 to share/man/man1), so
`man archcalc` works after `pip install .` into a venv on PATH and after `pipx install .`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archcalc import __version__, limits
from archcalc.cli import main

PAGES = Path(__file__).parent / "man1"

# groff names for the non-ASCII characters the help texts use; any other becomes \[uXXXX]
GLYPHS = {
    "×": r"\[mu]",
    "—": r"\[em]",
    "–": r"\[en]",
    "−": r"\[mi]",
    "→": r"\[->]",
    "…": r"\[u2026]",
    "’": r"\[cq]",
    "‘": r"\[oq]",
    "“": r"\[lq]",
    "”": r"\[rq]",
    "≥": r"\[>=]",
    "≤": r"\[<=]",
    "≠": r"\[!=]",
}

# characters no groff font has on every device: their own glyph on a UTF-8 terminal, these words
# elsewhere (PostScript, ASCII), through strings the page's preamble defines
FALLBACK = {"⚠": "(!)", "✗": "x", "✓": "ok", "≈": "~", "·": "*", "⊕": "(+)"}

EXIT_STATUS = {
    "0": "success.",
    "1": "the architecture (or the answers, or a verification) has errors.",
    "2": "bad usage, or a spec or file that cannot be read.",
}


def roff(text: str) -> str:
    """Escape text for a man page: backslashes, hyphens, leading dots and quotes, non-ASCII."""
    out = []
    for line in text.replace("\\", "\\e").splitlines():
        line = line.replace("-", "\\-")
        line = "".join(c if ord(c) < 128 else glyph(c) for c in line)
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def glyph(c: str) -> str:
    if c in GLYPHS:
        return GLYPHS[c]
    if c in FALLBACK:
        return f"\\*[ac-{ord(c):04X}]"
    return f"\\[u{ord(c):04X}]"


PREAMBLE = "\n".join(
    [
        ".ie '\\*[.T]'utf8' \\{\\",
        *(f".  ds ac-{ord(c):04X} \\[u{ord(c):04X}]" for c in FALLBACK),
        ".\\}",
        ".el \\{\\",
        *(f".  ds ac-{ord(c):04X} {text}" for c, text in FALLBACK.items()),
        ".\\}",
    ]
)


def split_help(text: str) -> tuple[str, list[str]]:
    """The description and the example command lines of a click help text."""
    examples: list[str] = []
    kept = []
    for block in text.strip().split("\n\n"):
        lines = block.strip("\n").splitlines()
        body = [line.strip() for line in lines if line.strip() not in ("\b", "")]
        if body and body[0].rstrip(":").lower() == "examples":
            examples += body[1:]
        else:
            kept.append(block)
    return "\n\n".join(kept), examples


def paragraphs(text: str) -> str:
    out = []
    for block in text.strip().split("\n\n"):
        block = block.strip(" \n")
        if block.startswith("\b"):
            out.append(".PP\n.nf\n" + roff(block.lstrip("\b\n")) + "\n.fi")
        elif block:
            out.append(".PP\n" + roff(" ".join(block.split())))
    return "\n".join(out)


def options(command: click.Command, ctx: click.Context) -> str:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record:
            out.append(f".TP\n.B {roff(record[0])}\n{roff(record[1])}")
    return "\n".join(out)


def common_sections(see_also: list[str]) -> list[str]:
    return [
        ".SH EXIT STATUS",
        *(f".TP\n.B {code}\n{roff(text)}" for code, text in EXIT_STATUS.items()),
        ".SH ENVIRONMENT",
        ".TP\n.B NO_COLOR\nWhen set and not empty, no colour is used. Colour is only ever used "
        "on a terminal.",
        ".TP\n.B COLUMNS\n.TQ\n.B LINES\nThe width and height tables are fitted to, instead of "
        "the terminal's (a pipe gets every column).",
        *(f".TP\n.B {limit.env}\n{roff(limit.doc)}" for limit in limits.ALL),
        "Going over a limit is an error with exit status 2 that names the setting.",
        ".TP\n.B ARCHCALC_BLAS\nSet to \\fBnumpy\\fR, \\fBrun\\fR and \\fBverify\\fR compute "
        "convolutions with NumPy's own matrix products only, instead of calling the GEMM of "
        "the OpenBLAS that NumPy ships directly (same results, slower).",
        ".TP\n.B ARCHCALC_NATIVE\nSet to \\fB0\\fR, \\fBrun\\fR and \\fBverify\\fR compute "
        "depthwise convolutions with NumPy instead of the small C kernel compiled when archcalc "
        "was installed (same results, slower). Without a C compiler at install time NumPy is "
        "used anyway.",
        ".SH FILES",
        ".TP\n.I SPEC.yaml\nA network written in the spec language (docs/spec\\-format.md in the "
        "source tree). Any SPEC argument may instead name a bundled spec.",
        ".TP\n.I <package>/archcalc/specs/*.yaml\nThe bundled specs (specs/ in the source "
        "tree); \\fBarchcalc zoo\\fR lists them and \\fBarchcalc zoo\\fR \\fINAME\\fR prints "
        "one.",
        ".SH SEE ALSO",
        ", ".join(f"\\fB{page}\\fR(1)" for page in see_also),
    ]


def header(page: str, summary: str) -> list[str]:
    return [
        f'.TH {page.upper()} 1 "" "archcalc {__version__}" "User Commands"',
        PREAMBLE,
        ".SH NAME",
        f"{roff(page)} \\- {roff(summary)}",
    ]


def example_section(examples: list[str]) -> list[str]:
    if not examples:
        return []
    return [".SH EXAMPLES", *(f".PP\n.nf\n.B {roff(e)}\n.fi" for e in examples)]


def command_page(name: str, command: click.Command, ctx: click.Context) -> str:
    sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    usage = " ".join(command.collect_usage_pieces(sub))
    description, examples = split_help(command.help or "")
    summary = " ".join((command.help or "").strip().split("\n\n")[0].split()).rstrip(".")
    others = ["archcalc", *(f"archcalc-{n}" for n in sorted(main.commands) if n != name)]
    parts = [
        *header(f"archcalc-{name}", summary),
        ".SH SYNOPSIS",
        f".B archcalc {name}\n{roff(usage)}",
        ".SH DESCRIPTION",
        paragraphs(description),
        ".SH OPTIONS",
        options(command, sub),
        *example_section(examples),
        *common_sections(others),
    ]
    return "\n".join(parts) + "\n"


def main_page(ctx: click.Context) -> str:
    description, examples = split_help(main.help or "")
    parts = [
        *header("archcalc", "a calculator for convolutional network architectures"),
        ".SH SYNOPSIS",
        ".B archcalc\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".br\n.B archcalc\n[\\fB\\-\\-version\\fR] [\\fB\\-\\-help\\fR]",
        ".SH DESCRIPTION",
        paragraphs(description),
        ".SH COMMANDS",
    ]
    for name in sorted(main.commands):
        command = main.commands[name]
        summary = roff(command.get_short_help_str(limit=200))
        parts.append(f".TP\n.B archcalc {name}\n{summary} See \\fBarchcalc\\-{name}\\fR(1).")
    parts += [
        ".SH OPTIONS",
        options(main, ctx),
        ".SH SHELL COMPLETION",
        roff(
            "Completion of commands, options, bundled spec names, file names and --layer "
            "names (from the spec already typed): add to ~/.bashrc"
        ),
        '.PP\n.nf\neval "$(_ARCHCALC_COMPLETE=bash_source archcalc)"\n.fi',
        ".PP\nto ~/.zshrc",
        '.PP\n.nf\neval "$(_ARCHCALC_COMPLETE=zsh_source archcalc)"\n.fi',
        ".PP\nor, for fish, to ~/.config/fish/completions/archcalc.fish",
        ".PP\n.nf\n_ARCHCALC_COMPLETE=fish_source archcalc | source\n.fi",
        *example_section(examples),
        *common_sections([f"archcalc-{n}" for n in sorted(main.commands)]),
    ]
    return "\n".join(parts) + "\n"


def render() -> dict[str, str]:
    """Every page by file name."""
    ctx = main.make_context("archcalc", [], resilient_parsing=True)
    pages = {"archcalc.1": main_page(ctx)}
    for name in sorted(main.commands):
        pages[f"archcalc-{name}.1"] = command_page(name, main.commands[name], ctx)
    return pages


def write() -> list[Path]:
    PAGES.mkdir(exist_ok=True)
    pages = render()
    for stale in PAGES.glob("*.1"):
        if stale.name not in pages:
            stale.unlink()
    written = []
    for file, text in pages.items():
        (PAGES / file).write_text(text, encoding="utf-8")
        written.append(PAGES / file)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
