"""`archcalc report`: one self-contained, interactive HTML page about a net."""

from __future__ import annotations

import os
import sys

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    echo_diagnostics,
    guarded,
    load_and_analyze,
    sizing_options,
    spec_options,
)
from archcalc.diagnostics import UsageError


@click.command()
@click.argument("spec")
@click.option(
    "--output", "-o", required=True, metavar="FILE", help="Where to write the page (.html)."
)
@spec_options
@sizing_options
@guarded
def report(
    spec: str,
    output: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
) -> None:
    """Write SPEC as one HTML page that needs no network: the diagram (click a block to open
    or close it), the layer table (click a heading to sort, type to filter) with the same
    figures as `summarize`, each layer's worked arithmetic and its receptive field drawn on
    the input when selected, the totals, the diagnostics, and charts of parameters, MACs and
    activation memory per block.

    Exit status is 1 when the architecture has errors (the page is still written), 2 on bad
    usage.

    \b
    Examples:
      archcalc report resnet50 -o resnet50.html
      archcalc report my_net.yaml -o my_net.html --input 128x128x3
    """
    from archcalc.render.graphviz import default_depth
    from archcalc.render.html import to_html
    from archcalc.safeio import check_output, write_output

    if os.path.splitext(output)[1].lower() not in (".html", ".htm"):
        raise UsageError(f"'{output}' does not end in .html", "name the page e.g. net.html")
    check_output(output, [spec])
    found, sources, result, _ = load_and_analyze(
        spec, input_shape, batch, dtype, strict, explain=True
    )
    graph = result.graph
    page = to_html(found, graph, default_depth(graph, found))
    write_output(output, page.encode("utf-8"), [spec, graph.file])
    echo_diagnostics(found.diagnostics, sources, quiet_info=True)
    click.echo(f"wrote {output}", err=True)
    sys.exit(EXIT_ERRORS if found.has_errors else EXIT_OK)
