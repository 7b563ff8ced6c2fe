"""`archcalc rf`: receptive field, effective stride and offset per layer, and which input pixels
one unit sees."""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    complete_layer,
    complete_spec,
    depth_option,
    echo_diagnostics,
    guarded,
    load_and_analyze,
    parse_depth,
    spec_options,
)
from archcalc.cli.output import Output, OutputSettings, output_options

_AXIS_WORDS = {1: ("samples",), 2: ("rows", "columns"), 3: ("slices", "rows", "columns")}


@click.command("rf")
@click.argument("spec", shell_complete=complete_spec)
@spec_options
@output_options
@depth_option
@click.option(
    "--layer", "-l", metavar="NAME", help="Only this layer.", shell_complete=complete_layer
)
@click.option(
    "--unit",
    "-u",
    metavar="I,J",
    help="Which input pixels does unit (i, j) of --layer see? One index per spatial axis, "
    "counted from 0.",
)
@guarded
def rf(
    spec: str,
    input_shape: str | None,
    strict: bool | None,
    out: OutputSettings,
    depth: str | None,
    layer: str | None,
    unit: str | None,
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
    levels = parse_depth(depth)
    report, sources, result, _ = load_and_analyze(spec, input_shape, strict=strict)
    graph = result.graph
    echo_diagnostics(report.diagnostics, sources)
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
            click.echo(
                f"archcalc: error: the output shape of {row.name} is unknown (see the errors "
                "above), so its units cannot be located",
                err=True,
            )
            sys.exit(EXIT_ERRORS)
        index = _parse_unit(unit, row.name, row.output_shape)
        window = unit_window(result.graph, result.layers, row.name, index)

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
    output = _table(report, graph, rows, levels if layer is None else None, out)
    output.json = data
    if window is not None:
        output.after += ["", _unit_text(window, rows[0]).rstrip("\n")]
    out.emit(output)
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


def _table(
    report: Any, graph: Any, rows: list[Any], levels: int | str | None, out: OutputSettings
) -> Output:
    """Size, stride and offset per layer, or per block below --depth (its last layer's field)."""
    from archcalc.render.output import Column, terminal_height
    from archcalc.render.table import depth_for, fold
    from archcalc.shapes import format_shape

    named = [(r.name, f"{r.type} {r.describe}".strip(), r) for r in rows]
    if levels == "auto":
        height = terminal_height() if out.fmt == "table" and not out.wide else None
        levels = depth_for(graph, report, height - 6 if height else None)
    if isinstance(levels, int):
        named = []
        for part in fold(graph, report, levels):
            inside = list(part.rows())
            kind = part.label if part.row is None else f"{part.label} {part.row.describe}".strip()
            named.append((part.name, kind, inside[-1]))
    table = []
    for name, kind, row in named:
        field = row.receptive_field
        data = field.to_json() if field is not None else {}
        table.append(
            {
                "name": name,
                "type": kind,
                "output": format_shape(row.output_shape),
                "size": _fmt(data["size"]) if field else "",
                "stride": _fmt(data["stride"]) if field else "",
                "offset": _fmt(data["offset"]) if field else "",
                # the full reason of an undefined field is in the diagnostic
                "note": _exact_note(field) if field else row.rf_note.split(";")[0],
            }
        )
    columns = [
        Column("name", "layer", shorten="left", least=12),
        Column("type", "type", shorten="right", least=8, drop=2),
        Column("output", "output", right=True, drop=3),
        Column("size", "RF size", right=True),
        Column("stride", "stride", right=True),
        Column("offset", "offset", right=True),
        Column("note", "note", shorten="right", drop=1),
    ]
    return Output(
        f"{report.name} — receptive fields, input {format_shape(report.input_shape)}",
        columns,
        table,
    )


def _exact_note(field: Any) -> str:
    """Where a unit reads less than its envelope: which part of it, and whether with holes."""
    words = _AXIS_WORDS.get(len(field.size), ())
    holes = ", with holes" if any(field.holes) else ""
    spans = field.span
    if any(s is None for s in spans):
        return "reads no input pixel (only padding)"
    short = [
        f"{w} {s[0]}–{s[1]}" for w, s, n in zip(words, spans, field.size) if s != (0, int(n) - 1)
    ]
    if field.whole:
        where = f"; reads {', '.join(short)} only" if short else ""
        return f"the whole input{where}{holes}"
    if short:
        return f"reads {', '.join(short)} of it{holes}"
    return "reads it with holes" if holes else ""


def _unit_text(window: Any, row: Any) -> str:
    from archcalc.shapes import format_shape

    rank = len(window.input_shape) - 1
    words = _AXIS_WORDS.get(rank, tuple(f"axis {i}" for i in range(rank)))
    where = f"({', '.join(map(str, window.unit))})"
    lines = [
        f"unit {where} of {row.name} (output {format_shape(row.output_shape)}) sees input "
        f"{format_shape(window.input_shape)}:"
    ]
    for word, span, (before, after), inside, reads in zip(
        words, window.window, window.padding, window.inside, window.reads
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
        skipped = [i for i in range(inside[0], inside[1] + 1) if i not in reads] if inside else []
        if skipped:
            listed = ", ".join(map(str, skipped[:8])) + (", ..." if len(skipped) > 8 else "")
            real += f" except {len(skipped)} skipped ({listed})"
        lines.append(
            f"  {word}: [{span[0]}, {span[1]}], {span[1] - span[0] + 1} wide; {pad}; {real}"
        )
    return "\n".join(lines) + "\n"
