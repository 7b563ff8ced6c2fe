"""`archcalc export`: a spec as PyTorch code (and weights) or as an ONNX model."""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    echo_diagnostics,
    guarded,
    input_shape_option,
)


@click.command()
@click.argument("spec")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(["pytorch", "onnx"]),
    help="pytorch: an nn.Module's source; onnx: a model onnxruntime and Netron open.",
)
@click.option(
    "--output",
    "-o",
    default=None,
    metavar="FILE",
    help="Where to write it (PyTorch: default stdout).",
)
@click.option(
    "--weights",
    "-w",
    default=None,
    metavar="FILE.pt",
    help="With --to pytorch: also write the weights as a state dict (torch.load → load_state_dict).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the random weights, where the spec (or imported model) gives none.",
)
@input_shape_option("Override the spec's input shape, e.g. 224x224x3.")
@guarded
def export(
    spec: str,
    target: str,
    output: str,
    weights: str | None,
    seed: int,
    input_shape: str | None,
) -> None:
    """Write SPEC as PyTorch code or as an ONNX model.

    The PyTorch module takes channels-first input; the spec's blocks are classes, repeats
    named 0, 1, 2, ... nn.Sequential, so the state dict's keys are the spec's layer names. Its
    weights (--weights, needs PyTorch) are the NumPy backend's: an imported model's own, a
    spec's inline kernels, else seeded random ones. The ONNX model (opset 18, channels first,
    one node per layer named as the spec names it) carries the same weights; writing it needs
    only the onnx package.

    \b
    Examples:
      archcalc export resnet18 --to pytorch -o resnet18.py --weights resnet18.pt
      archcalc export my_net.yaml --to onnx -o my_net.onnx
      archcalc export model.onnx --to pytorch -o model.py --weights model.pt
    """
    from archcalc.analysis import analyze
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.diagnostics import Diagnostics, UsageError
    from archcalc.interop import torch_export as tx
    from archcalc.safeio import check_output, write_output
    from archcalc.shapes import parse_shape
    from archcalc.spec import load

    for out in (output, weights):  # before any work: a refused output costs nothing
        if out is not None:
            check_output(out, [spec])
    if target == "onnx":
        _need("onnx", "writing an ONNX model needs onnx", "archcalc[onnx]")
    elif weights is not None:
        _need("torch", "writing the weights needs PyTorch", "archcalc[torch]")
    given = parse_shape(input_shape) if input_shape is not None else None
    loaded = load(spec, input_shape=given)
    graph = loaded.graph
    if given is not None:
        graph.input_shape = given
    report = analyze(graph, diagnostics=loaded.diagnostics)
    if report.has_errors:
        echo_diagnostics(report.diagnostics, {graph.file: loaded.text})
        click.echo("export: the spec has errors; nothing was written", err=True)
        sys.exit(EXIT_ERRORS)
    layers = infer_shapes(graph, Diagnostics(), report.strict)
    if output is None and (target == "onnx" or weights is not None):
        raise UsageError(
            "give the file to write with -o", f"e.g. -o net.{'onnx' if target == 'onnx' else 'py'}"
        )
    if target == "onnx" and weights is not None:
        raise UsageError("--weights goes with --to pytorch; an ONNX model carries its weights")
    code = tx.torch_code(graph, layers, spec) if target == "pytorch" else None
    source = code.source if code is not None else ""
    if target == "pytorch" and weights is None:
        if output is None:
            click.echo(source, nl=False)
            sys.exit(EXIT_OK)
        write_output(output, source.encode(), [spec])
        click.echo(f"wrote {output}", err=True)
        sys.exit(EXIT_OK)

    from archcalc.backend import executor as ex

    params = ex.init_params(graph, layers, seed, given=graph.weights)
    arrays = tx.torch_arrays(graph, layers, params)
    del params  # a copy of every weight: the memory the writing needs
    if target == "onnx":
        assert output is not None
        write_output(output, _onnx_bytes(graph, layers, arrays, spec), [spec])
        click.echo(f"wrote {output}", err=True)
        sys.exit(EXIT_OK)
    import io

    import numpy as np
    import torch

    buffer = io.BytesIO()
    assert code is not None
    state = tx.state_dict(graph, code, arrays)
    # (an imported model's arrays are read-only views of its file: torch wants its own)
    torch.save(
        {k: torch.from_numpy(np.require(v, requirements="W")) for k, v in state.items()}, buffer
    )
    assert output is not None and weights is not None
    write_output(output, source.encode(), [spec])
    write_output(weights, buffer.getvalue(), [spec])
    click.echo(f"wrote {output} and {weights}", err=True)
    sys.exit(EXIT_OK)


def _need(module: str, why: str, extra: str) -> None:
    import importlib

    from archcalc.diagnostics import UsageError

    try:
        importlib.import_module(module)
    except ImportError:
        raise UsageError(why, f"pip install '{extra}'") from None


def _onnx_bytes(graph: Any, layers: Any, arrays: Any, spec: str) -> bytes:
    from archcalc.interop.onnx_export import onnx_model

    model = onnx_model(graph, layers, arrays, f"archcalc export {spec} --to onnx")
    data: bytes = model.SerializeToString()
    return data
