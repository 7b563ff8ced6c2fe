"""The report: plain data produced by the analyzers, read by every renderer.

``Report.to_json()`` is the stable contract described in docs/json-report.md: fields may be
added, none may change meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archcalc.diagnostics import Diagnostic, Pos
from archcalc.shapes import Shape

if TYPE_CHECKING:  # a runtime import would make report and analysis import each other
    from archcalc.analysis.rf import Field


WINDOW_FIELDS = ("kernel", "stride", "padding", "dilation", "groups")


@dataclass
class LayerRow:
    name: str
    type: str
    family: str
    inputs: list[str]
    output_shape: Shape | None  # None when the shape could not be inferred
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    counted: int = 0  # what the report's counting convention counts for this layer
    activation_bytes: int = 0
    receptive_field: Field | None = None
    describe: str = ""
    fit: str = ""  # "", "info", "warning" or "error": the worst stride-fit finding
    weights: dict[str, Shape] = field(default_factory=dict)
    scope: tuple[str, ...] = ()
    pos: Pos | None = None
    rf_note: str = ""  # why the receptive field is not defined, when it is not
    explain: list[tuple[str, str]] | None = None  # (figure, formula), with --explain only
    # The sliding window's resolved hyperparameters: kernel, stride, padding (before, after per
    # axis), dilation per spatial axis, and groups; empty for layers without a window.
    window: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "inputs": self.inputs,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "counted": self.counted,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.receptive_field.to_json() if self.receptive_field else None,
            "weights": {k: list(v) for k, v in self.weights.items()},
            "stride_fit": self.fit or "exact",
            "scope": list(self.scope),
            **{key: self.window.get(key) for key in WINDOW_FIELDS},
        }
        if self.rf_note:
            found["receptive_field_note"] = self.rf_note
        if self.explain is not None:
            found["explain"] = [{"figure": f, "formula": text} for f, text in self.explain]
        return found


@dataclass
class Totals:
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    counted: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    input_bytes: int = 0
    activation_bytes: int = 0
    peak_activation_bytes: int = 0

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def keras_params(self) -> int:
        """Keras' count_params(): learned parameters plus stored statistics."""
        return self.params + self.buffers

    def to_json(self) -> dict[str, int]:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "buffers": self.buffers,
            "keras_params": self.keras_params,
            "macs": self.macs,
            "flops": self.flops,
            "param_bytes": self.param_bytes,
            "buffer_bytes": self.buffer_bytes,
            "input_bytes": self.input_bytes,
            "activation_bytes": self.activation_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
        }


@dataclass
class Report:
    name: str
    file: str
    source: str
    input_shape: Shape
    batch: int
    dtype: str
    strict: bool
    layers: list[LayerRow]
    totals: Totals
    diagnostics: list[Diagnostic]
    count: str = "archcalc"  # the counting convention of `counted` (archcalc/counting.py)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "strict": self.strict,
            "layers": [row.to_json() for row in self.layers],
            "totals": self.totals.to_json(),
            "count": {"convention": self.count, "total": self.totals.counted},
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }
