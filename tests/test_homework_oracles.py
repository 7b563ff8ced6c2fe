"""What the mistakes catalogue and the traps say frameworks do, checked against the frameworks."""

from __future__ import annotations

import os

from archcalc.homework.mistakes import BY_ID, Case
from archcalc.homework.net import Net
from archcalc.spec import load
from tests.oracles import require


def test_a_dense_layer_without_flatten_is_applied_per_position_by_pytorch() -> None:
    torch = require("torch")
    loaded = load("t.yaml", "input: 6x6x256\nlayers: [dense: {name: fc6, units: 4096}]")
    net = Net.of(loaded.graph, loaded.diagnostics)
    [d] = [d for d in net.report.diagnostics if d.code == "dense-per-position"]
    linear = torch.nn.Linear(256, 4096)
    y = linear(torch.zeros(1, 6, 6, 256))  # channels-last, as archcalc writes shapes
    assert tuple(y.shape[1:]) == net.report.layers[0].output_shape == (6, 6, 4096)
    per_position = sum(p.numel() for p in linear.parameters())
    flattened = sum(p.numel() for p in torch.nn.Linear(6 * 6 * 256, 4096).parameters())
    assert f"{per_position:,} params" in d.message and f"{flattened:,} params" in d.message


def test_keras_count_params_is_the_batchnorm_statistics_mistake() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
    )
    loaded = load(
        "t.yaml", "input: 8x8x3\nlayers: [conv: {filters: 4, kernel: 3, bias: false}, batchnorm]"
    )
    case = Case(Net.of(loaded.graph, loaded.diagnostics), "params", None)
    assert case.net.figure("params", None) == sum(
        int(w.numpy().size) for w in model.trainable_weights
    )
    assert BY_ID["keras-batchnorm-statistics"].wrong(case) == [model.count_params()]
