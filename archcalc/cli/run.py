"""`archcalc run`: execute a net, or one of its layers, on given numbers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import click

from archcalc.cli.common import (
    EXIT_ERRORS,
    EXIT_OK,
    complete_layer,
    complete_spec,
    echo_diagnostics,
    guarded,
)
from archcalc.cli.verify import memory_option

MAX_PRINTED = 400  # larger outputs are summarised; save them with -o


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option(
    "--input",
    "-i",
    "input_data",
    required=True,
    metavar="FILE|LIST",
    help="The numbers: a .npy array, a .csv/.txt matrix, or an inline YAML/JSON list such as "
    "'[[1, 2], [3, 4]]'. A 2-D matrix is one HxW single-channel image.",
)
@click.option(
    "--weights",
    "-w",
    metavar="FILE.npz",
    default=None,
    help="Arrays keyed 'layer.kernel', 'layer.bias', ... (channels-last layout).",
)
@click.option(
    "--layer",
    "-l",
    default=None,
    help="Run only this layer on the input.",
    shell_complete=complete_layer,
)
@click.option(
    "--random-weights",
    is_flag=True,
    help="Fill arrays that are neither in --weights nor in the spec with seeded random values.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed for --random-weights (0 or more).",
)
@click.option(
    "--dtype",
    default="float32",
    show_default=True,
    type=click.Choice(["float32", "float64"]),
    help="Arithmetic precision.",
)
@click.option(
    "--layout",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "nhwc", "nchw"]),
    help="How --input and the result lay out a feature map: channels last (H x W x C) or "
    "first (C x H x W). auto: the model's own, NCHW for an ONNX model from PyTorch, channels "
    "last for specs and Keras models.",
)
@click.option(
    "--output",
    "-o",
    default=None,
    metavar="FILE",
    help="Save the result: .npy, .npz (as the array 'output'), or .csv/.txt for a matrix. "
    "Never over the spec or an input.",
)
@memory_option
@guarded
def run(
    spec: str,
    input_data: str,
    weights: str | None,
    layer: str | None,
    random_weights: bool,
    seed: int,
    dtype: str,
    layout: str,
    output: str | None,
    max_memory: str | None,
) -> None:
    """Run SPEC (or one layer of it) on given numbers and print or save the result.

    Weights come from --weights FILE.npz, or inline in the spec (a conv's 'weights:' matrix,
    with 'scale:' and 'flip:'), or --random-weights. Convolution is cross-correlation, as
    frameworks compute it; 'flip: true' on a conv gives true convolution. Arrays are channels
    last (H x W x C), except for an ONNX model exported from PyTorch, which takes and gives
    C x H x W as PyTorch does (--layout).

    \b
    Examples:
      archcalc run box.yaml --input image.csv
      archcalc run pool.yaml --input '[[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]]'
      archcalc run alexnet --layer conv1 --input x.npy --weights alexnet.npz -o y.npy
      archcalc run mobilenet.onnx --input image.npy -o y.npy
    """
    import numpy as np

    from archcalc.backend import executor as ex
    from archcalc.backend import memory as mem
    from archcalc.graph import INPUT, Graph
    from archcalc.safeio import check_output, write_output
    from archcalc.spec import load

    limit, source = (
        (mem.parse_bytes(max_memory), "--max-memory")
        if max_memory is not None
        else mem.default_limit()
    )
    inputs = [spec, input_data, weights]
    if output is not None:  # before any work: a refused output costs nothing
        _output_format(output)
        check_output(output, inputs)
    loaded = load(spec)
    graph = loaded.graph
    sources = {graph.file: loaded.text}
    inputs.append(graph.file)
    first = layout == "nchw" or (layout == "auto" and graph.channels_first)
    if layer is not None:
        graph = _single_layer(graph, layer, Graph, INPUT)
    np_dtype = ex.DTYPES[dtype]
    itemsize = np.dtype(np_dtype).itemsize
    numbers = _read_numbers(input_data, itemsize, (limit, source))
    numbers = _to_channels_last(numbers, graph.input_shape, first, layout, input_data)
    x, squeeze = _as_batch(numbers, graph.input_shape, np_dtype)
    graph.input_shape = tuple(int(v) for v in x.shape[1:])

    from archcalc.analysis import analyze_graph

    analysed = analyze_graph(graph, batch=x.shape[0], diagnostics=loaded.diagnostics)
    report, layers = analysed.report, analysed.layers
    if report.has_errors:
        echo_diagnostics(report.diagnostics, sources)
        click.echo("run: the net does not fit this input; nothing was run", err=True)
        sys.exit(EXIT_ERRORS)

    given: dict[str, Any] = dict(graph.weights)  # an imported model's own weights
    if weights is not None:
        from archcalc.backend.arrayio import load_npz

        given.update(_single_layer_keys(load_npz(weights, (limit, source)), graph))
    estimate = mem.estimate_memory(
        graph, layers, report.totals.peak_activation_bytes, x.shape[0], itemsize
    )
    mem.guard_memory(
        estimate,
        limit,
        source,
        f"running {graph.name or 'the net'}",
        "give a smaller --input (fewer samples, or half the height and width), run one "
        "--layer, or raise --max-memory if you know the memory is there",
    )
    params = ex.init_params(graph, layers, seed, np_dtype, given, random_missing=random_weights)
    y = ex.execute(graph, layers, params, x).output

    if first and y.ndim > 2:  # back to the layout the input came in
        y = np.moveaxis(y, -1, 1)
    result = y[0] if squeeze else y
    if squeeze == "matrix" and result.ndim == 3 and result.shape[-1] == 1:
        result = result[..., 0]
    click.echo(
        f"{graph.name or spec}{f' layer {layer}' if layer else ''}: output "
        f"{'x'.join(map(str, result.shape))}",
        err=True,
    )
    if output is not None:
        write_output(output, _output_format(output)(result), inputs)
        click.echo(f"saved to {output}", err=True)
    elif result.size > MAX_PRINTED:
        click.echo(
            f"({result.size:,} values: too many to print; save them with -o FILE.npy)", err=True
        )
    else:
        click.echo(_format(result))
    sys.exit(EXIT_OK)


def _single_layer(graph: Any, name: str, graph_cls: Any, input_name: str) -> Any:
    from dataclasses import replace

    from archcalc.diagnostics import UsageError, did_you_mean

    names = [n.name for n in graph.nodes]
    if name not in names:
        raise UsageError(
            f"{graph.name or 'the spec'} has no layer '{name}'",
            did_you_mean(name, names) or f"its layers are: {', '.join(names[:20])}",
        )
    node = graph.node(name)
    if len(node.inputs) != 1:
        raise UsageError(
            f"layer '{name}' joins {len(node.inputs)} inputs; --layer runs single-input layers"
        )
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.diagnostics import Diagnostics

    # The layer's own input shape, as the whole net feeds it (its rank decides how the data is
    # read: a feature map, or a flat vector for a dense layer after a flatten).
    layer = infer_shapes(graph, Diagnostics(), graph.strict).get(name)
    shape = layer.inputs[0] if layer is not None else graph.input_shape
    one = replace(node, inputs=[input_name])
    weights = {k: v for k, v in graph.weights.items() if k.startswith(f"{name}.")}
    return graph_cls(
        graph.name, shape, [one], graph.file, graph.source, strict=graph.strict, weights=weights
    )


def _read_numbers(text: str, itemsize: int, memory: tuple[int, str]) -> Any:
    """--input: a .npy file (its header checked before loading), a text matrix, or inline
    numbers. ``itemsize``: bytes per value in the run, for the size checks."""
    import numpy as np

    from archcalc.backend import arrayio
    from archcalc.diagnostics import UsageError

    path = Path(text)
    suffix = path.suffix.lower()
    try:
        is_file = not text.lstrip().startswith(("[", "{")) and path.is_file()
    except (OSError, ValueError):  # too long for a file name: inline numbers
        is_file = False
    if suffix in (".npy", ".csv", ".txt", ".npz", ".tsv") or is_file:
        if not path.is_file():
            raise UsageError(f"no such input file: '{text}'")
        if suffix == ".npz":
            raise UsageError(
                f"'{text}' is an archive of several arrays; --input takes one array",
                "save the input with numpy.save as a .npy file",
            )
        if suffix == ".npy":
            return arrayio.load_npy(path, text, itemsize, memory)
        # a value takes at least two characters of text ("1,") and itemsize bytes loaded
        arrayio.check_size(text, path.stat().st_size // 2 * itemsize, "as numbers", memory)
        try:
            content = path.read_text(encoding="utf-8")
            delimiter = "," if "," in content else None
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, comments="#", dtype=np.float64)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            raise UsageError(
                f"cannot read numbers from '{text}': {err}",
                "give a .npy array or a .csv/.txt matrix (one row per line)",
            ) from None
    import yaml

    try:
        data = yaml.safe_load(text)
        array = np.asarray(data, dtype=np.float64)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        array = None
    if array is None or array.ndim == 0 or array.dtype == object:
        raise UsageError(
            f"'{text[:40]}' is neither a readable file nor a list of numbers",
            "give a .npy/.csv/.txt file, or a matrix such as '[[1, 2], [3, 4]]'",
        )
    return array


def _to_channels_last(
    array: Any, spec_shape: tuple[int, ...], first: bool, layout: str, shown: str
) -> Any:
    """A channels-first sample (C, H, W) or batch (N, C, H, W) moved to channels-last; an
    array whose shape fits only the other layout is refused with what to give instead."""
    from archcalc.diagnostics import UsageError

    rank = len(spec_shape)
    if rank < 2 or array.ndim not in (rank, rank + 1):
        return array  # a vector, or a course matrix: no channel axis to move
    last = tuple(spec_shape)
    chw = (spec_shape[-1], *spec_shape[:-1])
    sample = tuple(array.shape[-rank:])
    fits_first, fits_last = sample == chw, sample == last
    if first and fits_last and not fits_first:
        advice = "--layout nhwc" if layout == "auto" else "--layout nhwc, or transpose it"
        raise UsageError(
            f"'{shown[:40]}' is {'x'.join(map(str, array.shape))}: channels last, but the "
            f"model takes channels first ({'x'.join(map(str, chw))}, as PyTorch does)",
            f"to give channels-last numbers, add {advice}",
        )
    if not first and fits_first and not fits_last:
        raise UsageError(
            f"'{shown[:40]}' is {'x'.join(map(str, array.shape))}: channels first, but the "
            f"net takes channels last ({'x'.join(map(str, last))})",
            "to give channels-first numbers (PyTorch's layout), add --layout nchw",
        )
    if first and fits_first:
        import numpy as np

        return np.moveaxis(array, -rank, -1)
    return array


def _as_batch(array: Any, spec_shape: tuple[int, ...], dtype: Any) -> tuple[Any, str]:
    """The numbers as a batch (N, *spatial, C), and how to undo the added axes on output."""
    from archcalc.diagnostics import UsageError

    rank = len(spec_shape)
    if array.ndim == 2 and rank == 3:  # the course's matrices: one single-channel image
        if spec_shape[-1] != 1:
            raise UsageError(
                f"a {array.shape[0]}x{array.shape[1]} matrix is one single-channel image, but the "
                f"net takes {spec_shape[-1]} channels",
                "give a .npy array of shape HxWxC",
            )
        return array[None, :, :, None].astype(dtype), "matrix"
    if array.ndim == rank:
        return array[None].astype(dtype), "sample"
    if array.ndim == rank + 1:
        return array.astype(dtype), ""
    raise UsageError(
        f"the input is {array.ndim}-D ({'x'.join(map(str, array.shape))}) but the net takes "
        f"{'x'.join(map(str, spec_shape))} samples",
        "give one sample (HxWxC), a batch (NxHxWxC), or a 2-D matrix for a single-channel net",
    )


def _single_layer_keys(arrays: dict[str, Any], graph: Any) -> dict[str, Any]:
    if len(graph.nodes) == 1:  # one layer: bare names ('kernel') are fine too
        name = graph.nodes[0].name
        arrays = {(k if "." in k else f"{name}.{k}"): v for k, v in arrays.items()}
    return arrays


def _output_format(path: str) -> Callable[[Any], Callable[[BinaryIO], None]]:
    """How -o saves, by suffix: a function of the result that writes it to a binary file
    (file objects keep numpy from adding a suffix of its own to the name)."""
    import numpy as np

    from archcalc.diagnostics import UsageError

    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".txt"):

        def text(result: Any) -> Callable[[BinaryIO], None]:
            if result.ndim > 2:
                raise UsageError(
                    f"a {result.ndim}-D result does not fit a {suffix} matrix", "save it as .npy"
                )
            return lambda fh: np.savetxt(fh, np.atleast_2d(result), fmt="%.8g", delimiter=",")

        return text
    if suffix == ".npy":
        return lambda result: lambda fh: np.save(fh, result)
    if suffix == ".npz":
        return lambda result: lambda fh: np.savez(fh, output=result)
    raise UsageError(
        f"cannot tell how to save '{path}' from its name",
        "end the name in .npy (the array), .npz (the array as 'output'), or .csv/.txt (a matrix)",
    )


def _format(result: Any) -> str:
    """Small results as aligned matrices: one per channel for feature maps."""
    import numpy as np

    def matrix(m: Any) -> str:
        m = np.atleast_2d(m)
        cells = [[f"{float(v):.6g}" for v in row] for row in m]
        width = max(len(c) for row in cells for c in row)
        return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)

    if result.ndim <= 2:
        return matrix(result)
    if result.ndim == 3 and result.shape[-1] == 1:
        return matrix(result[..., 0])
    if result.ndim == 3:
        return "\n\n".join(
            f"channel {c}:\n{matrix(result[..., c])}" for c in range(result.shape[-1])
        )
    return "\n\n".join(f"sample {i}:\n{_format(r)}" for i, r in enumerate(result))
