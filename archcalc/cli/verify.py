"""`archcalc verify`: run the net on random numbers and check every analysed figure."""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    echo_diagnostics,
    format_option,
    guarded,
    load_and_analyze,
    spec_options,
    use_colour,
)


def memory_option(func: Any) -> Any:
    return click.option(
        "--max-memory",
        metavar="SIZE",
        default=None,
        help="Refuse to run above this estimated peak, e.g. 2GiB or 512MiB. "
        "Default: 70% of available memory.",
    )(func)


@click.command()
@click.argument("spec")
@spec_options
@format_option("table", "json")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for weights and input.")
@click.option(
    "--rf-samples",
    default=4,
    show_default=True,
    type=click.IntRange(min=0),
    help="Layers whose receptive field is measured by execution (plus the first that sees "
    "the whole input); 0 skips the measurement.",
)
@memory_option
@guarded
def verify(
    spec: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
    fmt: str,
    seed: int,
    rf_samples: int,
    max_memory: str | None,
) -> None:
    """Run SPEC on a random batch with the NumPy backend and check the analysis against it.

    Builds weights of the analysed shapes (seeded), runs a random input, and compares per
    layer: the output shape produced with the analysed one; the weight arrays the forward
    actually read with the analysed parameters; the multiply-accumulates the kernels performed
    with the analysed MACs; and, for a sample of layers, the receptive field measured by
    running probe rows and columns through the net with the analysed one (both clipped to the
    input). Exit status: 0 all pass, 1 any mismatch (each named on stderr), 2 bad usage, an
    unreadable spec, or an estimated peak memory over --max-memory.
    """
    from archcalc.backend.memory import parse_bytes
    from archcalc.backend.verify import verify as run_verify
    from archcalc.diagnostics import UsageError

    if dtype not in ("float32", "float64"):
        raise UsageError(
            f"verify computes in float32 or float64, not {dtype}", "use --dtype float32"
        )
    limit = parse_bytes(max_memory) if max_memory is not None else None
    report, sources, analysed, spec_shape = load_and_analyze(
        spec, input_shape, batch, dtype, strict
    )
    if report.has_errors:
        echo_diagnostics(report.diagnostics, sources)
        click.echo("verify: the architecture has errors; nothing to run", err=True)
        sys.exit(EXIT_ERRORS)
    graph = analysed.graph

    stream = sys.stderr
    if stream.isatty() and fmt == "table":
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

    if fmt == "json":
        import json

        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print_table(result)
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
    if value.get("whole"):
        return "whole input"
    if "size" in value:
        size = "×".join(map(str, value["size"]))
        stride = "×".join(map(str, value["stride"]))
        return f"{size} /{stride}"
    spans = [f"{k.split('@')[0]}:{v[0]}..{v[1]}" if v else "none" for k, v in value.items()]
    return " ".join(spans[:2]) + " (clipped)"


def _print_table(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from archcalc.render.numbers import human
    from archcalc.shapes import format_shape

    out = sys.stdout
    console = Console(
        file=out,
        no_color=not use_colour(out),
        highlight=False,
        soft_wrap=False,
        width=None if out.isatty() else 140,
    )
    title = f"verify {result.name}: input {format_shape(result.input_shape)}"
    if result.reduced:
        title += f" (reduced: the spec says {format_shape(result.spec_input_shape)})"
    title += f", batch {result.batch}, {result.dtype}, seed {result.seed}"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for col, justify in (
        ("layer", "left"),
        ("type", "left"),
        ("output", "left"),
        ("params", "right"),
        ("MACs", "right"),
        ("receptive field (measured)", "left"),
        ("", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def cell(layer: Any, name: str, show: Any) -> str:
        fig = layer.figure(name)
        if fig is None:
            return ""
        text = show(fig.measured)
        return text if fig.ok else f"[red]{text} ≠ {show(fig.analysed)}[/red]"

    for layer in result.layers:
        table.add_row(
            layer.name,
            layer.type,
            cell(layer, "shape", format_shape),
            cell(layer, "params", lambda v: f"{v:,}"),
            cell(layer, "macs", lambda v: f"{v:,}"),
            cell(layer, "rf", _rf_cell),
            "PASS" if layer.ok else "[bold red]FAIL[/bold red]",
        )
    console.print(table)
    failed = sum(not layer.ok for layer in result.layers)
    sampled = sum(1 for layer in result.layers if layer.figure("rf") is not None)
    console.print(
        f"{'FAIL' if failed else 'PASS'}: {len(result.layers) - failed}/{len(result.layers)} "
        f"layers agree (shape, params, MACs; receptive field measured on {sampled}) in "
        f"{result.seconds:.2f} s; peak live activations {human(result.peak_live_bytes, 'B')}, "
        f"estimated peak {human(result.memory.total, 'B')} "
        f"(limit {human(result.memory_limit, 'B')})"
    )
