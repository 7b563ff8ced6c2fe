"""`archcalc rf`: receptive field, effective stride and offset per layer, and which input pixels
one unit sees."""

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

_AXIS_WORDS = {1: ("samples",), 2: ("rows", "columns"), 3: ("slices", "rows", "columns")}


@click.command("rf")
@click.argument("spec")
@spec_options
@format_option("table", "json")
@click.option("--layer", "-l", metavar="NAME", help="Only this layer.")
@click.option(
    "--unit",
    "-u",
    metavar="I,J",
    help="Which input pixels does unit (i, j) of --layer see? One index per spatial axis, "
    "counted from 0.",
)
@click.option(
    "--quiet-info", "-q", is_flag=True, help="Do not print info-level diagnostics on stderr."
)
@guarded
def rf(
    spec: str,
    input_shape: str | None,
    batch: int,
    dtype: str,
    strict: bool | None,
    fmt: str,
    layer: str | None,
    unit: str | None,
    quiet_info: bool,
) -> None:
    """Receptive field size, effective stride (jump) and offset per layer and axis.

    The offset is the centre of the first unit's window in input pixels (pixel 0's centre is 0);
    unit i of a layer is centred at offset + i·stride. With --layer NAME --unit i,j: the window
    [start, end] of input pixels that unit sees per axis, how much of it lies in padding on each
    side, and the real input pixels it depends on. Method: Araujo, Norris & Sim, Distill 2019.

    \b
    Examples:
      archcalc rf vgg16
      archcalc rf alexnet --layer pool3
      archcalc rf alexnet --layer conv2 --unit 0,0
    """
    from archcalc.analysis.rf import unit_window
    from archcalc.diagnostics import UsageError, did_you_mean

    if unit is not None and layer is None:
        raise UsageError("--unit needs --layer NAME: which layer's unit?")
    report, sources, result, _ = load_and_analyze(spec, input_shape, batch, dtype, strict)
    rows = report.layers
    if layer is not None:
        names = [r.name for r in rows]
        if layer not in names:
            raise UsageError(
                f"no layer named '{layer}' in {report.name}",
                did_you_mean(layer, names)
                or f"the layers are: {', '.join(names[:12])}"
                + (", ..." if len(names) > 12 else ""),
            )
        rows = [r for r in rows if r.name == layer]

    window = None
    if unit is not None:
        row = rows[0]
        if row.output_shape is None:
            echo_diagnostics(report.diagnostics, sources, quiet_info)
            click.echo(
                f"archcalc: error: the output shape of {row.name} is unknown (see the errors "
                "above), so its units cannot be located",
                err=True,
            )
            sys.exit(EXIT_ERRORS)
        index = _parse_unit(unit, row.name, row.output_shape)
        window = unit_window(result.graph, result.layers, row.name, index)

    if fmt == "json":
        data: dict[str, Any] = {
            "name": report.name,
            "input_shape": list(report.input_shape),
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "output_shape": list(r.output_shape) if r.output_shape else None,
                    "receptive_field": r.receptive_field.to_json() if r.receptive_field else None,
                    "whole_input": bool(r.receptive_field and r.receptive_field.whole),
                    **({"receptive_field_note": r.rf_note} if r.rf_note else {}),
                }
                for r in rows
            ],
        }
        if window is not None:
            data["unit"] = window.to_json()
        import json

        click.echo(json.dumps(data, indent=2))
    else:
        _print_table(report, rows)
        if window is not None:
            click.echo()
            click.echo(_unit_text(window, rows[0]), nl=False)
    echo_diagnostics(report.diagnostics, sources, quiet_info)
    sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)


def _parse_unit(text: str, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    from archcalc.diagnostics import UsageError
    from archcalc.shapes import format_shape

    spatial = shape[:-1] if len(shape) > 1 else shape
    wanted = ",".join(str(n - 1) for n in spatial)
    parts = [p.strip() for p in text.replace("x", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        index = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--unit takes integers separated by commas, got '{text}'",
            f"for example --unit 0,0 (the first unit) up to --unit {wanted}",
        ) from None
    if len(index) != len(spatial):
        what = "spatial axes" if len(shape) > 1 else "axis (it is a flat vector)"
        raise UsageError(
            f"{name}'s output {format_shape(shape)} has {len(spatial)} {what}, but --unit "
            f"gives {len(index)} ind{'ex' if len(index) == 1 else 'ices'}",
            f"give one index per axis, from 0 up to {wanted}",
        )
    for axis, (i, n) in enumerate(zip(index, spatial)):
        if not 0 <= i < n:
            raise UsageError(
                f"unit index {i} is out of range on axis {axis} of {name}'s output "
                f"{format_shape(shape)}: it must be between 0 and {n - 1}",
                f"units are counted from 0; the last unit is --unit {wanted}",
            )
    return index


def _fmt(values: list[int | float]) -> str:
    return "×".join(f"{v:g}" for v in values)


def _print_table(report: Any, rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from archcalc.shapes import format_shape

    console = Console(
        no_color=not use_colour(sys.stdout),
        highlight=False,
        soft_wrap=False,
        width=None if sys.stdout.isatty() else 160,
    )
    table = Table(
        title=f"{report.name} — receptive fields, input {format_shape(report.input_shape)}",
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column("layer", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("output", no_wrap=True, justify="right")
    table.add_column("RF size", justify="right", no_wrap=True)
    table.add_column("stride", justify="right", no_wrap=True)
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("note")
    for row in rows:
        kind = f"{row.type} {row.describe}".strip()
        field = row.receptive_field
        if field is None:
            cells = ["", "", "", row.rf_note.split(";")[0]]  # the full reason is in the diagnostic
        else:
            data = field.to_json()
            cells = [
                _fmt(data["size"]),
                _fmt(data["stride"]),
                _fmt(data["offset"]),
                "the whole input" if field.whole else "",
            ]
        table.add_row(row.name, kind, format_shape(row.output_shape), *cells)
    console.print(table)


def _unit_text(window: Any, row: Any) -> str:
    from archcalc.shapes import format_shape

    rank = len(window.input_shape) - 1
    words = _AXIS_WORDS.get(rank, tuple(f"axis {i}" for i in range(rank)))
    where = f"({', '.join(map(str, window.unit))})"
    lines = [
        f"unit {where} of {row.name} (output {format_shape(row.output_shape)}) sees input "
        f"{format_shape(window.input_shape)}:"
    ]
    for word, span, (before, after), inside in zip(
        words, window.window, window.padding, window.inside
    ):
        if span is None:
            lines.append(f"  {word}: nothing (this unit depends on no input {word})")
            continue
        pad = (
            "none of it padding"
            if not before and not after
            else f"{before} in padding before, {after} after"
        )
        real = f"real {word} {inside[0]}–{inside[1]}" if inside else f"no real {word}"
        lines.append(
            f"  {word}: [{span[0]}, {span[1]}], {span[1] - span[0] + 1} wide; {pad}; {real}"
        )
    return "\n".join(lines) + "\n"
