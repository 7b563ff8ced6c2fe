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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcalc.diagnostics import Diagnostic, SpecError
from archcalc.interop.model import ImportedModel, LayerSpec, layer_name
from archcalc.shapes import Shape

SUPPORTED = (
    "InputLayer, Conv1D/2D/3D, DepthwiseConv2D, Dense, MaxPooling, AveragePooling, "
    "GlobalAveragePooling, GlobalMaxPooling, Flatten, Dropout, Activation, ReLU, LeakyReLU, "
    "Softmax, BatchNormalization, ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling2D, Add, "
    "Multiply, Concatenate, "
    "SeparableConv1D/2D, Conv1D/2D/3DTranspose, Rescaling, Normalization, Reshape (to a vector, "
    "or a pooled vector to 1x1xC)"
)
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def _fail(message: str, hint: str = "", layer: str = "", code: str = "not-keras") -> SpecError:
    return SpecError([Diagnostic("error", code, message, None, layer, hint)])


def read_keras(path: Path, shown: str, input_shape: Shape | None = None) -> ImportedModel:
    """Read a Keras model file; raise SpecError (exit 2) when it cannot be imported."""
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _read_h5(path, shown, input_shape)
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
    if weights_file is not None:
        importer.stored = _Keras3Weights(weights_file, shown)
    model = importer.run()
    if importer.stored is not None:
        model.weights = importer.stored.read(importer.weight_plan)
    return model


def _read_h5(path: Path, shown: str, input_shape: Shape | None) -> ImportedModel:
    """A Keras 2 (legacy HDF5) model file: its config in the ``model_config`` attribute, its
    weights under ``model_weights/<layer>``."""
    h5py = _h5py(shown)
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                raise _fail(
                    f"'{shown}' is an HDF5 file without a model_config: weights only, or not "
                    "a Keras model",
                    "save the whole model (model.save('x.h5') or 'x.keras')",
                )
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            importer = _importer(config, shown, input_shape)
            if "model_weights" in f:
                importer.stored = _LegacyWeights(f["model_weights"], shown)
            model = importer.run()
            if importer.stored is not None:
                model.weights = importer.stored.read(importer.weight_plan)
            return model
    except (OSError, ValueError, KeyError) as err:
        raise _fail(
            f"'{shown}' is not a readable Keras HDF5 model ({type(err).__name__}: {err})",
            "the file may be truncated; save it again",
        ) from None


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
        # per Keras layer with weights: its name, where Keras 3 stores its variables, and the
        # (archcalc layer, key) each variable fills, in Keras' order
        self.weight_plan: list[_Planned] = []
        self.stored: _Keras3Weights | _LegacyWeights | None = None  # the file's weights
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
            self.keras_name = name
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

    def _plan(self, h5_path: str, targets: list[tuple[str, str]]) -> None:
        self.weight_plan.append(_Planned(self.keras_name, h5_path, targets))

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
        if cls in ("SeparableConv1D", "SeparableConv2D"):
            return self._separable(cfg, name, sources, h5_path)
        if re.fullmatch(r"Conv[123]DTranspose", cls):
            return self._transposed(cfg, name, sources, h5_path)
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
            self._plan(h5_path, [(conv, k) for k in keys])
            return self._activation(cfg.get("activation"), f"{name}_activation", conv, name)
        if cls == "Dense":
            use_bias = bool(cfg.get("use_bias", True))
            attrs = {"units": int(cfg["units"])}
            if not use_bias:
                attrs["bias"] = False
            dense = self._emit("dense", name, attrs, sources)
            keys = ["kernel", "bias"] if use_bias else ["kernel"]
            self._plan(h5_path, [(dense, k) for k in keys])
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
            self._plan(h5_path, [(bn, k) for k in [*keys, "running_mean", "running_var"]])
            return bn
        if re.fullmatch(r"(ZeroPadding|Cropping)[123]D", cls):
            key = "padding" if cls.startswith("Zero") else "cropping"
            pad = cfg.get(key, 1)
            if not isinstance(pad, int):  # ((top, bottom), (left, right)) → four sides
                pairs = [[p, p] if isinstance(p, int) else list(p) for p in pad]
                pad = [v for pair in pairs for v in pair]
            op = "zeropad" if key == "padding" else "crop"
            return self._emit(op, name, {key: pad}, sources)
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
        if cls == "Rescaling":
            attrs = {
                "scale": _numbers(cfg.get("scale", 1.0)),
                "shift": _numbers(cfg.get("offset", 0.0)),
            }
            return self._emit("affine", name, _drop_neutral(attrs), sources)
        if cls == "Normalization":
            return self._normalization(cfg, name, sources, h5_path)
        if cls == "Reshape":
            return self._reshape(cfg, name, sources)
        raise self._unsupported(name, f"layer type '{cls}' has no archcalc op")

    def _window_attrs(self, cfg: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        for key, keras_key in (("stride", "strides"), ("dilation", "dilation_rate")):
            value = _one(cfg.get(keras_key, 1))
            if value != 1:
                attrs[key] = value
        return attrs

    def _separable(self, cfg: dict[str, Any], name: str, sources: list[str], h5_path: str) -> str:
        """SeparableConv2D: a depthwise convolution, then a 1x1 convolution (with the bias)."""
        padding = self._padding(cfg, name)
        channels = self._channels(sources[0] if sources else "input")
        depth = channels * int(cfg.get("depth_multiplier", 1))
        attrs: dict[str, Any] = {"filters": depth, "kernel": _one(cfg["kernel_size"])}
        attrs.update(self._window_attrs(cfg))
        if padding == "same":
            attrs["padding"] = "same"
        attrs.update({"groups": channels, "bias": False})
        depthwise = self._emit("conv", f"{name}_depthwise", attrs, sources)
        use_bias = bool(cfg.get("use_bias", True))
        point: dict[str, Any] = {"filters": int(cfg["filters"]), "kernel": 1}
        if not use_bias:
            point["bias"] = False
        pointwise = self._emit("conv", name, point, [depthwise])
        targets = [(depthwise, "depthwise_kernel"), (pointwise, "kernel")]
        self._plan(h5_path, targets + ([(pointwise, "bias")] if use_bias else []))
        return self._activation(cfg.get("activation"), f"{name}_activation", pointwise, name)

    def _transposed(self, cfg: dict[str, Any], name: str, sources: list[str], h5_path: str) -> str:
        """Conv2DTranspose, with Keras' output sizes: ``valid`` gives N·S + max(K − S, 0),
        ``same`` N·S (TensorFlow crops the odd row and column at the end), and an explicit
        output_padding (N − 1)·S + K − 2·pad + output_padding, pad = K // 2 for ``same``."""
        padding = self._padding(cfg, name)
        rank = len(self.input_shape) - 1
        per_axis = [
            [int(v)] * rank if not isinstance(v, (list, tuple)) else [int(x) for x in v]
            for v in (cfg["kernel_size"], cfg.get("strides", 1), cfg.get("dilation_rate", 1))
        ]
        given = cfg.get("output_padding")
        extra = (
            None
            if given is None
            else (
                [int(given)] * rank
                if not isinstance(given, (list, tuple))
                else [int(v) for v in given]
            )
        )
        pads: list[int] = []
        outs: list[int] = []
        for axis, (k, s, d) in enumerate(zip(*per_axis)):
            span = d * (k - 1) + 1
            # Keras pads the stride-dilated input by (left, right), as in its JAX backend;
            # the full transposed conv, (N − 1)·S + K, is then cut by K − 1 − pad per side
            op = None if extra is None else extra[axis]
            if padding == "valid":
                left, right = span - 1, span - 1 + (max(span, s) - span if op is None else op)
            else:
                total = s + span - 2 if op is None else span + span % 2 - 2 + op
                left = min(total // 2 + total % 2, span - 1)
                right = total - left
            cut_left, cut_right = span - 1 - left, span - 1 - right
            if cut_left < 0 or -cut_right >= max(s, d):
                raise self._unsupported(name, "its padding has no transposed-conv equivalent")
            pads += [cut_left, max(cut_right, 0)]
            outs.append(max(-cut_right, 0))
        attrs: dict[str, Any] = {"filters": int(cfg["filters"]), "kernel": _one(per_axis[0])}
        attrs.update(self._window_attrs(cfg))
        if any(pads):
            attrs["padding"] = pads
        if any(outs):
            attrs["output_padding"] = _one(outs)
        use_bias = bool(cfg.get("use_bias", True))
        if not use_bias:
            attrs["bias"] = False
        conv = self._emit("conv_transpose", name, attrs, sources)
        keys = ["transposed_kernel", "bias"] if use_bias else ["transposed_kernel"]
        self._plan(h5_path, [(conv, k) for k in keys])
        return self._activation(cfg.get("activation"), f"{name}_activation", conv, name)

    def _normalization(
        self, cfg: dict[str, Any], name: str, sources: list[str], h5_path: str
    ) -> str:
        """Normalization: (x − mean) / sqrt(variance), mean and variance given to the layer or
        adapted (then read from the archive's weights)."""
        import math

        if cfg.get("invert"):
            raise self._unsupported(name, "an inverted Normalization is not supported")
        axis = cfg.get("axis", -1)
        if axis not in (-1, [-1], (-1,), len(self.input_shape), [len(self.input_shape)]):
            raise self._unsupported(name, f"normalisation over axis {axis}")
        mean, variance = cfg.get("mean"), cfg.get("variance")
        if mean is None or variance is None:
            if self.stored is None:
                raise self._unsupported(
                    name,
                    "its mean and variance were adapted and are not in this file",
                )
            mean, variance = self.stored.arrays(self.keras_name, h5_path)[:2]
        means, variances = _flat(mean), _flat(variance)
        if len(means) == 1:
            means *= len(variances)
        if len(variances) == 1:
            variances *= len(means)
        # Keras divides by max(sqrt(variance), epsilon), epsilon 1e-7
        scale = [1 / max(math.sqrt(v), 1e-7) for v in variances]
        shift = [-m * f for m, f in zip(means, scale)]
        attrs = {"scale": _numbers(scale), "shift": _numbers(shift)}
        return self._emit("affine", name, _drop_neutral(attrs), sources)

    def _reshape(self, cfg: dict[str, Any], name: str, sources: list[str]) -> str:
        """Reshape to a vector (a flatten), or a vector to (1, 1, C): global pooling that keeps
        its axes, as squeeze-and-excitation writes it."""
        target = [int(v) for v in cfg.get("target_shape", [])]
        source = sources[0] if sources else "input"
        shape = self._shape_of(source)
        if tuple(target) == tuple(shape):
            return source
        size = 1
        for v in shape:
            size *= v
        if len(target) == 1 and target[0] in (size, -1):
            return self._emit("flatten", name, {}, sources)
        maker = next((layer for layer in self.layers if layer.name == source), None)
        if (
            len(shape) == 1
            and target[-1] in (shape[0], -1)
            and all(v == 1 for v in target[:-1])
            and len(target) == len(self.input_shape)
            and maker is not None
            and maker.op in ("global_avgpool", "global_maxpool")
        ):
            maker.attrs["keepdims"] = True  # the pool's own 1x1 axes, instead of a reshape
            return source
        raise self._unsupported(
            name,
            f"only a reshape to a vector, or of a pooled vector to (1, 1, C), maps; "
            f"{tuple(shape)} → {tuple(target)} is something else",
        )

    def _channels(self, source: str) -> int:
        """The channels of a layer's output (for depthwise filters)."""
        return int(self._shape_of(source)[-1])

    def _shape_of(self, source: str) -> tuple[int, ...]:
        """A layer's output shape, from the spec so far."""
        from archcalc.analysis.shapes import infer_shapes
        from archcalc.diagnostics import Diagnostics
        from archcalc.interop.model import to_yaml
        from archcalc.spec import load

        if source == "input":
            return tuple(self.input_shape)
        model = ImportedModel(self.input_shape, self.layers, {})
        graph = load("partial.yaml", to_yaml(model, "partial", "")).graph
        layer = infer_shapes(graph, Diagnostics(), False)[source]
        assert layer is not None
        return tuple(layer.output)


def _numbers(value: Any) -> Any:
    """A Keras scalar or per-channel list as an affine attribute value."""
    if isinstance(value, (list, tuple)):
        values = [float(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    if hasattr(value, "tolist"):
        return _numbers(value.tolist())
    return float(value)


def _flat(value: Any) -> list[float]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [float(value)]


def _drop_neutral(attrs: dict[str, Any]) -> dict[str, Any]:
    neutral = {"scale": 1.0, "shift": 0.0}
    return {k: v for k, v in attrs.items() if v != neutral[k]}


def _one(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    return int(value)


@dataclass
class _Planned:
    keras_name: str  # the layer's name (a legacy .h5 file keys its weights by it)
    h5_path: str  # where a Keras 3 archive keeps its variables
    targets: list[tuple[str, str]]  # the archcalc (layer, key) each variable fills, in order


def _h5py(shown: str) -> Any:
    try:
        import h5py
    except ImportError:
        raise _fail(
            f"reading the weights in '{shown}' needs h5py",
            "pip install 'archcalc[keras]'",
            code="missing-extra",
        ) from None
    return h5py


def _convert(key: str, array: Any) -> tuple[str, Any]:
    """A Keras variable in the layout archcalc keeps."""
    if key == "depthwise_kernel":
        # (kh, kw, C, multiplier) → a grouped conv's (kh, kw, 1, C·multiplier): group c makes
        # outputs c·m ... c·m + m − 1, as Keras orders them
        return "kernel", array.reshape(*array.shape[:-2], 1, -1)
    if key == "transposed_kernel":  # (kh, kw, out, in) → (kh, kw, in, out)
        return "kernel", array.swapaxes(-1, -2)
    return key, array


class _Keras3Weights:
    """The variables of a Keras 3 archive's model.weights.h5: ``layers/<snake>/vars/<i>``."""

    def __init__(self, data: bytes, shown: str) -> None:
        self.data, self.shown = data, shown

    def arrays(self, keras_name: str, h5_path: str) -> list[Any]:
        import io

        import numpy as np

        try:
            with _h5py(self.shown).File(io.BytesIO(self.data), "r") as f:
                group = f.get(f"{h5_path}/vars")
                if group is None:
                    raise _fail(
                        f"'{self.shown}': the weights of layer '{keras_name}' are not where "
                        f"Keras 3 keeps them ({h5_path}/vars)",
                        "save the model with Keras 3 (model.save('x.keras'))",
                    )
                return [np.asarray(group[str(i)], dtype=np.float32) for i in range(len(group))]
        except OSError as err:
            raise _fail(f"'{self.shown}': cannot read its weights ({err})") from None

    def read(self, plan: list[_Planned]) -> dict[str, Any]:
        return _fill(plan, self.arrays, self.shown)


class _LegacyWeights:
    """A Keras 2 HDF5 file's ``model_weights/<layer>``, in its ``weight_names`` order."""

    def __init__(self, group: Any, shown: str) -> None:
        self.group, self.shown = group, shown

    def arrays(self, keras_name: str, h5_path: str) -> list[Any]:
        import numpy as np

        layer = self.group.get(keras_name)
        if layer is None:
            raise _fail(f"'{self.shown}' has no weights for layer '{keras_name}'")
        names = [n.decode() if isinstance(n, bytes) else n for n in layer.attrs["weight_names"]]
        return [np.asarray(layer[n], dtype=np.float32) for n in names]

    def read(self, plan: list[_Planned]) -> dict[str, Any]:
        return _fill(plan, self.arrays, self.shown)


def _fill(plan: list[_Planned], arrays: Any, shown: str) -> dict[str, Any]:
    weights: dict[str, Any] = {}
    for item in plan:
        found = arrays(item.keras_name, item.h5_path)
        if len(found) != len(item.targets):
            raise _fail(
                f"'{shown}': layer '{item.keras_name}' has {len(found)} weight arrays, "
                f"expected {len(item.targets)}",
                "save the model again with the Keras that made it",
            )
        for (layer, key), array in zip(item.targets, found):
            key, array = _convert(key, array)
            weights[f"{layer}.{key}"] = array
    return weights
