"""Source positions and diagnostics.

Every problem archcalc finds is a :class:`Diagnostic`: collected, never thrown past the library
boundary, so one run reports every mistake. Only a spec that cannot be read at all raises
:class:`SpecError`, and it carries diagnostics too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Severity = Literal["error", "warning", "info"]


class Pos(NamedTuple):
    """A 1-based line and column in a named file. A tuple: specs make one per YAML value."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{shown_path(self.file)}:{self.line}:{self.column}"


def shown_path(file: str) -> str:
    """A file as messages name it: a bundled spec by its name (not a site-packages path), a
    file under the current directory relative to it, anything else as given."""
    import os

    from archcalc.zoo import specs_dir

    if not os.path.isabs(file):
        return file
    bundled = str(specs_dir())
    if os.path.dirname(file) == bundled and file.endswith(".yaml"):
        return os.path.basename(file).removesuffix(".yaml")
    here = os.getcwd()
    return os.path.relpath(file, here) if file.startswith(here + os.sep) else file


@dataclass
class Diagnostic:
    severity: Severity
    code: str
    message: str
    pos: Pos | None = None
    layer: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "layer": self.layer,
            "file": self.pos.file if self.pos else "",
            "line": self.pos.line if self.pos else 0,
            "column": self.pos.column if self.pos else 0,
        }


class Diagnostics(list[Diagnostic]):
    """An append-only list of diagnostics with convenience constructors."""

    def error(
        self, code: str, message: str, pos: Pos | None, hint: str = "", layer: str = ""
    ) -> None:
        self.append(Diagnostic("error", code, message, pos, layer, hint))

    def warning(
        self, code: str, message: str, pos: Pos | None, hint: str = "", layer: str = ""
    ) -> None:
        self.append(Diagnostic("warning", code, message, pos, layer, hint))

    def info(
        self, code: str, message: str, pos: Pos | None, hint: str = "", layer: str = ""
    ) -> None:
        self.append(Diagnostic("info", code, message, pos, layer, hint))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self)


class SpecError(Exception):
    """A spec that cannot be turned into a graph. Carries every diagnostic found so far."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        # file:line:column first, so a library caller's traceback says where, as the CLI does
        super().__init__(
            "; ".join(f"{d.pos}: {d.message}" if d.pos else d.message for d in diagnostics)
        )


class UsageError(Exception):
    """Bad arguments to a library call (an input shape string, a bundled name): exit code 2."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A "did you mean" hint, or an empty string when nothing is close."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(word.lower(), sorted(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
