"""`archcalc verify`: run the net on random numbers and check every analysed figure."""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    complete_spec,
    depth_option,
    echo_diagnostics,
    guarded,
    load_and_analyze,
    parse_depth,
    sizing_options,
    spec_options,
)
from archcalc.cli.output import Output, OutputSettings, output_options


def memory_option(func: Any) -> Any:
    return click.option(
        "--max-memory",
        metavar="SIZE",
        default=None,
        help="Refuse to run above this estimated peak, e.g. 2GiB or 512MiB. "
        "Default: 70% of available memory.",
    )(func)


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@spec_options
@sizing_options
@output_options
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed for weights and input (0 or more).",
)
@click.option(
    "--rf-samples",
    default=4,
    show_default=True,
    type=click.IntRange(min=0),
    help="Layers whose receptive field is measured by execution (plus the first that sees "
    "the whole input); 0 skips the measurement.",
)
@depth_option
@memory_option
@guarded
def verify(
    spec: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
    out: OutputSettings,
    seed: int,
    rf_samples: int,
    depth: str | None,
    max_memory: str | None,
) -> None:
    """Run SPEC on a random batch with the NumPy backend and check the analysis against it.

    Builds weights of the analysed shapes (seeded), runs a random input, and compares per
    layer: the output shape produced with the analysed one; the weight arrays the forward
    actually read with the analysed parameters; the multiply-accumulates the kernels performed
    with the analysed MACs; and, for a sample of layers, the receptive field measured by
    running probe rows and columns through the net with the analysed one: exactly which input
    rows and columns sampled units depend on (holes included), and the envelope (size, stride,
    offset) of units inside the input. Exit status: 0 all pass, 1 any mismatch (each named on
    stderr), 2 bad usage, an unreadable spec, or an estimated peak memory over --max-memory.
    """
    from archcalc.backend.memory import parse_bytes
    from archcalc.backend.verify import verify as run_verify
    from archcalc.diagnostics import UsageError

    if dtype not in ("float32", "float64"):
        raise UsageError(
            f"verify computes in float32 or float64, not {dtype}", "use --dtype float32"
        )
    limit = parse_bytes(max_memory) if max_memory is not None else None
    levels = parse_depth(depth)
    report, sources, analysed, spec_shape = load_and_analyze(
        spec, input_shape, batch, dtype, strict
    )
    if report.has_errors:
        echo_diagnostics(report.diagnostics, sources)
        click.echo("verify: the architecture has errors; nothing to run", err=True)
        sys.exit(EXIT_ERRORS)
    graph = analysed.graph

    stream = sys.stderr
    if stream.isatty() and out.fmt == "table":
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=True,
        ) as bar:
            task = bar.add_task("running", total=len(graph.nodes))

            def step(what: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=what)

            result = run_verify(analysed, spec_shape, seed, dtype, rf_samples, limit, step)
    else:
        result = run_verify(analysed, spec_shape, seed, dtype, rf_samples, limit)

    parts = None
    if out.fmt == "table":
        from archcalc.render.output import terminal_height
        from archcalc.render.table import depth_for, fold

        if levels == "auto":
            height = None if out.wide else terminal_height()
            levels = depth_for(graph, report, height - 6 if height else None)
        if isinstance(levels, int):
            parts = fold(graph, report, levels)
    out.emit(_output(result, parts))
    for layer, figure in result.mismatches():
        click.echo(
            f"verify: FAIL {layer}: {_figure_names[figure.name]}: analysed "
            f"{_show(figure.analysed)}, measured {_show(figure.measured)}",
            err=True,
        )
    sys.exit(EXIT_OK if result.ok else EXIT_ERRORS)


_figure_names = {
    "shape": "output shape",
    "params": "parameters",
    "buffers": "buffers",
    "macs": "MACs",
    "rf": "receptive field",
}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _rf_cell(value: dict[str, Any]) -> str:
    holes = " holes" if value.get("holes") else ""
    if "size" in value and not value.get("whole"):
        size = "×".join(map(str, value["size"]))
        stride = "×".join(map(str, value["stride"]))
        return f"{size} /{stride}{holes}"
    units: dict[str, list[Any]] = {}  # per axis, the sampled units' spans in order
    for key, span in value.items():
        if key.startswith("axis"):
            units.setdefault(key.split("@")[0], []).append(span)
    spans = [
        f"{axis}:{v[0]}..{v[1]}" if v else f"{axis}:none"
        for axis, found in units.items()
        for v in [found[len(found) // 2]]  # the middle unit's
    ]
    where = "whole input: " if value.get("whole") else ""
    return where + " ".join(spans) + holes


def _output(result: Any, parts: list[Any] | None = None) -> Output:
    """One row per layer (or per block of ``parts``, folded by --depth): each measured figure,
    or 'measured ≠ analysed' where they differ."""
    from archcalc.render.numbers import human
    from archcalc.render.output import Column
    from archcalc.shapes import format_shape

    title = f"verify {result.name}: input {format_shape(result.input_shape)}"
    if result.reduced:
        title += f" (reduced: the spec says {format_shape(result.spec_input_shape)})"
    title += f", batch {result.batch}, {result.dtype}, seed {result.seed}"

    def cell(layer: Any, name: str, show: Any) -> str:
        fig = layer.figure(name)
        if fig is None:
            return ""
        text = show(fig.measured)
        return text if fig.ok else f"{text} ≠ {show(fig.analysed)}"

    def total(layers: list[Any], name: str) -> str:
        figures = [f for f in (layer.figure(name) for layer in layers) if f is not None]
        measured = sum(f.measured for f in figures)
        analysed = sum(f.analysed for f in figures)
        return f"{measured:,}" if measured == analysed else f"{measured:,} ≠ {analysed:,}"

    rows = [
        {
            "name": layer.name,
            "type": layer.type,
            "output": cell(layer, "shape", format_shape),
            "params": cell(layer, "params", lambda v: f"{v:,}"),
            "macs": cell(layer, "macs", lambda v: f"{v:,}"),
            "rf": cell(layer, "rf", _rf_cell),
            "result": "PASS" if layer.ok else "FAIL",
        }
        for layer in result.layers
    ]
    if parts is not None:  # a block's row: its layers' sums, PASS only when all of them pass
        by_name = {layer.name: layer for layer in result.layers}
        rows = []
        for part in parts:
            inside = [by_name[r.name] for r in part.rows() if r.name in by_name]
            if not inside:
                continue
            failed = sum(not layer.ok for layer in inside)
            rows.append(
                {
                    "name": part.name,
                    "type": part.label,
                    "output": cell(inside[-1], "shape", format_shape),
                    "params": total(inside, "params"),
                    "macs": total(inside, "macs"),
                    "rf": cell(inside[-1], "rf", _rf_cell) if part.row is not None else "",
                    "result": f"FAIL ({failed})" if failed else "PASS",
                }
            )
    columns = [
        Column("name", "layer", shorten="left", least=12),
        Column("type", "type", shorten="right", drop=1),
        Column("output", "output"),
        Column("params", "params", right=True, drop=2),
        Column("macs", "MACs", right=True, drop=3),
        Column("rf", "receptive field (measured)", shorten="right", least=16, drop=4),
        Column(
            "result",
            "",
            style=lambda v: {"fg": "red", "bold": True} if v.startswith("FAIL") else None,
        ),
    ]
    failed = sum(not layer.ok for layer in result.layers)
    sampled = sum(1 for layer in result.layers if layer.figure("rf") is not None)
    summary = (
        f"{'FAIL' if failed else 'PASS'}: {len(result.layers) - failed}/{len(result.layers)} "
        f"layers agree (shape, params, MACs; receptive field measured on {sampled}) in "
        f"{result.seconds:.2f} s; peak live activations {human(result.peak_live_bytes, 'B')}, "
        f"estimated peak {human(result.memory.total, 'B')} "
        f"(limit {human(result.memory_limit, 'B')})"
    )
    return Output(title, columns, rows, after=[summary], json=result.to_json())
