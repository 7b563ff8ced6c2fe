"""Keras import against Keras itself (Keras 3 on the torch backend): count_params(), the
trainable count, every layer's output shape (``same`` padding on odd sizes included) and the
output of the saved model, for Sequential and functional models, from .keras archives and from
model.to_json(). A Keras 2 JSON, written out in the test, checks the older format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archcalc.analysis import analyze
from archcalc.spec import load
from tests.helpers import cli
from tests.oracles import require


def _models() -> dict[str, Any]:
    keras = require("keras")
    layers = keras.layers

    def sequential() -> Any:
        # odd sizes everywhere: TensorFlow's `same` puts the extra row/column bottom/right
        return keras.Sequential(
            [
                keras.Input((17, 15, 3)),
                layers.Conv2D(8, 3, strides=2, padding="same", name="stem"),
                layers.BatchNormalization(name="stem_bn"),
                layers.ReLU(name="stem_relu"),
                layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
                layers.ReLU(max_value=6.0),
                layers.MaxPooling2D(3, strides=2, padding="same"),
                layers.ZeroPadding2D(((0, 1), (1, 0))),
                layers.AveragePooling2D(2, strides=1, padding="same"),
                layers.UpSampling2D(2, interpolation="bilinear"),
                layers.Conv2D(12, (2, 4), strides=(1, 2), padding="same", activation="tanh"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10, activation="softmax"),
            ]
        )

    def functional() -> Any:
        x = keras.Input((21, 21, 3), name="image")
        y = layers.Conv2D(16, 5, strides=2, padding="same", use_bias=False, name="conv1")(x)
        y = layers.BatchNormalization(name="bn1")(y)
        y = layers.Activation("hard_swish", name="act1")(y)
        branch = layers.Conv2D(16, 3, padding="same", activation="relu", name="branch")(y)
        y = layers.Add(name="residual")([y, branch])
        gate = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(y)
        gate = layers.Dense(4, activation="relu", name="se_reduce")(gate)
        gate = layers.Dense(16, activation="sigmoid", name="se_expand")(gate)
        y = layers.Multiply(name="se_scale")([y, gate])
        side = layers.MaxPooling2D(2, padding="same", name="side_pool")(y)
        main = layers.Conv2D(8, 3, strides=2, padding="same", name="main")(y)
        y = layers.Concatenate(name="joined")([main, side])
        y = layers.LeakyReLU(negative_slope=0.1, name="leaky")(y)
        y = layers.Flatten(name="flat")(y)
        y = layers.Dropout(0.3, name="drop")(y)
        out = layers.Dense(7, name="logits")(y)
        return keras.Model(x, out)

    def more() -> Any:
        # input scaling, separable and transposed convolutions (odd sizes, both paddings,
        # output_padding), squeeze-and-excitation through Reshape((1, 1, C))
        x = keras.Input((11, 13, 3), name="image")
        y = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(x)
        y = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5], name="norm")(y)
        y = layers.SeparableConv2D(
            8, 3, strides=2, padding="same", depth_multiplier=2, activation="relu", name="sep"
        )(y)
        y = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="up_same")(y)
        y = layers.Conv2DTranspose(5, 2, strides=3, padding="valid", name="up_valid")(y)
        y = layers.Conv2DTranspose(
            4, 3, strides=2, padding="same", output_padding=1, use_bias=False, name="up_extra"
        )(y)
        gate = layers.GlobalAveragePooling2D(name="se_pool")(y)
        gate = layers.Reshape((1, 1, 4), name="se_shape")(gate)
        gate = layers.Conv2D(4, 1, activation="sigmoid", name="se_conv")(gate)
        y = layers.Multiply(name="se_scale")([y, gate])
        y = layers.Cropping2D(((1, 2), (0, 3)), name="crop")(y)
        y = layers.SeparableConv2D(3, 5, padding="valid", use_bias=False, name="sep2")(y)
        y = layers.Reshape((-1,), name="vector")(y)
        out = layers.Dense(4, name="logits")(y)
        return keras.Model(x, out)

    return {"sequential": sequential, "functional": functional, "more": more}


def build(name: str) -> Any:
    keras = require("keras")
    keras.utils.set_random_seed(0)
    model = _models()[name]()
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma),
                    rng.uniform(-0.2, 0.2, beta),
                    rng.uniform(-0.5, 0.5, mean),
                    rng.uniform(0.5, 2.0, var),
                ]
            )
    return model


@pytest.mark.parametrize("name", ["sequential", "functional", "more"])
def test_keras_model_matches_keras(name: str, tmp_path: Path) -> None:
    model = build(name)
    archive = tmp_path / f"{name}.keras"
    model.save(archive)
    as_json = tmp_path / f"{name}.json"
    as_json.write_text(model.to_json())

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    for path in (archive, as_json):
        loaded = load(str(path))
        report = analyze(loaded.graph, diagnostics=loaded.diagnostics)
        assert not report.has_errors, [d.message for d in report.diagnostics]
        assert report.totals.keras_params == model.count_params()
        assert report.totals.trainable_params == trainable
        rows = {r.name: r.output_shape for r in report.layers}
        for layer in model.layers[1:] if name == "sequential" else model.layers:
            if isinstance(layer, require("keras").layers.InputLayer) or layer.name == "se_pool":
                continue
            # Reshape((1, 1, C)) of a pooled vector is the pool keeping its axes
            shown = "se_pool" if layer.name == "se_shape" else layer.name
            assert rows[shown] == tuple(layer.output.shape[1:]), layer.name

    x = np.random.default_rng(2).standard_normal((2, *model.input_shape[1:])).astype(np.float32)
    if name == "more":
        x = x * 60 + 127  # image-like values for the rescaling
    expected = model.predict(x, verbose=0)
    np.save(tmp_path / "x.npy", x)
    result = cli(
        "run", str(archive), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-5)


def test_keras_json_has_no_weights_but_runs_with_random_ones(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(build("sequential").to_json())
    np.save(tmp_path / "x.npy", np.zeros((17, 15, 3), np.float32))
    result = cli("run", str(path), "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 2 and "--random-weights" in result.output
    result = cli("run", str(path), "--input", str(tmp_path / "x.npy"), "--random-weights")
    assert result.exit_code == 0, result.output


# A Keras 2.x functional model as TensorFlow 2.x's model.to_json() writes it (trimmed of the
# initialiser entries archcalc ignores).
KERAS2 = {
    "class_name": "Functional",
    "keras_version": "2.13.1",
    "backend": "tensorflow",
    "config": {
        "name": "tiny",
        "layers": [
            {
                "class_name": "InputLayer",
                "name": "input_1",
                "config": {"batch_input_shape": [None, 9, 9, 1], "name": "input_1"},
                "inbound_nodes": [],
            },
            {
                "class_name": "Conv2D",
                "name": "conv",
                "config": {
                    "name": "conv",
                    "filters": 4,
                    "kernel_size": [3, 3],
                    "strides": [2, 2],
                    "padding": "same",
                    "data_format": "channels_last",
                    "dilation_rate": [1, 1],
                    "groups": 1,
                    "activation": "hard_sigmoid",
                    "use_bias": True,
                },
                "inbound_nodes": [[["input_1", 0, 0, {}]]],
            },
            {
                "class_name": "BatchNormalization",
                "name": "bn",
                "config": {
                    "name": "bn",
                    "axis": [3],
                    "epsilon": 0.001,
                    "center": True,
                    "scale": True,
                },
                "inbound_nodes": [[["conv", 0, 0, {}]]],
            },
            {
                "class_name": "Concatenate",
                "name": "cat",
                "config": {"name": "cat", "axis": -1},
                "inbound_nodes": [[["bn", 0, 0, {}], ["conv", 0, 0, {}]]],
            },
            {
                "class_name": "Flatten",
                "name": "flatten",
                "config": {"name": "flatten"},
                "inbound_nodes": [[["cat", 0, 0, {}]]],
            },
            {
                "class_name": "Dense",
                "name": "out",
                "config": {"name": "out", "units": 3, "activation": "linear", "use_bias": True},
                "inbound_nodes": [[["flatten", 0, 0, {}]]],
            },
        ],
        "input_layers": [["input_1", 0, 0]],
        "output_layers": [["out", 0, 0]],
    },
}


def test_keras2_json(tmp_path: Path) -> None:
    path = tmp_path / "k2.json"
    path.write_text(json.dumps(KERAS2))
    loaded = load(str(path))
    report = analyze(loaded.graph, diagnostics=loaded.diagnostics)
    rows = {r.name: r for r in report.layers}
    # same, stride 2 on 9: ceil(9/2) = 5; conv (3·3·1 + 1)·4 = 40; bn 4·4 = 16 (8 trainable);
    # concat 5x5x8 → 200 features; dense 200·3 + 3 = 603
    assert rows["conv"].output_shape == (5, 5, 4)
    assert rows["cat"].output_shape == (5, 5, 8)
    assert report.totals.keras_params == 40 + 16 + 603
    assert report.totals.trainable_params == 40 + 8 + 603
    # Keras 2's hard_sigmoid is 0.2·x + 0.5, not Keras 3's relu6(x + 3)/6
    hard = next(n for n in loaded.graph.nodes if n.op.name == "hardsigmoid")
    assert hard.attrs["alpha"] == 0.2


def test_keras2_h5_file(tmp_path: Path) -> None:
    """The legacy HDF5 format (Keras 2's model.save('x.h5'), which Keras 3 still writes):
    its config in an attribute, its weights by layer name."""
    keras = require("keras")
    for name in ("functional", "more"):
        model = build(name)
        path = tmp_path / f"{name}.h5"
        keras.saving.save_model(model, path)
        report = analyze(load(str(path)).graph)
        assert report.totals.keras_params == model.count_params()
        x = np.random.default_rng(3).standard_normal((1, *model.input_shape[1:]))
        np.save(tmp_path / "x.npy", x[0].astype(np.float32))
        result = cli(
            "run", str(path), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")
        )
        assert result.exit_code == 0, result.output
        expected = model.predict(x.astype(np.float32), verbose=0)[0]
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-5)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:5000])
    result = cli("summarize", str(cut))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "cut.h5" in result.output and "not a readable Keras HDF5 model" in result.output
    weights_only = tmp_path / "w.weights.h5"
    build("functional").save_weights(weights_only)
    result = cli("summarize", str(weights_only))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "without a model_config" in result.output, result.output


def test_adapted_normalization_reads_its_statistics(tmp_path: Path) -> None:
    keras = require("keras")
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(4).uniform(2, 5, (50, 6, 6, 3)).astype(np.float32))
    model = keras.Sequential([keras.Input((6, 6, 3)), norm, keras.layers.Conv2D(2, 3)])
    archive = tmp_path / "n.keras"
    model.save(archive)
    report = analyze(load(str(archive)).graph)
    # the adapted mean, variance and count are Keras variables; archcalc keeps the values
    # in the spec, so its Keras figure leaves out their 2·3 + 1
    assert report.totals.keras_params == model.count_params() - 7
    x = np.random.default_rng(5).uniform(2, 5, (6, 6, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cli(
        "run", str(archive), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    expected = model.predict(x[None], verbose=0)[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-5)
    as_json = tmp_path / "n.json"
    as_json.write_text(model.to_json())
    result = cli("summarize", str(as_json))
    assert result.exit_code == 2 and "adapted" in result.output, result.output


def test_bad_keras_files(tmp_path: Path) -> None:
    model = build("sequential")
    archive = tmp_path / "m.keras"
    model.save(archive)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(archive.read_bytes()[:200])
    for path, words in (
        (cut, ["cut.keras", "not a readable Keras model"]),
        (tmp_path / "dyn.json", ["dynamic size", "--input"]),
        (tmp_path / "odd.json", ["Keras layer 'lstm'", "LSTM"]),
    ):
        if path.name == "dyn.json":
            config = json.loads(model.to_json())
            config["config"]["layers"][0]["config"]["batch_shape"] = [None, None, None, 3]
            path.write_text(json.dumps(config))
        if path.name == "odd.json":
            config = json.loads(model.to_json())
            config["config"]["layers"].insert(
                2, {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}}
            )
            path.write_text(json.dumps(config))
        result = cli("summarize", str(path))
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        for word in words:
            assert word in result.output, result.output
    result = cli("summarize", str(tmp_path / "dyn.json"), "--input", "17x15x3")
    assert result.exit_code == 0, result.output
