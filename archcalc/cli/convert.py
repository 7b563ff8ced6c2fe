"""`archcalc import`: a model file (ONNX, Keras) → a readable spec (and its weights)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archcalc.cli.common import EXIT_OK, guarded, input_shape_option


@click.command("import")
@click.argument("model")
@click.option(
    "--output",
    "-o",
    default=None,
    metavar="FILE.yaml",
    help="Write the spec here (default: stdout).",
)
@click.option(
    "--weights",
    "-w",
    default=None,
    metavar="FILE.npz",
    help="Also save the model's weights (channels-last), for `archcalc run SPEC --weights`.",
)
@input_shape_option("The input shape (H x W x C) for a model whose input sizes are dynamic.")
@click.option(
    "--flat",
    is_flag=True,
    help="One line per layer: do not fold repeated groups into blocks and repeats.",
)
@guarded
def import_model(
    model: str, output: str | None, weights: str | None, input_shape: str | None, flat: bool
) -> None:
    """Turn MODEL (an .onnx file, a Keras .keras archive or model JSON) into a spec.

    The spec keeps the model's layer names (its module paths: layer1.0.conv1), nests them as
    the model does, and writes groups that repeat with different sizes as one block under
    `blocks:` called with arguments and `repeat:`. The folded spec is checked against the
    model layer by layer before it is written; `archcalc summarize` of it gives the model's
    own figures. Every command also reads MODEL directly wherever it takes a SPEC.

    \b
    Examples:
      archcalc import model.onnx -o model.yaml --weights model.npz
      archcalc import model.keras
    """
    from archcalc.diagnostics import Diagnostic, SpecError, UsageError
    from archcalc.interop import import_model as convert
    from archcalc.interop import is_model_file
    from archcalc.safeio import check_output, write_output
    from archcalc.shapes import parse_shape

    path = Path(model)
    if not path.is_file():
        raise UsageError(f"no such model file: '{model}'")
    if not is_model_file(path):
        raise SpecError(
            [
                Diagnostic(
                    "error",
                    "not-a-model",
                    f"'{model}' is not an ONNX or Keras model file",
                    None,
                    hint="give an .onnx file, a .keras archive or a Keras model's .json",
                )
            ]
        )
    shape = parse_shape(input_shape) if input_shape is not None else None
    for out in (output, weights):  # before any work: a refused output costs nothing
        if out is not None:
            check_output(out, [model])
    text, arrays, _ = convert(path, model, shape, fold=not flat)
    if weights is not None:
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_output(weights, buffer.getvalue(), [model])
        click.echo(f"saved {len(arrays)} arrays to {weights}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text.encode(), [model])
        click.echo(f"wrote {output}", err=True)
    sys.exit(EXIT_OK)
