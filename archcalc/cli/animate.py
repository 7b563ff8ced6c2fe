"""`archcalc animate`: a convolution's sliding window, step by step."""

from __future__ import annotations

import os

import click

from archcalc.cli.common import guarded
from archcalc.diagnostics import UsageError

SUFFIXES = (".svg", ".gif", ".png")


def _pair(value: str, what: str, low: int) -> tuple[int, int]:
    """'3' → (3, 3); '3x2' → (3, 2)."""
    parts = value.lower().replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or any(n < low for n in numbers):
        raise UsageError(
            f"{what} takes a whole number (at least {low}) or ROWSxCOLS, got '{value}'",
            f"e.g. {what} 3 or {what} 3x2",
        )
    return (numbers[0], numbers[-1])


@click.command()
@click.argument("kind", type=click.Choice(["conv", "maxpool", "avgpool", "pool", "transposed"]))
@click.argument("size", metavar="SIZE")
@click.option("--kernel", "-k", default="3", show_default=True, help="Window size: K or KHxKW.")
@click.option("--stride", "-s", default="1", show_default=True, help="Stride: S or SHxSW.")
@click.option(
    "--pad", "-p", default="0", show_default=True, help="Zero padding per side: P or PHxPW."
)
@click.option(
    "--dilation", default="1", show_default=True, help="Dilation (conv only): D or DHxDW."
)
@click.option("--ceil-mode", is_flag=True, help="Pooling rounds the output size up.")
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    help="An animated .svg, a .gif, or .png: one PNG per window position (FILE-001.png, ...).",
)
@guarded
def animate(
    kind: str,
    size: str,
    kernel: str,
    stride: str,
    pad: str,
    dilation: str,
    ceil_mode: bool,
    output: str,
) -> None:
    """Animate the sliding window of one layer over a SIZE input (e.g. 7x7), as the
    conv_arithmetic figures do, for any settings: padding shaded grey, dilation gaps between
    the taps, a transposed conv as the equivalent direct conv over the spread-out input, and —
    when the window does not fit — the input rows and columns no window ever covers in red.

    The output size and the uncovered rows are the analysis's figures (the same as
    `summarize` and its stride-fit diagnostic). At most 400 window positions on a grid of at
    most 64×64 cells. GIF and PNG need Pillow (the plot extra).

    \b
    Examples:
      archcalc animate conv 7x7 --kernel 3 --stride 2 --pad 1 -o conv.svg
      archcalc animate conv 7x7 --kernel 3 --stride 3 -o misfit.gif
      archcalc animate transposed 3x3 --kernel 3 --stride 2 -o up.svg
      archcalc animate conv 9x9 --kernel 3 --dilation 2 -o frames.png
    """
    from archcalc.render import animate as anim_mod
    from archcalc.safeio import check_output, write_output

    suffix = os.path.splitext(output)[1].lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"cannot tell the animation format from '{output}'",
            "end the file name with .svg, .gif or .png",
        )
    check_output(output)
    dims = _pair(size, "SIZE", 1)
    anim = anim_mod.build(
        kind,
        dims,
        _pair(kernel, "--kernel", 1),
        _pair(stride, "--stride", 1),
        _pair(pad, "--pad", 0),
        _pair(dilation, "--dilation", 1),
        ceil_mode,
    )
    if suffix == ".svg":
        write_output(output, anim_mod.to_svg(anim).encode("utf-8"))
        written = output
    elif suffix == ".gif":
        write_output(output, anim_mod.gif_bytes(anim))
        written = output
    else:
        stem = output[: -len(suffix)]
        for k, data in enumerate(anim_mod.png_frames(anim), start=1):
            write_output(f"{stem}-{k:03d}.png", data)
        written = f"{stem}-001.png … {stem}-{anim.frames:03d}.png"
    for d in anim.diagnostics:
        click.echo(f"{d.severity}: {d.message.removeprefix('layer: ')}", err=True)
    click.echo(
        f"wrote {written} ({anim.frames} window positions → {anim.out[0]}×{anim.out[1]} output)",
        err=True,
    )
