"""`archcalc conv` and `archcalc pool`: one-layer calculators with the worked arithmetic."""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    course_mode,
    format_option,
    guarded,
)

_THEN = click.option(
    "--then",
    "then",
    multiple=True,
    metavar="LAYER",
    help="A further layer, in the spec language: --then relu --then 'maxpool: {kernel: 2}'. "
    "Repeat for a chain.",
)
_STRICT = click.option(
    "--strict", is_flag=True, help="A window that doesn't fit exactly is an error (exit 1)."
)
_COURSE = click.option(
    "--course", is_flag=True, help="Homework mode: --strict, and student traps are errors."
)


def _window_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--kernel",
                "-k",
                default=None,
                metavar="F",
                help="Window size F (or HxW); required unless INPUT is an inline spec.",
            ),
            click.option(
                "--stride",
                "-s",
                default=None,
                metavar="S",
                help="Stride S (default 1 for conv, F for pooling).",
            ),
            click.option(
                "--pad", "-p", default=None, metavar="P", help="Zero padding P per side, or 'same'."
            ),
        ]
    ):
        func = option(func)
    return func


@click.command(short_help="One conv layer: output volume, params, MACs, RF, the arithmetic.")
@click.argument("input_shape", metavar="INPUT")
@click.option(
    "--filters",
    "-n",
    default=None,
    type=click.IntRange(min=1),
    help="Number of filters K; required unless INPUT is an inline spec.",
)
@_window_options
@click.option("--dilation", "-d", default=None, metavar="D", help="Dilation D.")
@click.option(
    "--groups",
    "-g",
    default=None,
    type=click.IntRange(min=1),
    help="Groups (input channels = depthwise).",
)
@click.option("--no-bias", is_flag=True, help="Filters without a bias.")
@click.option("--transpose", is_flag=True, help="A transposed convolution.")
@_THEN
@format_option("text", "json")
@_STRICT
@_COURSE
@guarded
def conv(
    input_shape: str,
    filters: int | None,
    kernel: str | None,
    stride: str | None,
    pad: str | None,
    dilation: str | None,
    groups: int | None,
    no_bias: bool,
    transpose: bool,
    then: tuple[str, ...],
    fmt: str,
    strict: bool,
    course: bool,
) -> None:
    """One convolution layer on INPUT (H x W x C, e.g. 32x32x3; or an inline spec): output
    volume, parameters, MACs, receptive field and the arithmetic in the course's notation.

    A filter that doesn't fit prints (N + 2P − F)/S + 1 as a fraction and the nearest padding,
    stride or input size that fits. Exit status 1 when the layer has errors (with --strict or
    --course: when a filter doesn't fit).

    \b
    Examples:
      archcalc conv 32x32x3 --filters 10 --kernel 5 --stride 1 --pad 2
      archcalc conv 7x7x1 -n 1 -k 3 -s 3
      archcalc conv 227x227x3 -n 96 -k 11 -s 4 --then relu --then 'maxpool: {kernel: 3, stride: 2}'
    """
    attrs = {
        "filters": filters,
        "kernel": _window(kernel),
        "stride": _window(stride),
        "padding": _padding(pad),
        "dilation": _window(dilation),
        "groups": groups,
        "bias": False if no_bias else None,
    }
    if transpose and dilation is not None:
        from archcalc.diagnostics import UsageError

        raise UsageError("--dilation is not supported with --transpose")
    _calculate(
        input_shape, {"conv_transpose" if transpose else "conv": attrs}, then, fmt, strict, course
    )


@click.command(short_help="One pooling layer: output volume, RF and the arithmetic.")
@click.argument("input_shape", metavar="INPUT")
@_window_options
@click.option("--avg", is_flag=True, help="Average pooling (default: max pooling).")
@click.option("--ceil-mode", is_flag=True, help="Round the output size up, as PyTorch's ceil_mode.")
@_THEN
@format_option("text", "json")
@_STRICT
@_COURSE
@guarded
def pool(
    input_shape: str,
    kernel: str | None,
    stride: str | None,
    pad: str | None,
    avg: bool,
    ceil_mode: bool,
    then: tuple[str, ...],
    fmt: str,
    strict: bool,
    course: bool,
) -> None:
    """One pooling layer on INPUT (H x W x C, e.g. 4x4x1): output volume, the arithmetic,
    and whether the window fits (pooling has no parameters).

    \b
    Examples:
      archcalc pool 4x4x1 --kernel 2 --stride 2
      archcalc pool 55x55x96 -k 3 -s 2 --avg
    """
    attrs = {
        "kernel": _window(kernel),
        "stride": _window(stride),
        "padding": _padding(pad),
        "ceil_mode": True if ceil_mode else None,
    }
    _calculate(input_shape, {"avgpool" if avg else "maxpool": attrs}, then, fmt, strict, course)


def _window(text: str | None) -> int | list[int] | None:
    if text is None:
        return None
    from archcalc.diagnostics import UsageError
    from archcalc.shapes import parse_shape

    try:
        parts = parse_shape(text)
    except UsageError:
        raise UsageError(f"expected a size such as 3 or 3x5, got '{text}'") from None
    return parts[0] if len(parts) == 1 else list(parts)


def _padding(text: str | None) -> int | str | list[int] | None:
    if text is not None and text.strip().lower() in ("same", "valid"):
        return text.strip().lower()
    return _window(text)


def _calculate(
    shape: str, first: dict[str, Any], then: tuple[str, ...], fmt: str, strict: bool, course: bool
) -> None:
    from archcalc.analysis import analyze
    from archcalc.cli.common import echo_diagnostics
    from archcalc.diagnostics import SpecError
    from archcalc.homework.calc import COMMAND_LINE, calculator_text, is_inline_spec, spec_text
    from archcalc.spec import load

    course = course or course_mode()
    if not is_inline_spec(shape):
        [(op, attrs)] = first.items()
        missing = [f"--{k}" for k in ("filters", "kernel") if k in attrs and attrs[k] is None]
        if missing:
            from archcalc.diagnostics import UsageError

            raise UsageError(
                f"{op} needs {' and '.join(missing)}",
                "for example: archcalc conv 32x32x3 --filters 10 --kernel 5",
            )
    text = spec_text(shape, None if is_inline_spec(shape) else first, then)
    try:
        loaded = load(COMMAND_LINE, text)
    except SpecError as err:
        err.sources = {COMMAND_LINE: text}  # type: ignore[attr-defined]
        raise
    report = analyze(
        loaded.graph, strict=strict or course, diagnostics=loaded.diagnostics, explain=True
    )
    if course:
        from archcalc.api import promote_traps

        promote_traps(report.diagnostics)
    if fmt == "json":
        from archcalc.render import formats

        click.echo(formats.to_json(report, False))
        echo_diagnostics(report.diagnostics, {COMMAND_LINE: text}, quiet_info=True)
    else:
        click.echo(calculator_text(report), nl=False)
    sys.exit(EXIT_ERRORS if report.has_errors else EXIT_OK)
