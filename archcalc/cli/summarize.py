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


@click.command()
@click.argument("spec")
@spec_options
@format_option("table", "json", "csv", "markdown")
@click.option(
    "--quiet-info", "-q", is_flag=True, help="Do not print info-level diagnostics on stderr."
)
@click.option(
    "--count",
    "-c",
    default="archcalc",
    show_default=True,
    type=click.Choice(["archcalc", "fvcore", "ptflops", "thop", "torchinfo"]),
    help="Counting convention: also give each layer's and the network's count as that tool "
    "totals it (see docs/counting.md). MACs and FLOPs keep their meaning.",
)
@click.option(
    "--by-type",
    "types",
    is_flag=True,
    help="Group parameters, MACs and FLOPs by layer type, with each type's share of the total.",
)
@click.option(
    "--tree", is_flag=True, help="Show the nesting (blocks, repeats, branches) as a tree."
)
@click.option(
    "--explain",
    is_flag=True,
    help="Show the arithmetic behind every figure (after the table; an 'explain' list per "
    "layer in JSON).",
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
    count: str,
    types: bool,
    explain: bool,
    tree: bool,
) -> None:
    """Per-layer output shapes, parameters, MACs, receptive fields and stride fit, with totals.

    SPEC is a YAML spec file, a bundled spec's name (see `archcalc zoo`), or - for standard
    input. The report goes to
    stdout; diagnostics (file:line:column, the source line, a hint) go to stderr. Exit status is
    1 when the architecture has errors, 2 when the spec cannot be read.
    """
    if explain and fmt == "csv":
        from archcalc.diagnostics import UsageError

        raise UsageError(
            "--explain has no CSV form (one row per layer cannot hold the formulas)",
            "use --format table, json or markdown with --explain",
        )
    if tree and fmt != "table":
        from archcalc.diagnostics import UsageError

        raise UsageError("--tree draws on the terminal", "leave out --format with --tree")
    report, sources, result, _ = load_and_analyze(
        spec, input_shape, batch, dtype, strict, count, explain
    )
    graph = result.graph
    if tree:
        from rich.console import Console

        from archcalc.render.tree import print_tree

        print_tree(graph, report, Console(no_color=not use_colour(sys.stdout), highlight=False))
    elif fmt == "table":
        from archcalc.render.table import render_table

        colour = use_colour(sys.stdout)
        style = click.style if colour else None
        click.echo(render_table(report, style, types), nl=False, color=colour)
        if explain:
            # After the table, not instead of it: the table is the overview a reader scans,
            # the arithmetic (several lines per layer) is what they look up a row in.
            from archcalc.render.explain import explain_text

            click.echo("\nThe arithmetic, layer by layer:\n")
            click.echo(explain_text(report), nl=False)
    else:
        from archcalc.render import formats

        if fmt == "json":
            text = formats.to_json(report, types)
        elif fmt == "csv":
            text = formats.to_csv_by_type(report) if types else formats.to_csv(report)
        else:
            text = formats.to_markdown(report, types)
        if explain and fmt == "markdown":
            from archcalc.render.explain import explain_text

            text += "\n### The arithmetic\n\n```\n" + explain_text(report) + "```\n"
        click.echo(text, nl=fmt == "json")
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
    from archcalc.spec import STDIN, STDIN_NAME

    worst = EXIT_OK
    for given in specs:
        spec = STDIN_NAME if given == STDIN else given
        try:
            report, sources, _, _ = load_and_analyze(given, input_shape, batch, dtype, strict)
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
