"""Golden outputs for the CLI: stdout, stderr and exit code of representative runs.

Run `pytest tests/test_cli_golden.py --update` to regenerate them after an intended change,
then read the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli

GOLDEN = Path(__file__).parent / "golden"

RUNS = {
    "summarize-alexnet": ["summarize", "alexnet"],
    "summarize-alexnet-csv": ["summarize", "alexnet", "--format", "csv"],
    "summarize-alexnet-markdown": [
        "summarize",
        "alexnet",
        "--format",
        "markdown",
        "--batch",
        "8",
        "--dtype",
        "float16",
    ],
    "summarize-cs231n-json": ["summarize", "cs231n-conv-example", "--format", "json"],
    "summarize-stride3": ["summarize", "tests/data/stride3.yaml"],
    "summarize-stride3-strict": ["summarize", "tests/data/stride3.yaml", "--strict"],
    "check-mixed": [
        "check",
        "alexnet",
        "tests/data/stride3.yaml",
        "tests/data/channel-mismatch.yaml",
    ],
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden(name: str, update_golden: bool) -> None:
    result = cli(*RUNS[name])
    actual = f"$ archcalc {' '.join(RUNS[name])}\n--- exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    path = GOLDEN / f"{name}.txt"
    if update_golden or not path.exists():
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def test_json_contract() -> None:
    """The JSON report has every field docs/json-report.md promises, with the documented types."""
    data = json.loads(cli("summarize", "resnet50", "--format", "json").stdout)
    assert set(data) >= {"name", "input_shape", "layers", "totals", "diagnostics"}
    assert data["input_shape"] == [224, 224, 3]
    for layer in data["layers"]:
        assert set(layer) >= {
            "name",
            "type",
            "inputs",
            "output_shape",
            "params",
            "trainable_params",
            "macs",
            "flops",
            "activation_bytes",
            "receptive_field",
        }
        assert set(layer["receptive_field"]) == {"size", "stride", "offset"}
    assert set(data["totals"]) >= {
        "params",
        "trainable_params",
        "macs",
        "flops",
        "param_bytes",
        "activation_bytes",
    }
    assert data["totals"]["params"] == 25_557_032
    assert data["totals"]["param_bytes"] == 4 * 25_557_032
    for d in data["diagnostics"]:
        assert set(d) >= {"severity", "code", "message", "layer", "file", "line", "column"}
        assert d["file"].endswith("resnet50.yaml") and d["line"] > 0


def test_json_gives_resolved_window_hyperparameters() -> None:
    """ResNet-50's stem: 7x7/2 conv, padding 3 (PyTorch's); 3x3/2 max pool, padding 1; pooling
    and element-wise layers have no groups, and layers without a window give nulls."""
    layers = json.loads(cli("summarize", "resnet50", "--format", "json").stdout)["layers"]
    keys = ("kernel", "stride", "padding", "dilation", "groups")
    conv, bn, relu, pool = ({k: row[k] for k in keys} for row in layers[:4])
    assert conv == {
        "kernel": [7, 7],
        "stride": [2, 2],
        "padding": [[3, 3], [3, 3]],
        "dilation": [1, 1],
        "groups": 1,
    }
    assert bn == relu == dict.fromkeys(keys)
    assert pool == {
        "kernel": [3, 3],
        "stride": [2, 2],
        "padding": [[1, 1], [1, 1]],
        "dilation": [1, 1],
        "groups": None,
    }


def test_check_exit_codes() -> None:
    assert cli("check", "alexnet", "vgg16", "resnet50").exit_code == 0
    assert cli("check", "tests/data/stride3.yaml").exit_code == 0  # a warning only
    assert cli("check", "tests/data/stride3.yaml", "-W").exit_code == 1
    assert cli("check", "tests/data/stride3.yaml", "--strict").exit_code == 1
    assert cli("check", "alexnet", "/nonexistent.yaml").exit_code == 2
