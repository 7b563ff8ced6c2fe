"""The same small net as a YAML spec, a live nn.Module, an ONNX file exported from it and a live
Keras model gives the same parameters, MACs and shapes through archcalc.analyze."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import archcalc
from tests.oracles import require
from tests.test_api import SMALL_YAML, _small_torch_net
from tests.test_interop_onnx import export


def _figures(result: Any) -> tuple[Any, ...]:
    # per layer with weights: output shape, params, MACs (the parameter-free layers between
    # differ in kind: Keras has no adaptive pooling + flatten, only a global pooling)
    learned = [(r.output_shape, r.params, r.buffers, r.macs) for r in result.rows if r.params]
    t = result.totals
    return (learned, t.params, t.buffers, t.macs, result.rows[-1].output_shape)


def test_onnx_file_equals_the_spec_and_the_module(tmp_path: Path) -> None:
    torch = require("torch")
    module = _small_torch_net(torch.nn).eval()
    path = export(module, torch.zeros(1, 3, 32, 32), tmp_path / "small.onnx", 18)
    spec = archcalc.analyze(SMALL_YAML)
    imported = archcalc.analyze(str(path))
    assert _figures(imported) == _figures(spec)
    assert _figures(archcalc.analyze(module, input=(1, 3, 32, 32))) == _figures(spec)
    # run() uses the file's own weights: the output is the module's
    x = torch.randn(2, 3, 32, 32)
    y = imported.run(x.permute(0, 2, 3, 1).numpy())
    assert torch.allclose(torch.from_numpy(y), module(x).detach(), atol=1e-4)


def test_live_keras_model_equals_the_spec() -> None:
    keras = require("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 5, padding="same", name="conv1"),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv2"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )
    live = archcalc.analyze(model)
    assert _figures(live) == _figures(archcalc.analyze(SMALL_YAML))
    assert live.totals.params + live.totals.buffers == model.count_params()
    assert "conv1" in [r.name for r in live.rows]
