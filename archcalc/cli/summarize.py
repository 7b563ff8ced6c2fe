"""`archcalc summarize` and `archcalc check`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    complete_spec,
    depth_option,
    echo_diagnostics,
    guarded,
    load_and_analyze,
    parse_depth,
    sizing_options,
    spec_options,
    use_colour,
)
from archcalc.cli.output import Output, OutputSettings, output_options

if TYPE_CHECKING:
    from archcalc.graph import Graph
    from archcalc.report import Report


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@spec_options
@sizing_options
@output_options
@depth_option
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
    out: OutputSettings,
    depth: str | None,
    count: str,
    types: bool,
    explain: bool,
    tree: bool,
) -> None:
    """Per-layer output shapes, parameters, MACs, receptive fields and stride fit, with totals.

    SPEC is a YAML spec file, a bundled spec's name (see `archcalc zoo`), or - for standard
    input. The report goes to stdout; diagnostics (file:line:column, the source line, a hint)
    go to stderr, before it, so the totals are the last lines on the screen. The table fits the
    terminal (--wide shows it whole) and, for a net too long for the screen, folds its blocks
    (see --depth); the fit column marks ≈ a window that loses only padding, ⚠ one that never
    sees some input rows or columns, ✗ an error. Exit status is 1 when the architecture has
    errors, 2 when the spec cannot be read.

    \b
    Examples:
      archcalc summarize alexnet
      archcalc summarize resnet50 --depth 2
      archcalc summarize vgg16 --format json --batch 8
      archcalc summarize mobilenet_v2 --count fvcore --by-type
    """
    from archcalc.diagnostics import UsageError

    fmt = out.fmt
    if explain and fmt == "csv":
        raise UsageError(
            "--explain has no CSV form (one row per layer cannot hold the formulas)",
            "use --format table, json or markdown with --explain",
        )
    if tree and fmt != "table":
        raise UsageError("--tree draws on the terminal", "leave out --format with --tree")
    levels = parse_depth(depth)
    report, sources, result, _ = load_and_analyze(
        spec, input_shape, batch, dtype, strict, count, explain
    )
    graph = result.graph
    # diagnostics first: the totals, at the end of stdout, are the last thing on the screen
    echo_diagnostics(report.diagnostics, sources)
    if tree:
        _print_tree(report, graph, levels, out)
        sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)
    output = _output(report, graph, levels, types, fmt == "table", out)
    if explain:
        from archcalc.render.explain import explain_text

        if fmt == "table":
            # after the table, not instead of it: the table is the overview a reader scans, the
            # arithmetic (several lines per layer) is what they look up a row in
            output.after += [
                "",
                "The arithmetic, layer by layer:",
                "",
                explain_text(report).rstrip("\n"),
            ]
        elif fmt == "markdown":
            text = output.render["markdown"]()
            output.render["markdown"] = lambda: (
                text + "\n### The arithmetic\n\n```\n" + explain_text(report) + "```\n"
            )
    out.emit(output)
    sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)


def _print_tree(
    report: Report, graph: Graph, levels: int | str | None, out: OutputSettings
) -> None:
    """--tree: opened as deep as --depth says, or as the screen holds; never a wrapped line."""
    from rich.console import Console

    from archcalc.render.output import terminal_height
    from archcalc.render.tree import lines_at, print_tree

    if levels == "auto":
        height = None if out.wide else terminal_height()
        deepest = max((len(r.scope) for r in report.layers), default=0) + 1
        levels = None
        if height is not None and lines_at(graph, report, None) > height - 2:
            fits = [d for d in range(1, deepest) if lines_at(graph, report, d) <= height - 2]
            levels = max(fits, default=1)
    assert levels is None or isinstance(levels, int)
    width = out.width
    console = Console(
        no_color=not use_colour(sys.stdout),
        highlight=False,
        width=width or 10_000,
        soft_wrap=width is None,
    )
    print_tree(graph, report, console, depth=levels)


def _output(
    report: Report,
    graph: Graph,
    levels: int | str | None,
    types: bool,
    table: bool,
    out: OutputSettings,
) -> Output:
    """The report as rows; JSON and Markdown keep their documented layouts."""
    from archcalc.render import formats
    from archcalc.render.output import terminal_height
    from archcalc.render.table import depth_for, summary_output

    note = ""
    if levels == "auto":
        height = terminal_height() if table and not out.wide else None
        # what the screen holds besides the rows: title, header, legend, totals, prompt
        levels = depth_for(graph, report, height - 16 if height else None)
        if levels is not None:
            note = f"(blocks folded below depth {levels}; --depth all lists every layer)"
    assert levels is None or isinstance(levels, int)
    colour = use_colour(sys.stdout)
    output = summary_output(
        report, graph, levels, types, click.style if colour else None, folded_note=note
    )
    output.render["json"] = lambda: formats.to_json(report, types) + "\n"
    output.render["markdown"] = lambda: formats.to_markdown(report, types)
    output.render["csv"] = lambda: (
        formats.to_csv_by_type(report) if types else formats.to_csv(report)
    )
    return output


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...", shell_complete=complete_spec)
@spec_options
@output_options
@click.option("--warnings-as-errors", "-W", is_flag=True, help="Exit 1 on warnings too.")
@guarded
def check(
    specs: tuple[str, ...],
    input_shape: str | None,
    strict: bool | None,
    out: OutputSettings,
    warnings_as_errors: bool,
) -> None:
    """Validate one or more specs: stride fit, shapes, channels, references.

    Prints every diagnostic (stderr), then one status row per spec (stdout). Exit status: 0
    when every spec is clean, 1 when any has errors (or warnings, with -W), 2 when any cannot
    be read.

    \b
    Examples:
      archcalc check my_net.yaml
      archcalc check alexnet vgg16 --strict
      archcalc check my_net.yaml -W --format json
    """
    from archcalc.diagnostics import SpecError
    from archcalc.render.diagnostics import summary_line
    from archcalc.render.output import Column
    from archcalc.spec import STDIN, STDIN_NAME

    worst = EXIT_OK
    rows = []
    for given in specs:
        spec = STDIN_NAME if given == STDIN else given
        try:
            report, sources, _, _ = load_and_analyze(given, input_shape, strict=strict)
        except SpecError as err:
            echo_diagnostics(err.diagnostics, getattr(err, "sources", {}))
            rows.append(
                {"spec": spec, "status": "unreadable", "diagnostics": summary_line(err.diagnostics)}
            )
            worst = EXIT_USAGE
            continue
        echo_diagnostics(report.diagnostics, sources)
        failed = report.has_errors or (
            warnings_as_errors and any(d.severity == "warning" for d in report.diagnostics)
        )
        rows.append(
            {
                "spec": spec,
                "status": "FAIL" if failed else "ok",
                "diagnostics": summary_line(report.diagnostics) or "clean",
            }
        )
        if failed:
            worst = max(worst, EXIT_ERRORS)
    columns = [
        Column("spec", "spec", shorten="left", least=16),
        Column("status", "status"),
        Column("diagnostics", "diagnostics", shorten="right"),
    ]
    out.emit(Output("", columns, rows))
    sys.exit(worst)
