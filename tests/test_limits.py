"""Issue #9 items 1, 2 and 6: every unbounded input stops at a named limit, with a positioned
message naming the setting that raises it, and exit status 2. (How fast and how small is
measured by benchmarks/bench_limits.py, not here.)"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from archcalc.cli import main


def run_cli(
    *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None
) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def refused(result: Result, where: str, setting: str) -> None:
    assert result.exit_code == 2, result.output
    assert where in result.stderr, result.stderr
    assert setting in result.stderr, result.stderr
    assert "Traceback" not in result.output


# -- layers after repeat: (item 1) ------------------------------------------------------------


def test_repeat_a_billion_is_refused_before_building(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 8x8x4\nlayers:\n  - repeat: 1000000000\n    relu:\n")
    result = run_cli("summarize", spec)
    refused(result, "net.yaml:3:13: error: 'repeat: 1,000,000,000'", "ARCHCALC_MAX_LAYERS")


def test_repeat_of_an_argument_product(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: 8x8x4\nblocks:\n  many:\n    args: {n: 1000}\n    layers:\n"
        "      - repeat: $n*$n*$n\n        relu:\n"
        "layers:\n  - many: {n: 1000000}\n",
    )
    refused(run_cli("summarize", spec), "net.yaml:6:17: error: 'repeat: ", "ARCHCALC_MAX_LAYERS")


def test_an_argument_product_past_any_count_is_an_expression_error(tmp_path: Path) -> None:
    # $n*$n*... with huge n would grow numbers without bound; the expression is refused
    spec = write(
        tmp_path,
        "input: 8x8x4\nblocks:\n  many:\n    args: {n: 1}\n    layers:\n"
        "      - repeat: $n*$n*$n*$n*$n*$n\n        relu:\n"
        "layers:\n  - many: {n: 1000000000}\n",
    )
    result = run_cli("summarize", spec)
    assert result.exit_code == 2
    assert "the result is larger than" in result.stderr


def test_nested_repeats_multiply_before_building(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: 8x8x4\nlayers:\n  - repeat: 1000\n    sequential:\n"
        "      - repeat: 1000\n        sequential:\n          - repeat: 1000\n            relu:\n",
    )
    refused(run_cli("summarize", spec), "net.yaml:5:17: error: 'repeat: 1,000'", "MAX_LAYERS")


def test_repeated_block_calls_multiply(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: 8x8x4\nblocks:\n  a: [{repeat: 50, relu: null}]\n"
        "  b: [{repeat: 50, a: null}]\nlayers:\n  - repeat: 100\n    b:\n",
    )
    refused(
        run_cli("check", spec), "net.yaml:6:13: error: 'repeat: 100' of 2,551 layers", "MAX_LAYERS"
    )


def test_many_written_out_layers_are_counted_too(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 8x8x4\nlayers:\n" + "  - relu\n" * 10_001)
    refused(run_cli("summarize", spec), "net.yaml:10003:5: error: the spec expands", "MAX_LAYERS")


def test_the_layer_limit_can_be_raised(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 2x1\nlayers:\n  - repeat: 12000\n    relu:\n")
    assert run_cli("summarize", spec).exit_code == 2
    result = run_cli("summarize", spec, env={"ARCHCALC_MAX_LAYERS": "20000"})
    assert result.exit_code == 0, result.stderr
    assert "relu12000" in result.stdout


def test_a_bad_limit_setting_is_a_usage_error(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 2x1\nlayers: [relu]\n")
    result = run_cli("summarize", spec, env={"ARCHCALC_MAX_LAYERS": "lots"})
    assert result.exit_code == 2
    assert "ARCHCALC_MAX_LAYERS='lots' is not a positive whole number" in result.stderr


# -- YAML aliases (item 1) --------------------------------------------------------------------

BOMB = "".join(
    f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "relu"] * 10) + "]\n" for i in range(9)
)


def test_alias_bomb_in_description(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 8x8x1\ndescription:\n" + BOMB + "layers: [relu]\n")
    refused(
        run_cli("summarize", spec),
        "net.yaml:8:7: error: this value holds more than 200,000 YAML values",
        "ARCHCALC_MAX_YAML_NODES",
    )


def test_alias_bomb_in_blocks(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 8x8x1\nblocks:\n" + BOMB + "layers: [l8]\n")
    refused(run_cli("summarize", spec), "net.yaml:8:7: error: this value holds", "YAML_NODES")


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 8x8x1\nlayers: &a [relu, *a]\n")
    result = run_cli("summarize", spec)
    assert result.exit_code == 2
    assert "net.yaml:2:9: error: an alias refers to the collection that contains it" in (
        result.stderr
    )


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: 8x8x1\nblocks:\n  unit: &unit [conv: {filters: 2, kernel: 3, pad: 1}, relu]\n"
        "layers: [sequential: *unit, sequential: *unit]\n",
    )
    assert run_cli("check", spec).exit_code == 0


# -- spec size (item 1) -----------------------------------------------------------------------


def test_dev_zero_stops_at_the_size_limit() -> None:
    refused(
        run_cli("summarize", "/dev/zero"),
        "/dev/zero:1:1: error: '/dev/zero' is larger",
        "ARCHCALC_MAX_SPEC_BYTES",
    )


def test_a_50_mb_file_stops_at_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "w") as fh:
        fh.write("input: 8x8x4\nlayers:\n")
        fh.write("  - relu\n" * (50_000_000 // 9))
    refused(run_cli("check", str(path)), "big.yaml:1:1: error:", "ARCHCALC_MAX_SPEC_BYTES")


def test_an_endless_pipe_stops_at_the_size_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:
        try:
            with open(fifo, "wb") as fh:
                while not stop.is_set():
                    fh.write(b"# more\n" * 4096)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        refused(run_cli("summarize", str(fifo)), "spec.fifo:1:1: error:", "ARCHCALC_MAX_SPEC_BYTES")
    finally:
        stop.set()
        writer.join(timeout=5)


def test_the_size_limit_reads_units(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 2x1\nlayers: [relu]\n" + "#" * 3000 + "\n")
    assert run_cli("check", spec, env={"ARCHCALC_MAX_SPEC_BYTES": "2K"}).exit_code == 2
    assert run_cli("check", spec, env={"ARCHCALC_MAX_SPEC_BYTES": "4KiB"}).exit_code == 0


def test_stdin_is_read_with_the_same_limit() -> None:
    result = run_cli("summarize", "-", stdin=b"#" * (2**19 + 10))
    refused(result, "<stdin>:1:1: error: '<stdin>' is larger", "ARCHCALC_MAX_SPEC_BYTES")


# -- nesting depth (item 6) -------------------------------------------------------------------


def nested_residuals(n: int) -> str:
    lines, indent = ["input: 8x8x4", "layers:"], "  "
    for _ in range(n):
        lines += [f"{indent}- residual:", f"{indent}    body:"]
        indent += "      "
    return "\n".join([*lines, f"{indent}- relu", ""])


def test_150_nested_residuals_are_fine(tmp_path: Path) -> None:
    result = run_cli("summarize", write(tmp_path, nested_residuals(150)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(" add ") == 150


def test_too_deep_nesting_is_positioned_and_names_the_setting(tmp_path: Path) -> None:
    result = run_cli("summarize", write(tmp_path, nested_residuals(170)))
    # level 501 of the YAML, 3 levels a residual: the 167th residual's item, at line 2 * 167 + 1
    refused(result, "net.yaml:335:1001: error:", "ARCHCALC_MAX_DEPTH")
    assert "nested more than 500 levels deep here" in result.stderr


def test_the_depth_limit_can_be_raised(tmp_path: Path) -> None:
    spec = write(tmp_path, nested_residuals(400))
    env = {"ARCHCALC_MAX_DEPTH": "2000", "ARCHCALC_MAX_SPEC_BYTES": "8MiB"}
    result = run_cli("summarize", spec, env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(" add ") == 400


def test_blocks_calling_blocks_count_towards_the_depth(tmp_path: Path) -> None:
    chain = "".join(f"  b{i}: [b{i + 1}]\n" for i in range(200)) + "  b200: [relu]\n"
    spec = write(tmp_path, "input: 8x8x4\nblocks:\n" + chain + "layers: [b0]\n")
    result = run_cli("summarize", spec, env={"ARCHCALC_MAX_DEPTH": "100"})
    refused(
        result,
        "error: with its blocks written out, the spec nests more than 100",
        "ARCHCALC_MAX_DEPTH",
    )
    assert run_cli("summarize", spec).exit_code == 0


# -- run's inputs (item 2) --------------------------------------------------------------------

BOX = "input: 4x4x1\nlayers:\n  - conv: {filters: 1, kernel: 2}\n"


def sparse_npy(path: Path, shape: tuple[int, ...], size: int) -> str:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
        fh.truncate(size)  # sparse: no disk used
    return str(path)


def test_a_120_gb_input_is_refused_from_its_header(tmp_path: Path) -> None:
    x = sparse_npy(tmp_path / "huge.npy", (1, 30_000, 1_000_000, 1), 120 * 10**9)
    result = run_cli("run", write(tmp_path, BOX), "--input", x, "--random-weights")
    assert result.exit_code == 2
    assert "huge.npy' would take 111." in result.stderr  # 1.2e11 bytes
    assert "GiB to load (1x30000x1000000x1 values)" in result.stderr
    assert "ARCHCALC_MAX_INPUT_BYTES" in result.stderr or "--max-memory" in result.stderr


def test_an_8_gib_input_is_refused_by_max_memory_before_loading(tmp_path: Path) -> None:
    x = sparse_npy(tmp_path / "big.npy", (2, 32768, 32768, 1), 8 * 2**30 + 128)
    result = run_cli(
        "run", write(tmp_path, BOX), "--input", x, "--random-weights", "--max-memory", "1GiB"
    )
    assert result.exit_code == 2
    assert "big.npy' would take 8.0" in result.stderr
    assert "over the memory limit of 1.0" in result.stderr and "(--max-memory)" in result.stderr
    assert "--batch" not in result.stderr  # run has no --batch


def test_the_input_limit_can_be_lowered(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 4), dtype=np.float32))
    args = ("run", write(tmp_path, BOX), "--input", str(tmp_path / "x.npy"), "--random-weights")
    assert run_cli(*args).exit_code == 0
    result = run_cli(*args, env={"ARCHCALC_MAX_INPUT_BYTES": "32"})
    assert result.exit_code == 2
    assert "over the input limit" in result.stderr
    assert "ARCHCALC_MAX_INPUT_BYTES" in result.stderr


def test_run_refusal_by_estimate_suggests_only_run_options(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: 64x64x3\nlayers:\n  - conv: {filters: 512, kernel: 3, pad: 1}\n")
    np.save(tmp_path / "x.npy", np.zeros((64, 64, 3), dtype=np.float32))
    result = run_cli(
        "run", spec, "--input", str(tmp_path / "x.npy"), "--random-weights", "--max-memory", "1MiB"
    )
    assert result.exit_code == 2
    assert "would need about" in result.stderr
    assert "--batch" not in result.stderr and "--layer" in result.stderr


# -- names and stdin (item 6) -----------------------------------------------------------------


def test_layer_names_in_other_scripts(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: 8x8x3\nlayers:\n  - conv: {name: свёртка_1, filters: 4, kernel: 3}\n"
        "  - relu: {name: 激活}\n  - maxpool: {name: pool-α, kernel: 2}\n",
    )
    result = run_cli("summarize", spec, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert {"свёртка_1", "激活", "pool-α"} <= {
        line.split(",")[0] for line in result.stdout.splitlines()
    }


@pytest.mark.parametrize("name", ["a b", "x,y", 'q"', "-lead", "1st", "a.b", "tab\tname"])
def test_names_stay_safe_for_csv_and_dot(tmp_path: Path, name: str) -> None:
    spec = write(tmp_path, f"input: 8x8x3\nlayers:\n  - relu: {{name: {name!r}}}\n")
    result = run_cli("check", spec)
    assert result.exit_code == 2
    assert "net.yaml:3:" in result.stderr and "a layer name must be a plain word" in result.stderr


STDIN_COMMANDS = [
    ("summarize",),
    ("check",),
    ("rf",),
    ("verify",),
]


@pytest.mark.parametrize("command", STDIN_COMMANDS, ids=lambda c: c[0])
def test_every_spec_command_reads_stdin(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "-", stdin=BOX)
    assert result.exit_code == 0, result.stderr


def test_draw_and_run_read_stdin(tmp_path: Path) -> None:
    out = tmp_path / "box.dot"
    assert run_cli("draw", "-", "-o", str(out), stdin=BOX).exit_code == 0
    assert "digraph" in out.read_text()
    result = run_cli(
        "run",
        "-",
        "--input",
        "[[1,2,3,4],[5,6,7,8],[1,2,3,4],[5,6,7,8]]",
        "--random-weights",
        stdin=BOX,
    )
    assert result.exit_code == 0, result.stderr


def test_stdin_errors_are_named_stdin_and_show_the_line() -> None:
    result = run_cli("summarize", "-", stdin="input: 4x4x1\nlayers:\n  - conv: {filter: 1}\n")
    assert result.exit_code == 2
    assert "<stdin>:3:12: error: conv has no attribute 'filter'" in result.stderr
    assert "3 |   - conv: {filter: 1}" in result.stderr


def test_check_names_stdin(tmp_path: Path) -> None:
    result = run_cli("check", "-", "--format", "csv", stdin=BOX)
    assert "<stdin>,ok,clean" in result.stdout


def test_a_read_only_spec_is_read(tmp_path: Path) -> None:
    spec = write(tmp_path, BOX)
    os.chmod(spec, stat.S_IRUSR)
    assert run_cli("check", spec).exit_code == 0
