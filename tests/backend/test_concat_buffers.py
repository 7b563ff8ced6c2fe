"""Concat chains grown in one buffer (executor.concat_chains) against torch's copying cat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.backend import kernels as K
from archcalc.diagnostics import Diagnostics
from archcalc.spec import load
from tests.oracles import require

# Two DenseNet-style blocks (a concat's first input is the previous concat), a transition
# between them; odd sizes; `early` is read again after later concats have grown the buffer.
DENSE = """
input: 9x7x5
layers:
  - conv: {name: stem, filters: 6, kernel: 3, pad: 1}
  - conv: {name: a1, filters: 3, kernel: 3, pad: 1, inputs: [stem]}
  - concat: {name: early, inputs: [stem, a1]}
  - relu: {name: r2, inputs: [early]}
  - conv: {name: a2, filters: 2, kernel: 1}
  - concat: {name: c2, inputs: [early, a2]}
  - conv: {name: a3, filters: 4, kernel: 3, pad: 1, inputs: [c2]}
  - concat: {name: c3, inputs: [c2, a3, stem]}
  - conv: {name: late, filters: 3, kernel: 1, inputs: [early]}
  - concat: {name: c4, inputs: [c3, late]}
  - avgpool: {name: t, kernel: 2, stride: 2}
  - conv: {name: b1, filters: 2, kernel: 3, pad: 1, inputs: [t]}
  - concat: {name: d1, inputs: [t, b1]}
  - batchnorm: {name: bn, inputs: [d1]}
  - conv: {name: b2, filters: 2, kernel: 3, pad: 1}
  - concat: {name: d2, inputs: [d1, b2]}
"""

# `root` is the first input of two concats: only the first grows its buffer, the second
# must copy (else it would overwrite the first's new channels).
FORK = """
input: 6x6x3
layers:
  - conv: {name: x1, filters: 2, kernel: 1}
  - concat: {name: root, inputs: [input, x1]}
  - conv: {name: y1, filters: 4, kernel: 3, pad: 1, inputs: [root]}
  - concat: {name: left, inputs: [root, y1]}
  - conv: {name: y2, filters: 1, kernel: 1, inputs: [root]}
  - concat: {name: right, inputs: [root, y2]}
  - concat: {name: left2, inputs: [left, right]}
  - concat: {name: both, inputs: [left2, root, right]}
"""


def _run_both(text: str, batch: int) -> tuple[ex.Execution, np.ndarray, Any]:
    """The executor's run (every activation kept), and torch's output for the same batch."""
    torch = require("torch")
    from tests.torch_graph import TorchNet, from_nchw, to_nchw

    graph = load("t.yaml", text=text).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed=3)
    x = np.random.default_rng(batch).standard_normal((batch, *graph.input_shape))
    x = x.astype(np.float32)
    run = ex.execute(graph, layers, params, x, keep={n.name for n in graph.nodes})
    with torch.no_grad():
        theirs = from_nchw(TorchNet(graph, layers, params)(to_nchw(x)))
    return run, theirs, graph


@pytest.mark.parametrize("text", [DENSE, FORK], ids=["dense", "fork"])
@pytest.mark.parametrize("batch", [1, 3])
def test_concat_chains_match_torch(text: str, batch: int) -> None:
    run, theirs, graph = _run_both(text, batch)
    np.testing.assert_allclose(run.output, theirs, rtol=1e-5, atol=1e-5)
    # At the end of the run every concat's array (a view of a buffer that later concats
    # grew) still holds exactly its inputs: nothing wrote over channels once written.
    kept = run.kept
    concats = [n for n in graph.nodes if n.op.name == "concat" and "input" not in n.inputs]
    assert len(concats) >= 4
    for node in concats:
        expected = np.concatenate([kept[src] for src in node.inputs], axis=-1)
        np.testing.assert_array_equal(kept[node.name], expected, err_msg=node.name)


def test_chains_found_and_buffers_shared() -> None:
    graph = load("t.yaml", text=DENSE).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    chains = ex.concat_chains(graph, layers)
    # early -> c2 -> c3 -> c4 grow one 6+3+2+4+6+3 = 24-channel buffer; d1 -> d2 another.
    assert chains == {
        "early": ("early", 24),
        "c2": ("early", 24),
        "c3": ("early", 24),
        "c4": ("early", 24),
        "d1": ("d1", 28),
        "d2": ("d1", 28),
    }
    run, _, _ = _run_both(DENSE, 2)
    kept = run.kept
    assert np.shares_memory(kept["early"], kept["c4"])
    assert kept["c4"].shape[-1] == 24 and kept["early"].shape[-1] == 9
    assert not np.shares_memory(kept["c4"], kept["d1"])
    fork = load("t.yaml", text=FORK).graph
    fork_chains = ex.concat_chains(fork, infer_shapes(fork, Diagnostics(), False))
    # root (5) -> left (9) -> left2 (15) -> both (26); right copies root into its own array.
    assert fork_chains == {name: ("root", 26) for name in ("root", "left", "left2", "both")}


def test_concat_into_out_skips_an_input_already_in_place() -> None:
    rng = np.random.default_rng(0)
    buf = np.full((2, 3, 3, 7), np.nan, np.float32)
    a = rng.standard_normal((2, 3, 3, 4)).astype(np.float32)
    buf[..., :4] = a
    b = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    y = K.concat([buf[..., :4], b], out=buf)
    assert y is buf
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=-1))
    # An input that is not in place is copied, even when it lies in the same buffer.
    z = K.concat([buf[..., 3:7], buf[..., :3]], out=np.empty((2, 3, 3, 7), np.float32))
    np.testing.assert_array_equal(z, np.concatenate([buf[..., 3:], buf[..., :3]], axis=-1))
    with pytest.raises(ValueError, match="concat of 7 channels"):
        K.concat([a, b], out=np.empty((2, 3, 3, 8), np.float32))
