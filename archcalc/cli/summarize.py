"""`archcalc summarize` and `archcalc check`."""

from __future__ import annotations

import sys

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    echo_diagnostics,
    format_option,
    guarded,
    load_and_analyze,
    spec_options,
    use_colour,
)
from archcalc.diagnostics import UsageError


@click.command()
@click.argument("spec")
@spec_options
@format_option("table", "json", "csv", "markdown")
@click.option(
    "--quiet-info", "-q", is_flag=True, help="Do not print info-level diagnostics on stderr."
)
@click.option(
    "--tree", is_flag=True, help="Show the nesting (blocks, repeats, branches) as a tree."
)
@guarded
def summarize(
    spec: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
    fmt: str,
    quiet_info: bool,
    tree: bool = False,
) -> None:
    """Per-layer output shapes, parameters, MACs, receptive fields and stride fit, with totals.

    SPEC is a YAML spec file or a bundled spec's name (see `archcalc zoo`). The report goes to
    stdout; diagnostics (file:line:column, the source line, a hint) go to stderr. Exit status is
    1 when the architecture has errors, 2 when the spec cannot be read.
    """
    if tree:
        if fmt != "table":
            raise UsageError("--tree draws on the terminal", "leave out --format with --tree")
        from archcalc.cli.draw import load_graph_and_analyze

        graph, report, sources = load_graph_and_analyze(spec, input_shape, batch, dtype, strict)
    else:
        report, sources = load_and_analyze(spec, input_shape, batch, dtype, strict)
    if fmt == "table":
        from rich.console import Console

        console = Console(
            no_color=not use_colour(sys.stdout),
            highlight=False,
            soft_wrap=False,
            width=None if sys.stdout.isatty() else 160,
        )
        from archcalc.render.table import print_table

        if tree:
            from archcalc.render.tree import print_tree

            print_tree(graph, report, console)
        else:
            print_table(report, console)
    else:
        from archcalc.render import formats

        render = {"json": formats.to_json, "csv": formats.to_csv, "markdown": formats.to_markdown}[
            fmt
        ]
        click.echo(render(report), nl=fmt == "json")
    echo_diagnostics(report.diagnostics, sources, quiet_info)
    sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@spec_options
@click.option("--warnings-as-errors", "-W", is_flag=True, help="Exit 1 on warnings too.")
@guarded
def check(
    specs: tuple[str, ...],
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
    warnings_as_errors: bool,
) -> None:
    """Validate one or more specs: stride fit, shapes, channels, references.

    Prints every diagnostic and one status line per spec. Exit status: 0 when every spec is
    clean, 1 when any has errors (or warnings, with -W), 2 when any cannot be read.
    """
    from archcalc.diagnostics import SpecError
    from archcalc.render.diagnostics import summary_line

    worst = EXIT_OK
    for spec in specs:
        try:
            report, sources = load_and_analyze(spec, input_shape, batch, dtype, strict)
        except SpecError as err:
            echo_diagnostics(err.diagnostics, getattr(err, "sources", {}))
            click.echo(f"{spec}: cannot be read ({summary_line(err.diagnostics)})", err=True)
            worst = EXIT_USAGE
            continue
        echo_diagnostics(report.diagnostics, sources)
        failed = report.has_errors or (
            warnings_as_errors and any(d.severity == "warning" for d in report.diagnostics)
        )
        status = "FAIL" if failed else "ok"
        detail = summary_line(report.diagnostics) or "clean"
        click.echo(f"{spec}: {status} ({detail})")
        if failed:
            worst = max(worst, EXIT_ERRORS)
    sys.exit(worst)
