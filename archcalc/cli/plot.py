"""`archcalc plot`: cost against input size for one net, or parameters against MACs across nets."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import click

from archcalc.cli.common import guarded, load_and_analyze, sizing_options, spec_options
from archcalc.diagnostics import SpecError, UsageError

if TYPE_CHECKING:
    from archcalc.render.plots import Point


def parse_range(text: str) -> list[int]:
    """'32:512' → about 32 evenly spread sizes from 32 to 512; '32:512:32' → every 32nd."""
    from archcalc.render.plots import MAX_POINTS

    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or numbers[0] < 1 or numbers[1] < numbers[0]:
        raise UsageError(
            f"--vs input takes FROM:TO or FROM:TO:STEP with 1 ≤ FROM ≤ TO, got '{text}'",
            "e.g. --vs input 32:512 or --vs input 32:512:32",
        )
    low, high = numbers[0], numbers[1]
    if len(numbers) == 3:
        if numbers[2] < 1:
            raise UsageError(f"the step must be at least 1, got {numbers[2]}", "e.g. 32:512:32")
        sizes = list(range(low, high + 1, numbers[2]))
    else:
        count = min(32, high - low + 1)
        sizes = sorted({round(low + (high - low) * k / max(1, count - 1)) for k in range(count)})
    if len(sizes) > MAX_POINTS:
        raise UsageError(
            f"{len(sizes)} input sizes; a plot takes at most {MAX_POINTS} (MAX_POINTS)",
            f"use a larger step, e.g. {low}:{high}:{math.ceil((high - low) / (MAX_POINTS - 1))}",
        )
    return sizes


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option(
    "--vs",
    nargs=2,
    metavar="input FROM:TO[:STEP]",
    default=None,
    help="Plot one net's parameters, MACs, activation memory and receptive field against its "
    "input size (square inputs, the spec's channels).",
)
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    help="Where to write the plot; the suffix picks the format: .svg, .png or .pdf.",
)
@spec_options
@sizing_options
@guarded
def plot(
    specs: tuple[str, ...],
    vs: tuple[str, str] | None,
    output: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
) -> None:
    """Plot costs. With --vs input, one SPEC's costs against its input size; with several
    SPECs, their parameters against their MACs (marker area: activation memory), the cost
    frontier joined. Needs matplotlib (pip install 'archcalc[plot]').

    \b
    Examples:
      archcalc plot resnet50 --vs input 32:512 -o cost.svg
      archcalc plot alexnet vgg16 resnet18 resnet50 googlenet mobilenet_v2 -o cmp.svg
    """
    from archcalc.render import plots
    from archcalc.safeio import check_output, write_output
    from archcalc.spec import STDIN, resolve

    fmt = os.path.splitext(output)[1].lower().lstrip(".")
    if fmt not in plots.FORMATS:
        raise UsageError(
            f"cannot tell the plot format from '{output}'",
            "end the file name with .svg, .png or .pdf",
        )
    check_output(output, specs)
    if vs is not None:
        axis, spread = vs
        if axis != "input":
            raise UsageError(f"--vs takes 'input', got '{axis}'", "e.g. --vs input 32:512")
        if specs == (STDIN,):
            raise UsageError(
                "--vs input analyses the spec once per input size, so it cannot read it from '-'",
                "save the spec to a file and give its path",
            )
        if len(specs) != 1 or input_shape is not None:
            raise UsageError(
                "--vs input plots one SPEC over a range of inputs",
                "give one spec and no --input",
            )
        data = _versus_input(specs[0], parse_range(spread), batch, dtype, strict, fmt)
    else:
        if len(specs) < 2:
            raise UsageError(
                "comparing needs two or more specs; one spec plots against its input size",
                f"archcalc plot {specs[0]} --vs input 32:512 -o {output}",
            )
        reports = []
        for spec in specs:
            report = load_and_analyze(spec, input_shape, batch, dtype, strict).report
            reports.append(report)
        data = plots.compare(reports, fmt)
    # a bundled name reads a file too: never write over it
    write_output(output, data, [*specs, *(str(resolve(s)) for s in specs if s != STDIN)])
    click.echo(f"wrote {output}", err=True)


def collect_points(
    spec: str, sizes: list[int], batch: int, dtype: str, strict: bool | None
) -> tuple[str, list[Point], list[int], int]:
    """The net's name, one point per input size that gives a valid net, the sizes that don't,
    and the spec's own input size (its first spatial axis)."""
    from archcalc.render.plots import point

    base = load_and_analyze(spec, None, batch, dtype, strict).report
    channels = base.input_shape[-1]
    spatial = len(base.input_shape) - 1
    points = []
    skipped: list[int] = []
    for size in sizes:
        shape = "x".join([str(size)] * spatial + [str(channels)])
        try:
            report = load_and_analyze(spec, shape, batch, dtype, strict).report
        except SpecError:
            report = None
        if report is None or report.has_errors:
            skipped.append(size)  # too small for the net's downsampling: no figures to plot
            continue
        points.append(point(size, report))
    return base.name or spec, points, skipped, base.input_shape[0]


def _versus_input(
    spec: str, sizes: list[int], batch: int, dtype: str, strict: bool | None, fmt: str
) -> bytes:
    from archcalc.render import plots

    name, points, skipped, designed = collect_points(spec, sizes, batch, dtype, strict)
    if skipped:
        click.echo(
            f"note: {len(skipped)} input size(s) give no valid net and are not plotted: "
            + ", ".join(str(s) for s in skipped[:8])
            + (" …" if len(skipped) > 8 else ""),
            err=True,
        )
    if not points:
        raise UsageError(
            f"no input size from {sizes[0]} to {sizes[-1]} gives {name} a valid shape",
            "try larger sizes",
        )
    return plots.versus_input(name, points, fmt, batch, dtype, designed)
