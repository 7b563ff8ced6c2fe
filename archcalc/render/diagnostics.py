"""Diagnostics as compilers print them: position, severity, message, the source line, a caret."""

from __future__ import annotations

from collections.abc import Callable

from archcalc.diagnostics import Diagnostic

_COLOURS = {"error": "red", "warning": "yellow", "info": "cyan"}


def format_diagnostic(
    d: Diagnostic, sources: dict[str, str], style: Callable[..., str] | None = None
) -> str:
    """``file:line:col: severity: message``, then the source line and caret, hint and notes."""

    def paint(text: str, **kw: object) -> str:
        return style(text, **kw) if style else text

    where = f"{d.pos}: " if d.pos else ""
    lines = [
        paint(where, bold=True)
        + paint(f"{d.severity}:", fg=_COLOURS[d.severity], bold=True)
        + " "
        + d.message
    ]
    text = sources.get(d.pos.file) if d.pos else None
    if text is not None and d.pos is not None:
        source_lines = text.splitlines()
        if 0 < d.pos.line <= len(source_lines):
            src = source_lines[d.pos.line - 1].replace("\t", " ")
            gutter = f"{d.pos.line:>5} | "
            lines.append(gutter + src)
            lines.append(
                " " * (len(gutter) + d.pos.column - 1)
                + paint("^", fg=_COLOURS[d.severity], bold=True)
            )
    if d.hint:
        lines.append(paint("  hint: ", bold=True) + d.hint)
    lines.extend(f"  note: {note}" for note in d.notes)
    return "\n".join(lines)


def summary_line(diagnostics: list[Diagnostic]) -> str:
    counts = {
        s: sum(1 for d in diagnostics if d.severity == s) for s in ("error", "warning", "info")
    }
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    return ", ".join(parts)
