"""Element-wise layers written over an input nothing else reads (Op.forward_inplace)."""

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

# r0 reads the caller's input; r1 is read by c2, s and r2 (only r2, its last reader, may
# overwrite it); rf reads flatten's view of s2.
NET = """
input: 6x5x3
layers:
  - relu: {name: r0}
  - conv: {name: c1, filters: 4, kernel: 3, pad: 1}
  - batchnorm: {name: b1}
  - relu: {name: r1}
  - conv: {name: c2, filters: 4, kernel: 3, pad: 1}
  - batchnorm: {name: b2}
  - add: {name: s, inputs: [b2, r1]}
  - relu6: {name: r2, inputs: [r1]}
  - add: {name: s2, inputs: [s, r2]}
  - flatten: {name: f}
  - relu: {name: rf}
"""


@pytest.mark.parametrize("batch", [1, 2])
def test_inplace_layers_match_torch_and_spare_what_is_read(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = require("torch")
    from tests.torch_graph import TorchNet, to_nchw

    graph = load("t.yaml", text=NET).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed=1)
    x = np.random.default_rng(batch).standard_normal((batch, *graph.input_shape))
    x = x.astype(np.float32)
    given = x.copy()
    offered: dict[str, bool] = {}
    owned = ex._owned

    def spy(inputs: list[str], i: int, *args: Any) -> bool:
        offered[graph.nodes[i].name] = result = owned(inputs, i, *args)
        return result

    monkeypatch.setattr(ex, "_owned", spy)
    run = ex.execute(graph, layers, params, x)
    with torch.no_grad():
        theirs = TorchNet(graph, layers, params)(to_nchw(x)).numpy()
    theirs = theirs[:, K.flatten_order_from_chw(layers["s2"].output)]  # torch flattens C, H, W
    np.testing.assert_allclose(run.output, theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, given)  # the caller's input is never overwritten
    assert not offered["r0"]
    # b1 and b2 are computed in c1's and c2's weights (test_affine_folds below)
    assert all(offered[n] for n in ("r1", "s", "r2", "s2", "rf"))


def test_kept_arrays_are_not_overwritten() -> None:
    graph = load("t.yaml", text=NET).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed=1)
    x = np.random.default_rng(0).standard_normal((1, *graph.input_shape)).astype(np.float32)
    run = ex.execute(graph, layers, params, x, keep={"c1", "b2"})
    # b1 and s would overwrite c1 and b2; kept, they must hold the conv and the batch norm.
    assert run.kept["c1"].min() < 0  # before the relu
    assert not np.shares_memory(run.kept["c1"], run.kept["b2"])
    full = ex.execute(graph, layers, params, x, keep={n.name for n in graph.nodes}).kept
    np.testing.assert_array_equal(run.kept["c1"], full["c1"])
    # c2 is not kept, so b2 is computed in c2's weights: the same up to float32 rounding
    np.testing.assert_allclose(run.kept["b2"], full["b2"], rtol=1e-5, atol=1e-6)


# c3 is read by b3 and by the add, so b3 cannot be folded into it; c4's kernel (8·64) is
# larger than twice its output (1·1·64): folding would cost more than it saves.
FOLDS = """
input: 8x8x4
layers:
  - conv: {name: c1, filters: 8, kernel: 1}
  - batchnorm: {name: b1}
  - conv: {name: c2, filters: 8, kernel: 1, bias: false}
  - batchnorm: {name: b2, affine: false}
  - conv: {name: c3, filters: 8, kernel: 1}
  - batchnorm: {name: b3}
  - add: {name: s, inputs: [b3, c3]}
  - maxpool: {name: p, kernel: 8}
  - conv: {name: c4, filters: 64, kernel: 1}
  - batchnorm: {name: b4}
"""


def test_affine_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch norm after a conv that alone reads it is computed in the conv's weights: the
    same output as running it, while verify still sees it read its four arrays."""
    graph = load("t.yaml", text=FOLDS).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    assert ex.affine_folds(graph, layers, set(), 1) == {"c1": "b1", "c2": "b2"}
    assert ex.affine_folds(graph, layers, {"c1"}, 1) == {"c2": "b2"}  # c1 must exist unscaled
    params = ex.init_params(graph, layers, seed=2)
    x = np.random.default_rng(0).standard_normal((1, *graph.input_shape)).astype(np.float32)
    names = {n.name for n in graph.nodes}
    folded = ex.execute(graph, layers, params, x, keep=names - {"c1", "c2"})
    monkeypatch.setattr(ex, "affine_folds", lambda *args: {})
    plain = ex.execute(graph, layers, params, x, keep=names)
    for name in ("b1", "b2", "s", "b4"):
        np.testing.assert_allclose(folded.kept[name], plain.kept[name], rtol=1e-5, atol=1e-6)
    reads = {run.name: run for run in folded.layers}
    assert set(reads["b1"].used) == {"gamma", "beta", "running_mean", "running_var"}
    assert set(reads["b2"].used) == {"running_mean", "running_var"}
    assert set(reads["c1"].used) == {"kernel", "bias"} and set(reads["c2"].used) == {"kernel"}
    assert reads["b1"].macs == 0 and reads["c1"].macs == plain.layers[0].macs
