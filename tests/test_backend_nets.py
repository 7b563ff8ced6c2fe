"""Whole bundled nets: archcalc's executor end to end against a torch model of the same graph,
and `verify` passing on every bundled spec."""

from __future__ import annotations

import numpy as np
import pytest

from archcalc.analysis import analyze_graph
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import executor as ex
from archcalc.backend.verify import verify
from archcalc.diagnostics import Diagnostics
from archcalc.spec import load
from archcalc.zoo import bundled_names
from tests.oracles import require

# Specs too big to run here at full size would be listed with a reduced input (verify then
# says "reduced: the spec says ..."; test_backend_cli checks that wording). Every bundled spec
# runs at full size at present: VGG-16 at 224x224x3 verifies in about 7 s.
REDUCED: dict[str, tuple[int, ...]] = {}


def _graph(name: str):  # type: ignore[no-untyped-def]
    graph = load(name).graph
    spec_shape = tuple(graph.input_shape)
    if name in REDUCED:
        graph.input_shape = REDUCED[name]
    return graph, spec_shape


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "vgg16", "cs231n-conv-example"])
def test_net_matches_torch_end_to_end(name: str) -> None:
    torch = require("torch")
    from tests.torch_graph import TorchNet, from_nchw, to_nchw

    graph, _ = _graph(name)
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed=11)
    x = np.random.default_rng(5).standard_normal((2, *graph.input_shape)).astype(np.float32)
    ours = ex.execute(graph, layers, params, x).output
    with torch.no_grad():
        theirs = from_nchw(TorchNet(graph, layers, params)(to_nchw(x)))
    assert ours.shape == theirs.shape
    scale = float(np.abs(theirs).max())
    assert scale > 0
    # float32 through up to 50 layers: the sums are ordered differently, so allow 1e-4 of
    # the output's range on top of the relative tolerance.
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)
    # A different input must give a different answer (the comparison is not vacuous).
    assert not np.allclose(ours[0], ours[1])


def test_flatten_permutation_is_needed() -> None:
    """Without permuting the first dense layer's columns the torch model disagrees: the
    channels-last flatten order is real, and the translator's permutation is what fixes it."""
    torch = require("torch")
    from tests import torch_graph

    graph = load("t.yaml", text="input: 4x4x3\nlayers:\n  - flatten\n  - dense: 5\n").graph
    layers = infer_shapes(graph, Diagnostics(), False)
    params = ex.init_params(graph, layers, seed=2)
    x = np.random.default_rng(1).standard_normal((1, 4, 4, 3)).astype(np.float32)
    ours = ex.execute(graph, layers, params, x).output
    w = params["dense1"]["kernel"]
    naive = torch.nn.functional.linear(
        torch_graph.to_nchw(x).flatten(1), torch.from_numpy(np.ascontiguousarray(w.T))
    ) + torch.from_numpy(params["dense1"]["bias"])
    assert not np.allclose(ours, naive.numpy(), atol=1e-3)


@pytest.mark.parametrize("name", bundled_names())
def test_verify_passes_on_every_bundled_spec(name: str) -> None:
    graph, spec_shape = _graph(name)
    result = verify(analyze_graph(graph), spec_shape, seed=0, rf_samples=3)
    assert result.ok, result.mismatches()
    assert result.reduced == (name in REDUCED)
    # Everything was compared: one shape/params/MACs check per layer, and some fields.
    assert len(result.layers) == len(graph.nodes)
    assert all(layer.figure("macs") is not None for layer in result.layers)
    assert result.fields and all(f.ok for f in result.fields)
    # The executor freed activations: the live peak is far below the sum of all outputs.
    total = 4 * int(np.prod(graph.input_shape)) + sum(
        int(np.prod(layer.figure("shape").measured)) * 4  # type: ignore[union-attr]
        for layer in result.layers
    )
    assert result.peak_live_bytes < total or len(result.layers) == 1
