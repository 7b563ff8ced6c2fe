"""What every command shares: spec options, loading with error translation, output streams.

The library raises SpecError/UsageError; this module turns them into messages and exit codes
(0 success, 1 the architecture has errors, 2 bad usage or an unreadable spec).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from archcalc.api import Analysed
from archcalc.diagnostics import Diagnostic, SpecError, UsageError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def use_colour(stream: Any) -> bool:
    # no-color.org: a NO_COLOR that is present and not empty turns colour off
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def verbosity() -> int:
    """-1 with -q, 1 with -v, 0 otherwise (see verbosity_params)."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.meta.get(_VERBOSITY, 0)) if ctx is not None else 0


_VERBOSITY = "archcalc.verbosity"


def _set_verbosity(level: int) -> Callable[[click.Context, click.Parameter, bool], None]:
    def store(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta[_VERBOSITY] = level

    return store


def verbosity_params() -> list[click.Parameter]:
    """-q and -v, which the group adds to every command (archcalc.cli.main): they set how much
    echo_diagnostics says, so a command needs no code of its own for them."""
    return [
        click.Option(
            ["--quiet", "-q"],
            is_flag=True,
            expose_value=False,
            callback=_set_verbosity(-1),
            help="Say less: no info-level diagnostics.",
        ),
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            expose_value=False,
            callback=_set_verbosity(1),
            help="Say more: every diagnostic in full (by default, layers whose windows lose only "
            "padding are summed up in one line).",
        ),
    ]


# what a run of same-kind infos says in one line (standard nets have several of each)
_INFO_SUMMARIES = {
    "stride-fit": "layers leave padding uncovered; no input pixel is lost",
    "stride-gap": "layers skip pixels with a stride above their window size",
}


def echo_diagnostics(
    diagnostics: list[Diagnostic], sources: dict[str, str], quiet_info: bool = False
) -> None:
    """Diagnostics on stderr, in proportion: with -q no infos; by default two or more infos of
    one kind (a standard net's padding-only remainders) are one line; with -v all in full."""
    from archcalc.render.diagnostics import format_diagnostic

    level = verbosity()
    colour = use_colour(sys.stderr)
    infos: dict[str, int] = {}
    for d in diagnostics:
        if d.severity == "info":
            infos[d.code] = infos.get(d.code, 0) + 1
    folded = {code for code, n in infos.items() if n > 1 and level == 0}
    for d in diagnostics:
        if d.severity == "info" and (quiet_info or level < 0 or d.code in folded):
            continue
        click.echo(
            format_diagnostic(d, sources, click.style if colour else None), err=True, color=colour
        )
    if quiet_info:
        return
    label = click.style("info:", fg="cyan", bold=True) if colour else "info:"
    for code in sorted(folded, key=list(infos).index):
        what = _INFO_SUMMARIES.get(code, f"infos of kind '{code}'")
        click.echo(f"{label} {infos[code]} {what} (-v lists them)", err=True, color=colour)


def spec_options(func: F) -> F:
    """--input, --strict and --course, shared by every command that analyses a spec."""
    func = click.option(
        "--course",
        is_flag=True,
        expose_value=False,
        callback=_remember_course,
        help="Homework mode, as the course notes teach: a filter that doesn't fit, a dense "
        "layer without flatten and a two-number image input are errors (implies --strict).",
    )(func)
    func = click.option(
        "--strict/--no-strict",
        default=None,
        help="Every sliding window must fit exactly (non-integer output sizes are errors). Default: the spec's 'strict:' setting.",
    )(func)
    return input_shape_option("Override the spec's input shape, e.g. 224x224x3 or 16000x1.")(func)


def input_shape_option(help: str) -> Callable[[F], F]:
    """``--input/-i SHAPE``, read into ``input_shape``: what it does is the command's to say."""
    return click.option("--input", "-i", "input_shape", metavar="SHAPE", default=None, help=help)


def sizing_options(func: F) -> F:
    """--batch and --dtype, for the commands whose figures they change (memory, MACs, a run)."""
    func = click.option(
        "--dtype",
        default="float32",
        show_default=True,
        type=click.Choice(["float32", "float16", "bfloat16", "float64", "int8", "uint8", "int32"]),
        help="Element type for memory figures.",
    )(func)
    func = click.option(
        "--batch",
        "-b",
        default=1,
        show_default=True,
        type=click.IntRange(min=1),
        help="Batch size: scales MACs, FLOPs and activation memory.",
    )(func)
    return func


def parse_depth(value: str | None) -> int | str | None:
    """--depth N|all: a positive level, None for all, "auto" when not given."""
    if value is None:
        return "auto"
    if value.lower() == "all":
        return None
    try:
        depth = int(value)
    except ValueError:
        depth = 0
    if depth < 1:
        raise UsageError(
            f"--depth takes a positive whole number or 'all', got '{value}'",
            "--depth 1 shows only the top level (each top-level block as one row or box); "
            "--depth all opens every block",
        )
    return depth


def _remember_course(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # kept on the context, not passed as an argument: every command that analyses gets it
    ctx.meta["archcalc.course"] = value


def course_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("archcalc.course"))


def format_option(*choices: str) -> Callable[[F], F]:
    """--format with a command's own formats (conv/pool: text, json; grade: text, csv,
    gradescope); a command whose output is a table uses archcalc.cli.output's instead."""

    def decorate(func: F) -> F:
        return click.option(
            "--format",
            "-f",
            "fmt",
            default=choices[0],
            show_default=True,
            type=click.Choice(choices),
            help="Output format.",
        )(func)

    return decorate


def depth_option(func: F) -> F:
    """--depth for the commands that list layers: blocks below the level fold into one row."""
    return click.option(
        "--depth",
        "-d",
        metavar="N|all",
        default=None,
        help="Levels of nesting to list: 1 = the top level only (each top-level block one row "
        "with its totals), 2 = open those blocks too, ..., all = every layer. Default: every "
        "layer when they fit the screen, else the deepest level that fits.",
    )(func)


def complete_spec(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion for SPEC: the bundled specs' names, then files."""
    from click.shell_completion import CompletionItem

    from archcalc.zoo import bundled_names

    names = [n for n in bundled_names() if n.startswith(incomplete)]
    # files first: click's bash script empties its list on a "file" item, then falls back to
    # file names only when no bundled name matches; zsh and fish offer both
    return [CompletionItem(incomplete, type="file")] + [
        CompletionItem(n, help="bundled spec") for n in names
    ]


def complete_layer(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion for --layer: the layer names of the SPEC given before it."""
    from click.shell_completion import CompletionItem

    from archcalc.spec import load

    # with the option's value still to come, click leaves the arguments before it unparsed
    spec = ctx.params.get("spec") or next(iter(ctx.args), None)
    if not spec:
        return []
    try:
        graph = load(spec).graph
    except Exception:  # completion must never fail loudly: an unreadable spec completes nothing
        return []
    return [CompletionItem(n.name) for n in graph.nodes if n.name.startswith(incomplete)]


def guarded(func: F) -> F:
    """Turn library errors into messages and exit codes; never show a traceback for bad input."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecError as err:
            echo_diagnostics(err.diagnostics, getattr(err, "sources", {}))
            sys.exit(EXIT_USAGE)
        except UsageError as err:
            click.echo(f"archcalc: error: {err.message}", err=True)
            if err.hint:
                click.echo(f"  hint: {err.hint}", err=True)
            sys.exit(EXIT_USAGE)
        except RecursionError:
            # not expected: the nesting limit (archcalc.limits.DEPTH) refuses deep specs with a
            # position first, and Python's recursion limit is raised to fit it
            from archcalc import limits

            click.echo("archcalc: error: the spec is nested too deeply to analyse", err=True)
            click.echo(
                f"  hint: nest less deeply, or lower {limits.DEPTH.env} to be told where",
                err=True,
            )
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def load_and_analyze(
    spec: str,
    input_shape: str | None,
    batch: int = 1,
    dtype: str = "float32",
    strict: bool | None = None,
    count: str = "archcalc",
    explain: bool = False,
) -> Analysed:
    """Load SPEC, apply any --input override, and analyse it once for the whole command (the
    library's load_analysis, in --course mode when the command line says so)."""
    from archcalc.api import load_analysis

    return load_analysis(spec, input_shape, batch, dtype, strict, count, explain, course_mode())
