"""Keras import: a model's JSON (``model.to_json()``, Keras 2 or 3) or a ``.keras`` archive
(its config.json, and its model.weights.h5 for the weights) → layers and weights.

Keras is channels-last like archcalc, so kernels load as they are; ``same`` padding maps onto
archcalc's ``same``, which is TensorFlow's rule (the odd extra row and column go after). The
keras package itself is not needed: the JSON is read directly, the weights with h5py.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from archcalc.diagnostics import Diagnostic, SpecError
from archcalc.interop.model import ImportedModel, LayerSpec, layer_name
from archcalc.shapes import Shape

SUPPORTED = (
    "InputLayer, Conv1D/2D/3D, DepthwiseConv2D, Dense, MaxPooling, AveragePooling, "
    "GlobalAveragePooling, GlobalMaxPooling, Flatten, Dropout, Activation, ReLU, LeakyReLU, "
    "Softmax, BatchNormalization, ZeroPadding2D, UpSampling2D, Add, Multiply, Concatenate"
)
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def _fail(message: str, hint: str = "", layer: str = "", code: str = "not-keras") -> SpecError:
    return SpecError([Diagnostic("error", code, message, None, layer, hint)])


def read_keras(path: Path, shown: str, input_shape: Shape | None = None) -> ImportedModel:
    """Read a Keras model file; raise SpecError (exit 2) when it cannot be imported."""
    weights_file = None
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if "config.json" not in names:
                    raise _fail(f"'{shown}' has no config.json: it is not a .keras archive")
                text = archive.read("config.json")
                if "model.weights.h5" in names:
                    weights_file = archive.read("model.weights.h5")
        else:
            text = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
        config = json.loads(text)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise _fail(
            f"'{shown}' is not a readable Keras model ({type(err).__name__}: {err})",
            "the file may be truncated; save it again with model.save('x.keras') or "
            "model.to_json()",
        ) from None
    importer = _importer(config, shown, input_shape)
    model = importer.run()
    if weights_file is not None:
        model.weights = _read_weights(weights_file, importer.weight_plan, shown)
    return model


def from_config(config: Any, shown: str, input_shape: Shape | None = None) -> ImportedModel:
    """A model's JSON (``json.loads(model.to_json())``: how archcalc.analyze reads a live
    keras.Model) → layers, without weights."""
    return _importer(config, shown, input_shape).run()


def _importer(config: Any, shown: str, input_shape: Shape | None) -> _Importer:
    if not isinstance(config, dict) or "config" not in config or "class_name" not in config:
        raise _fail(f"'{shown}' is JSON but not a Keras model (no class_name and config)")
    return _Importer(config, shown, input_shape)


def _snake(name: str) -> str:
    """Keras' own snake case of a class name: the names its weights file uses."""
    step = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", step).lower()


class _Importer:
    def __init__(self, config: dict[str, Any], shown: str, input_shape: Shape | None) -> None:
        self.shown = shown
        self.kind = config["class_name"]
        self.config = config["config"]
        version = str(config.get("keras_version", "3"))
        self.keras2 = version.startswith("2")
        self.given_shape = input_shape
        self.layers: list[LayerSpec] = []
        self.output_of: dict[str, str] = {}  # keras layer → the archcalc layer giving its output
        self.used: set[str] = {"input"}
        # per layer with weights: its archcalc name, where Keras 3 stores its variables, and
        # the keys its variables fill, in Keras' order
        self.weight_plan: list[tuple[str, str, list[str]]] = []
        self.input_shape: Shape = ()

    def run(self) -> ImportedModel:
        layers = self.config.get("layers")
        if self.kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
            raise _fail(
                f"'{self.shown}': a Keras {self.kind} cannot be imported",
                "archcalc imports Sequential and functional models",
            )
        counters: dict[str, int] = {}
        previous = "input"
        for item in layers:
            cls = item.get("class_name", "")
            cfg = item.get("config", {})
            name = str(cfg.get("name") or item.get("name") or _snake(cls))
            snake = _snake(cls)
            count = counters.get(snake, 0)
            counters[snake] = count + 1
            h5_path = f"layers/{snake}" + (f"_{count}" if count else "")
            if cls == "InputLayer":
                self._input(cfg, name)
                previous = "input"
                continue
            if not self.input_shape:
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                if shape is None:
                    build = self.config.get("build_input_shape") or item.get(
                        "build_config", {}
                    ).get("input_shape")
                    shape = build
                if shape is None:
                    raise _fail(
                        f"'{self.shown}' does not say its input shape",
                        "give it with --input, e.g. --input 32x32x3",
                        code="dynamic-shape",
                    )
                self._input({"batch_shape": shape}, "input")
            sources = self._sources(item, previous)
            out = self._layer(cls, cfg, name, sources, h5_path)
            self.output_of[name] = out
            previous = out
        return ImportedModel(self.input_shape, self.layers, {})

    # -- inputs ----------------------------------------------------------------------------------
    def _input(self, cfg: dict[str, Any], name: str) -> None:
        if self.input_shape:
            raise _fail(f"'{self.shown}' has several inputs; archcalc imports one-input models")
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if self.given_shape is not None:
            self.input_shape = tuple(self.given_shape)
        elif shape is None or any(s is None for s in shape[1:]):
            raise _fail(
                f"input '{name}' has a dynamic size ({shape})",
                "give the input shape with --input, e.g. --input 224x224x3",
                code="dynamic-shape",
            )
        else:
            self.input_shape = tuple(int(s) for s in shape[1:])
        self.output_of[name] = "input"

    def _sources(self, item: dict[str, Any], previous: str) -> list[str]:
        """The archcalc layers feeding a functional layer (Keras 2 or 3 inbound nodes)."""
        nodes = item.get("inbound_nodes")
        if not nodes:
            return [previous]
        if len(nodes) > 1:
            raise _fail(
                f"layer '{item.get('name')}' is called {len(nodes)} times (shared weights)",
                "archcalc imports models whose layers are each called once",
            )
        names: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("class_name") == "__keras_tensor__":
                    names.append(value["config"]["keras_history"][0])
                else:
                    for v in value.values():
                        walk(v)
            elif isinstance(value, list):
                if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                    names.append(value[0])  # Keras 2: [layer, node, tensor, kwargs]
                else:
                    for v in value:
                        walk(v)

        node = nodes[0]
        walk(node.get("args", []) if isinstance(node, dict) else node)
        missing = [n for n in names if n not in self.output_of]
        if missing:
            raise _fail(f"layer '{item.get('name')}' reads '{missing[0]}', which comes later")
        return [self.output_of[n] for n in names]

    # -- layers ----------------------------------------------------------------------------------
    def _name(self, base: str) -> str:
        name, n = layer_name(None, base, "layer"), 1
        unique = name
        while unique in self.used:
            n += 1
            unique = f"{name}_{n}"
        self.used.add(unique)
        return unique

    def _emit(self, op: str, name: str, attrs: dict[str, Any], sources: list[str]) -> str:
        unique = self._name(name)
        self.layers.append(LayerSpec(op, unique, attrs, sources))
        return unique

    def _unsupported(self, name: str, why: str) -> SpecError:
        return _fail(
            f"Keras layer '{name}' cannot be imported: {why}",
            f"archcalc imports {SUPPORTED}",
            name,
            code="unsupported-op",
        )

    def _activation(self, value: Any, name: str, source: str, layer: str) -> str:
        if isinstance(value, dict):  # Keras 3 may serialise the function
            value = value.get("config", value.get("class_name"))
        if value in (None, "linear"):
            return source
        op, attrs = self._activation_op(str(value), layer)
        return self._emit(op, name, attrs, [source])

    def _activation_op(self, value: str, layer: str) -> tuple[str, dict[str, Any]]:
        simple = {
            "relu": "relu",
            "relu6": "relu6",
            "sigmoid": "sigmoid",
            "tanh": "tanh",
            "softmax": "softmax",
            "silu": "silu",
            "swish": "silu",
            "hard_silu": "hardswish",
            "hard_swish": "hardswish",
            "gelu": "gelu",
        }
        if value in simple:
            return simple[value], {}
        if value == "hard_sigmoid":
            # Keras 2: 0.2·x + 0.5 clipped; Keras 3: relu6(x + 3)/6 (archcalc's default)
            return "hardsigmoid", ({"alpha": 0.2} if self.keras2 else {})
        if value == "leaky_relu":
            return "leaky_relu", {"slope": 0.2}
        raise self._unsupported(layer, f"activation '{value}' has no archcalc op")

    def _padding(self, cfg: dict[str, Any], name: str) -> Any:
        padding = cfg.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise self._unsupported(name, f"padding '{padding}' is not supported")
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise self._unsupported(name, "only channels_last data is supported")
        return padding

    def _layer(
        self, cls: str, cfg: dict[str, Any], name: str, sources: list[str], h5_path: str
    ) -> str:
        source = sources[0] if sources else "input"
        if re.fullmatch(r"Conv[123]D", cls) or cls == "DepthwiseConv2D":
            padding = self._padding(cfg, name)
            kernel = _one(cfg["kernel_size"])
            attrs: dict[str, Any] = {}
            if cls == "DepthwiseConv2D":
                channels = self._channels(source)
                attrs["filters"] = channels * int(cfg.get("depth_multiplier", 1))
                attrs["groups"] = channels
            else:
                attrs["filters"] = int(cfg["filters"])
                if cfg.get("groups", 1) != 1:
                    attrs["groups"] = int(cfg["groups"])
            attrs["kernel"] = kernel
            for key, keras_key in (("stride", "strides"), ("dilation", "dilation_rate")):
                value = _one(cfg.get(keras_key, 1))
                if value != 1:
                    attrs[key] = value
            if padding == "same":
                attrs["padding"] = "same"
            use_bias = bool(cfg.get("use_bias", True))
            if not use_bias:
                attrs["bias"] = False
            conv = self._emit("conv", name, attrs, sources)
            kernel_key = "depthwise_kernel" if cls == "DepthwiseConv2D" else "kernel"
            keys = [kernel_key, "bias"] if use_bias else [kernel_key]
            self.weight_plan.append((conv, h5_path, keys))
            return self._activation(cfg.get("activation"), f"{name}_activation", conv, name)
        if cls == "Dense":
            use_bias = bool(cfg.get("use_bias", True))
            attrs = {"units": int(cfg["units"])}
            if not use_bias:
                attrs["bias"] = False
            dense = self._emit("dense", name, attrs, sources)
            keys = ["kernel", "bias"] if use_bias else ["kernel"]
            self.weight_plan.append((dense, h5_path, keys))
            return self._activation(cfg.get("activation"), f"{name}_activation", dense, name)
        if re.fullmatch(r"(Max|Average)Pooling[123]D", cls):
            padding = self._padding(cfg, name)
            pool = _one(cfg.get("pool_size", 2))
            stride = cfg.get("strides") or pool
            attrs = {"kernel": pool, "stride": _one(stride)}
            if padding == "same":
                attrs["padding"] = "same"
            if cls.startswith("Average"):
                # TensorFlow averages over the window's real inputs only
                attrs["count_include_pad"] = False
            return self._emit(
                "maxpool" if cls.startswith("Max") else "avgpool", name, attrs, sources
            )
        if re.fullmatch(r"Global(Max|Average)Pooling[123]D", cls):
            op = "global_maxpool" if "Max" in cls else "global_avgpool"
            attrs = {"keepdims": True} if cfg.get("keepdims") else {}
            return self._emit(op, name, attrs, sources)
        if cls == "Flatten":
            return self._emit("flatten", name, {}, sources)
        if cls in ("Dropout", "SpatialDropout2D"):
            return self._emit("dropout", name, {"rate": float(cfg.get("rate", 0.5))}, sources)
        if cls == "Activation":
            op, attrs = self._activation_op(str(cfg.get("activation")), name)
            return self._emit(op, name, attrs, sources)
        if cls == "ReLU":
            top, slope, threshold = (
                cfg.get("max_value"),
                cfg.get("negative_slope", 0),
                cfg.get("threshold", 0),
            )
            if slope or threshold:
                raise self._unsupported(name, "ReLU with a slope or threshold is not supported")
            if top is None:
                return self._emit("relu", name, {}, sources)
            if float(top) == 6:
                return self._emit("relu6", name, {}, sources)
            return self._emit("clip", name, {"low": 0.0, "high": float(top)}, sources)
        if cls == "LeakyReLU":
            slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
            return self._emit("leaky_relu", name, {"slope": float(slope)}, sources)
        if cls == "Softmax":
            if cfg.get("axis", -1) != -1:
                raise self._unsupported(name, "only a softmax over the last axis is supported")
            return self._emit("softmax", name, {}, sources)
        if cls == "BatchNormalization":
            axis = cfg.get("axis", -1)
            if axis not in (-1, [-1], len(self.input_shape), [len(self.input_shape)]):
                raise self._unsupported(name, f"batch normalisation over axis {axis}")
            center, scale = bool(cfg.get("center", True)), bool(cfg.get("scale", True))
            if center != scale:
                raise self._unsupported(name, "center and scale must both be on or both off")
            attrs = {"eps": float(cfg.get("epsilon", 1e-3))}
            if not center:
                attrs["affine"] = False
            bn = self._emit("batchnorm", name, attrs, sources)
            keys = ["gamma", "beta"] if center else []
            self.weight_plan.append((bn, h5_path, [*keys, "running_mean", "running_var"]))
            return bn
        if cls == "ZeroPadding2D":
            pad = cfg.get("padding", 1)
            if not isinstance(pad, int):  # ((top, bottom), (left, right)) → four sides
                pairs = [[p, p] if isinstance(p, int) else list(p) for p in pad]
                pad = [v for pair in pairs for v in pair]
            return self._emit("zeropad", name, {"padding": pad}, sources)
        if cls == "UpSampling2D":
            interpolation = cfg.get("interpolation", "nearest")
            if interpolation not in ("nearest", "bilinear"):
                raise self._unsupported(name, f"interpolation '{interpolation}'")
            attrs = {"scale": _one(cfg.get("size", 2)), "mode": interpolation}
            return self._emit("upsample", name, attrs, sources)
        if cls in ("Add", "Multiply"):
            return self._emit("add" if cls == "Add" else "mul", name, {}, sources)
        if cls == "Concatenate":
            if cfg.get("axis", -1) not in (-1, len(self.input_shape)):
                raise self._unsupported(name, "only concatenation along channels is supported")
            return self._emit("concat", name, {}, sources)
        raise self._unsupported(name, f"layer type '{cls}' has no archcalc op")

    def _channels(self, source: str) -> int:
        """The channels of a layer's output, from the spec so far (for depthwise filters)."""
        from archcalc.analysis.shapes import infer_shapes
        from archcalc.diagnostics import Diagnostics
        from archcalc.interop.model import to_yaml
        from archcalc.spec import load

        if source == "input":
            return int(self.input_shape[-1])
        model = ImportedModel(self.input_shape, self.layers, {})
        graph = load("partial.yaml", to_yaml(model, "partial", "")).graph
        layer = infer_shapes(graph, Diagnostics(), False)[source]
        assert layer is not None
        return int(layer.output[-1])


def _one(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    return int(value)


def _read_weights(
    data: bytes, plan: list[tuple[str, str, list[str]]], shown: str
) -> dict[str, Any]:
    """The archive's weights, keyed ``layer.param``, from Keras 3's model.weights.h5."""
    import io

    try:
        import h5py
    except ImportError:
        raise _fail(
            f"reading the weights in '{shown}' needs h5py",
            "pip install 'archcalc[keras]'",
            code="missing-extra",
        ) from None
    import numpy as np

    weights: dict[str, Any] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            for layer, h5_path, keys in plan:
                group = f.get(f"{h5_path}/vars")
                if group is None or len(group) != len(keys):
                    raise _fail(
                        f"'{shown}': the weights of layer '{layer}' are not where Keras 3 keeps "
                        f"them ({h5_path}/vars)",
                        "save the model with Keras 3 (model.save('x.keras'))",
                    )
                for i, key in enumerate(keys):
                    array = np.asarray(group[str(i)], dtype=np.float32)
                    if key == "depthwise_kernel":
                        # (kh, kw, C, multiplier) → a grouped conv's (kh, kw, 1, C·multiplier):
                        # group c makes outputs c·m ... c·m + m − 1, as Keras orders them
                        key, array = "kernel", array.reshape(*array.shape[:-2], 1, -1)
                    weights[f"{layer}.{key}"] = array
    except OSError as err:
        raise _fail(f"'{shown}': cannot read its weights ({err})") from None
    return weights
