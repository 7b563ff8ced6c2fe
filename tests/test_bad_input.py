"""Every kind of mistake gets file:line:column, what was expected, a hint, the right exit code,
and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import analyse, cli

CASES = [
    # (name, file content, exit code, expected "line:col: severity: message" fragments, hint fragment)
    ("empty", "", 2, ["1:1: error: the spec is empty"], "input:"),
    (
        "syntax",
        "layers: [\n  - conv: {filters: 3\n",
        2,
        ["2:3: error: YAML syntax error"],
        "closed",
    ),
    (
        "not-a-mapping",
        "- conv\n- relu\n",
        2,
        ["1:1: error: expected a mapping with 'input:' and 'layers:'"],
        "input: 32x32x3",
    ),
    (
        "no-input",
        "layers: [relu]\n",
        2,
        ["1:1: error: the spec has no 'input:' shape"],
        "227x227x3",
    ),
    (
        "bad-input",
        "input: 7xx7\nlayers: [relu]\n",
        2,
        ["1:8: error: expected a shape like 227x227x3, got '7xx7'"],
        "H x W x C",
    ),
    (
        "negative-input",
        "input: -7x7x1\nlayers: [relu]\n",
        2,
        ["1:8: error: shape -7x7x1 has a size of -7"],
        "",
    ),
    (
        "unknown-layer",
        "input: 7x7x1\nlayers:\n  - maxpoool: 2\n",
        2,
        ["3:5: error: unknown layer type 'maxpoool'"],
        "did you mean 'maxpool'",
    ),
    (
        "unknown-key",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernal: 3}\n",
        2,
        ["3:24: error: conv has no attribute 'kernal'"],
        "did you mean 'kernel'",
    ),
    (
        "unknown-top-key",
        "input: 7x7x1\nlayer: [relu]\n",
        2,
        ["2:1: error: unknown top-level key 'layer'"],
        "did you mean 'layers'",
    ),
    (
        "wrong-type",
        "input: 7x7x1\nlayers:\n  - conv: {filters: four, kernel: 3}\n",
        2,
        ["3:21: error: conv filters: expected an integer, got the text 'four'"],
        "whole number",
    ),
    (
        "zero-stride",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernel: 3, stride: 0}\n",
        2,
        ["3:43: error: conv stride: sizes must be positive, got 0"],
        "positive whole number",
    ),
    (
        "negative-kernel",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernel: -3}\n",
        2,
        ["3:32: error: conv kernel: sizes must be positive, got -3"],
        "",
    ),
    (
        "missing-attribute",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1}\n",
        2,
        ["3:5: error: conv needs 'kernel'"],
        "add 'kernel: ...'",
    ),
    (
        "two-keys",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernel: 3}\n    relu:\n",
        2,
        ["4:5: error: a layer item has exactly one type key"],
        "new '- '",
    ),
    (
        "duplicate-key",
        "input: 7x7x1\nlayers:\n  - conv: {filters: 1, kernel: 3, filters: 2}\n",
        2,
        ["3:35: error: duplicate key 'filters'"],
        "once",
    ),
    (
        "duplicate-name",
        "input: 7x7x1\nlayers:\n  - relu: {name: a}\n  - relu: {name: a}\n",
        2,
        ["4:18: error: layer name 'a' is already used"],
        "unique",
    ),
    (
        "undefined-reference",
        "input: 7x7x1\nlayers:\n  - relu: {name: a}\n  - relu: {inputs: [b]}\n",
        2,
        ["4:21: error: relu1: 'inputs' names 'b', but no layer has that name"],
        "'input'",
    ),
    (
        "cycle",
        "input: 8x8x3\nlayers:\n  - relu: {name: a, inputs: [c]}\n  - relu: {name: c, inputs: [a]}\n",
        2,
        ["3:30: error: the layers form a cycle: a → c → a"],
        "come before",
    ),
    (
        "unknown-block-arg",
        "input: 8x8x3\nblocks:\n  b:\n    args: {w: 1}\n    layers: [conv: {filters: $w, kernel: 1}]\nlayers:\n  - b: {width: 2}\n",
        2,
        ["7:9: error: block 'b' has no argument 'width'"],
        "its arguments are w",
    ),
    (
        "unknown-dollar",
        "input: 8x8x3\nblocks:\n  b:\n    args: {w: 1}\n    layers: [conv: {filters: $x, kernel: 1}]\nlayers:\n  - b\n",
        2,
        ["5:30: error: '$x' is not an argument of block 'b'"],
        "",
    ),
    (
        "channel-mismatch",
        Path("tests/data/channel-mismatch.yaml").read_text(),
        1,
        ["6:5: error: add1: add needs equal shapes, got 8x8x4, 8x8x8 (the channels differ)"],
        "1x1 conv",
    ),
    (
        "no-output",
        "input: 4x4x1\nlayers:\n  - conv: {filters: 1, kernel: 5}\n",
        1,
        ["3:5: error: conv1: the 5-wide window does not fit the 4-long axis 0"],
        "smaller kernel",
    ),
    (
        "groups",
        "input: 4x4x3\nlayers:\n  - conv: {filters: 4, kernel: 1, groups: 2}\n",
        1,
        ["error: conv1: groups=2 does not divide the 3 input channels"],
        "divisor of 3",
    ),
    (
        "flat-conv",
        "input: 10\nlayers:\n  - conv: {filters: 4, kernel: 1}\n",
        1,
        ["3:5: error: conv1: conv needs spatial axes"],
        "HxWxC",
    ),
    (
        "kernel-rank",
        "input: 100x1\nlayers:\n  - conv: {filters: 4, kernel: [3, 3]}\n",
        1,
        ["error: conv1: kernel has 2 values but the input 100x1 has 1 spatial axis"],
        "one kernel per spatial axis",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "code", "messages", "hint"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input(
    tmp_path: Path, name: str, text: str, code: int, messages: list[str], hint: str
) -> None:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli("summarize", str(spec))
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for message in messages:
        assert f"{spec}:{message}" in result.stderr or message in result.stderr, result.stderr
    assert str(spec) in result.stderr  # every message names the file
    if hint:
        assert "hint:" in result.stderr and hint in result.stderr, result.stderr


def test_binary_file(tmp_path: Path) -> None:
    spec = tmp_path / "junk.yaml"
    spec.write_bytes(bytes(range(256)) * 12)
    result = cli("summarize", str(spec))
    assert result.exit_code == 2
    assert f"{spec}:1:1: error: '{spec}' is a binary file" in result.stderr
    assert "\x00" not in result.stderr


def test_not_utf8(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes("input: 7x7x1\n# caf\xe9\n".encode("latin-1"))
    result = cli("summarize", str(spec))
    assert result.exit_code == 2
    assert f"{spec}:2:1: error:" in result.stderr and "not UTF-8" in result.stderr


def test_missing_file_and_misspelt_bundled_name() -> None:
    result = cli("summarize", "/nonexistent/spec.yaml")
    assert result.exit_code == 2
    assert "no such file or bundled spec: '/nonexistent/spec.yaml'" in result.stderr
    result = cli("summarize", "alexnett")
    assert result.exit_code == 2 and "did you mean 'alexnet'" in result.stderr


def test_directory_is_not_a_spec(tmp_path: Path) -> None:
    result = cli("summarize", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_all_errors_reported_in_one_run(tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "input: 8x8x3\nlayers:\n  - conv: {filters: x, kernel: 3}\n  - maxpol: 2\n  - dense: {units: 0}\n",
        encoding="utf-8",
    )
    result = cli("summarize", str(spec))
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 3


def test_bad_cli_input_shape() -> None:
    # 224x224 reads as a 1-D signal (224 samples, 224 channels): legal, but surely not meant
    result = cli("summarize", "alexnet", "--input", "224x224")
    assert result.exit_code == 0
    assert (
        "warning: --input 224x224 has 1 spatial axis but the spec's input 227x227x3 has 2"
        in result.stderr
    )
    result = cli("summarize", "alexnet", "--input", "banana")
    assert result.exit_code == 2 and "expected a shape like 227x227x3" in result.stderr


def test_nested_too_deep_is_a_message(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("input: 8x8x3\nlayers: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = cli("summarize", str(spec))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_a_name_equal_to_the_type_is_kept(tmp_path: Path) -> None:
    spec = tmp_path / "named.yaml"
    spec.write_text(
        "input: 8x8x3\nlayers:\n  - conv: {name: conv, filters: 2, kernel: 1}\n  - conv: {filters: 2, kernel: 1}\n",
        encoding="utf-8",
    )
    result = cli("summarize", str(spec), "--format", "csv")
    assert result.exit_code == 0
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:3]] == ["conv", "conv1"]


def test_output_padding_written_as_its_default_zero_is_accepted() -> None:
    # 0 is the default, so writing it out must mean the same net, per axis too
    for value in ("0", "[0, 0]"):
        report = analyse(
            f"""
            input: 5x5x2
            layers:
              - conv_transpose: {{filters: 3, kernel: 3, stride: 2, output_padding: {value}}}
            """
        )
        assert not report.has_errors, report.diagnostics
        assert report.layers[0].output_shape == (11, 11, 3)  # (5 − 1)·2 + 3 = 11
