"""`archcalc draw`: a Graphviz diagram of a net."""

from __future__ import annotations

import sys

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    complete_spec,
    echo_diagnostics,
    guarded,
    load_and_analyze,
    parse_depth,
    spec_options,
)

MIN_DPI, MAX_DPI = 36, 600


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option(
    "--output",
    "-o",
    "output",
    required=True,
    metavar="FILE",
    help="Where to write the diagram; the suffix picks the format: .svg, .png, .pdf or .dot.",
)
@spec_options
@click.option(
    "--depth",
    "-d",
    metavar="N|all",
    default=None,
    help="Levels of nesting to draw: 1 = the top level only (each top-level block one box "
    "with its totals), 2 = open those blocks too, ..., all = every layer. "
    "Default: all for nets up to 60 layers (short plain blocks as one box, each activation "
    "inside the box before it), 2 for bigger ones, 1 for a U-Net.",
)
@click.option(
    "--rankdir",
    type=click.Choice(["TB", "LR", "BT", "RL"], case_sensitive=False),
    default="TB",
    show_default=True,
    help="Direction of flow: TB top to bottom, LR left to right.",
)
@click.option("--params", "show_params", is_flag=True, help="Show each layer's parameter count.")
@click.option(
    "--fold/--no-fold",
    default=True,
    show_default=True,
    help="Draw consecutive identical block instances once, with a ×N badge.",
)
@click.option(
    "--dpi",
    type=click.IntRange(MIN_DPI, MAX_DPI),
    default=None,
    metavar="N",
    help=f"Resolution of a PNG in dots per inch ({MIN_DPI}-{MAX_DPI}; Graphviz's default is 96): "
    "150 or 200 for a slide or print.",
)
@guarded
def draw(
    spec: str,
    output: str,
    input_shape: str | None,
    strict: bool | None,
    depth: str | None,
    rankdir: str,
    show_params: bool,
    fold: bool,
    dpi: int | None,
) -> None:
    """Draw SPEC as a Graphviz diagram: layers coloured by family, tensor shapes on the edges,
    residual adds and concatenations as merges, blocks as clusters.

    At the default depth a residual block is drawn open (body, shortcut, ⊕) with its identical
    repeats folded ×N, an Inception module shows its branches side by side with their kernel
    sizes, an encoder-decoder (U-Net) is drawn as a U, and a filter that does not fit shows
    its arithmetic.

    SVG, PNG and PDF need Graphviz's `dot` program; a .dot file does not. In SVG, hovering a
    layer shows its position in the spec and any diagnostic. Exit status is 1 when the
    architecture has errors (the diagram is still written, with those layers marked), 2 on bad
    usage.

    \b
    Examples:
      archcalc draw alexnet -o alexnet.svg --params
      archcalc draw resnet50 -o resnet50.png --depth 4 --rankdir LR
      archcalc draw unet -o unet.png --dpi 200
    """
    from archcalc.render import graphviz as gv
    from archcalc.safeio import check_output, write_output

    fmt = gv.format_for(output)
    levels = parse_depth(depth)
    check_output(output, [spec])
    report, sources, result, _ = load_and_analyze(spec, input_shape, strict=strict)
    graph = result.graph
    compact = levels == "auto"  # a depth the user chose draws exactly that
    if levels == "auto":
        levels = gv.default_depth(graph, report)
    assert levels is None or isinstance(levels, int)
    dot = gv.to_dot(
        graph,
        report,
        depth=levels,
        rankdir=rankdir.upper(),
        params=show_params,
        fold=fold,
        dpi=dpi,
        compact=compact,
    )
    data = gv.render_bytes(dot, fmt)
    write_output(output, data, [spec, graph.file])
    echo_diagnostics(report.diagnostics, sources, quiet_info=True)
    opened = "all levels" if levels is None else f"depth {levels}"
    click.echo(f"wrote {output} ({fmt}, {opened})", err=True)
    sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)
