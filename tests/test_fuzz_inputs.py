"""Property suite, hostile half (issue #9): mutated specs and mutated command lines through the
real CLI. Whatever the input, archcalc ends with exit status 0, 1 or 2, never a traceback, and
exit status 2 comes with a message: ``file:line:column: error:`` for anything wrong inside a
spec, a named message for bad usage. Each example runs under a time and address-space bound,
so a hang or a memory blow-up is a failure too, not a stuck test run.

The mutations start from every bundled spec and every spec in tests/data and change values
(huge, negative, of the wrong kind), keys, structure (deleted, duplicated, wrapped, repeated),
and the YAML itself (junk characters, cut files, anchors and aliases, deep nesting). Example
counts: a few seconds in the normal run; ``ARCHCALC_HYPOTHESIS=ci`` (set by .ci/run) runs the
longer profile (see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given, note, settings
from hypothesis import strategies as st

from archcalc.cli import main
from tests.helpers import examples

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/data/*.yaml")])
SMALL_SEEDS = [p for p in SEEDS if p.stat().st_size < 1500]
SECONDS = 20  # per example: far above any real run; reaching it means a hang
EXTRA_MEMORY = 3 * 2**30  # per example, over what the test process already maps

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
POSITIONED = re.compile(r"^.+:\d+:\d+: error: ", re.MULTILINE)
NAMED = re.compile(r"^(archcalc: error: |error: |Error: )", re.MULTILINE)

WORDS = [
    "input", "layers", "blocks", "args", "name", "inputs", "repeat", "body", "shortcut",
    "branches", "merge", "strict", "description", "conv", "conv1d", "dense", "relu",
    "maxpool", "avgpool", "global_avgpool", "batchnorm", "dropout", "flatten", "add", "concat",
    "residual", "parallel", "sequential", "identity", "filters", "kernel", "stride", "pad",
    "padding", "dilation", "groups", "units", "bias", "trainable", "weights", "scale", "flip",
    "same", "valid", "depthwise", "Свёртка", "层", "$width", "$n*$n", "x", "",
]  # fmt: skip
HUGE = [2**31, 2**63, 10**9, 10**12, 10**30, 4_000_000, 2_000_000, -(10**9), 10**400]
YAML_BITS = [
    "[", "]", "{", "}", ":", ": ", "- ", "-", ",", "&a ", "*a", "<<: *a", "!!str ", "!!python/object:os.system ", "\t", "\n",
    "'", '"', "#", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "?", "\x00", "\ufeff", "é", "1e400", "~",
]  # fmt: skip


@contextlib.contextmanager
def bounded(seconds: int = SECONDS, extra: int = EXTRA_MEMORY) -> Iterator[None]:
    """Fail (TimeoutError / MemoryError) instead of hanging or eating the machine."""

    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    cap = mapped + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: list[str], stdin: str | None = None) -> Result:
    with bounded():
        return CliRunner().invoke(main, args, input=stdin)


def check_outcome(result: Result, spec_error_positioned: bool) -> None:
    """The properties: a known exit status, no traceback, exit 2 explained."""
    note(f"exit {result.exit_code}\nstderr:\n{result.stderr[-3000:]}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("uncaught exception") from result.exception
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        if spec_error_positioned:
            assert POSITIONED.search(result.stderr), "exit 2 without file:line:column"
        else:
            assert POSITIONED.search(result.stderr) or NAMED.search(result.stderr), (
                "exit 2 without a message"
            )


# -- mutations -------------------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HUGE),
        st.integers(-3, 20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(WORDS),
        st.text(max_size=12),
        st.none(),
        st.booleans(),
        st.lists(st.integers(-2, 9), max_size=5),
        st.just({}),
        st.just([]),
    )


def slots(data: Any, most: int = 5000) -> list[tuple[Any, Any]]:
    """(container, key-or-index) pairs in parsed YAML data, each container once (YAML aliases
    share containers: walking copies would be exponential), at most ``most``."""
    found: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    todo = [data]
    while todo and len(found) < most:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        keys = list(item) if isinstance(item, dict) else range(len(item))
        for key in keys:
            found.append((item, key))
            if isinstance(item[key], (dict, list)):
                todo.append(item[key])
    return found


def structural(draw: Draw, text: str) -> str:
    try:
        data = yaml.load(text, Loader=LOADER)
    except (yaml.YAMLError, RecursionError):
        return text
    if not isinstance(data, (dict, list)) or not (places := slots(data)):
        return text
    container, key = draw(st.sampled_from(places))
    op = draw(st.sampled_from(["value", "delete", "rename", "duplicate", "repeat", "wrap"]))
    if op == "value":
        container[key] = draw(scalars())
    elif op == "delete":
        del container[key]
    elif op == "rename" and isinstance(container, dict):
        new = draw(st.sampled_from(WORDS))
        container[new] = container.pop(key)
    elif op == "duplicate" and isinstance(container, list):
        times = draw(st.sampled_from([2, 3, 50, 3000]))
        container[key:key] = [container[key]] * times
    elif op == "repeat":
        count = draw(st.one_of(st.sampled_from(HUGE), st.integers(0, 5), st.just("$n*$n*$n")))
        value = container[key]
        container[key] = (
            {**value, "repeat": count}
            if isinstance(value, dict)
            else {str(value): None, "repeat": count}
        )
    elif op == "wrap":
        kind = draw(st.sampled_from(["residual", "sequential", "list", "parallel"]))
        value = container[key]
        for _ in range(draw(st.integers(1, 60))):
            value = {
                "residual": {"residual": {"body": [value]}},
                "sequential": {"sequential": [value]},
                "list": [value],
                "parallel": {"parallel": {"branches": [[value], []]}},
            }[kind]
        container[key] = value
    try:
        return yaml.dump(data, Dumper=DUMPER, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, OverflowError, ValueError):
        return text


def textual(draw: Draw, text: str) -> str:
    lines = text.splitlines(keepends=True) or [""]
    op = draw(st.sampled_from(["insert", "delete", "duplicate", "cut", "number", "indent"]))
    at = draw(st.integers(0, len(lines) - 1))
    if op == "insert":
        where = draw(st.integers(0, len(lines[at])))
        bit = draw(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=4)))
        lines[at] = lines[at][:where] + bit + lines[at][where:]
    elif op == "delete":
        del lines[at]
    elif op == "duplicate":
        lines[at:at] = [lines[at]] * draw(st.sampled_from([1, 2, 1000, 20_000]))
    elif op == "cut":
        return text[: draw(st.integers(0, len(text)))]
    elif op == "number":
        digits = list(re.finditer(r"\d+", text))
        if digits:
            m = draw(st.sampled_from(digits))
            huge = str(draw(st.sampled_from(HUGE)))
            return text[: m.start()] + huge + text[m.end() :]
    elif op == "indent":
        lines[at] = draw(st.sampled_from(["", " ", "\t", "        "])) + lines[at].lstrip()
    return "".join(lines)


def aliases(draw: Draw, text: str) -> str:
    """An alias bomb (or a harmless few aliases) in the description or in blocks."""
    width, depth = draw(st.integers(1, 12)), draw(st.integers(1, 10))
    rows = [f"  a0: &a0 [{', '.join(['relu'] * width)}]"]
    rows += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    where = draw(st.sampled_from(["description", "blocks"]))
    use = f"\n  - a{depth - 1}" if where == "blocks" else ""
    body = re.sub(r"(?m)^(description|blocks):.*(\n[ \t].*)*\n?", "", text)
    body = re.sub(r"(?m)^layers:\s*$", "layers:" + use, body, count=1)
    return f"{where}:\n" + "\n".join(rows) + "\n" + body


def nesting(draw: Draw, text: str) -> str:
    """The spec's layers inside many nested residuals (deep, as students' specs can be)."""
    depth = draw(st.integers(1, 400))
    head, indent = [], "  "
    for _ in range(depth):
        head += [f"{indent}- residual:", f"{indent}    body:"]
        indent += "      "
    return "input: 8x8x4\nlayers:\n" + "\n".join(head) + f"\n{indent}- relu\n"


MUTATIONS = [structural, structural, textual, textual, aliases, nesting]


@st.composite
def mutated_specs(draw: Draw, seeds: list[Path] = SEEDS) -> str:
    seed = draw(st.sampled_from(seeds))
    text = seed.read_text(encoding="utf-8")
    note(f"seed: {seed.relative_to(ROOT)}")
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    return text


# -- properties ------------------------------------------------------------------------------

SPEC_COMMANDS = [
    ["summarize"],
    ["summarize", "--format", "json"],
    ["summarize", "--format", "csv", "--by-type"],
    ["summarize", "--tree"],
    ["summarize", "--explain"],
    ["check", "--strict"],
    ["rf"],
]


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="archcalc-fuzz-") as name:
        yield Path(name)


@settings(max_examples=examples(40))
@given(text=mutated_specs(), command=st.sampled_from(SPEC_COMMANDS))
def test_mutated_specs(scratch: Path, text: str, command: list[str]) -> None:
    spec = scratch / "mutated.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    note(f"archcalc {' '.join(command)} mutated.yaml\n--- spec (start) ---\n{text[:2000]}")
    check_outcome(invoke([*command, str(spec)]), spec_error_positioned=True)


OPTION_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--input": st.sampled_from(["224x224x3", "7x7x1", "0x0x1", "1e9x1e9x3", "-3x4", "x", "8x8"]),
    "--batch": st.sampled_from(["1", "0", "-1", "1000000000", "nan", "2"]),
    "--dtype": st.sampled_from(["float32", "float64", "float16", "int8", "complex", ""]),
    "--format": st.sampled_from(["json", "csv", "markdown", "table", "xml"]),
    "--layer": st.sampled_from(["conv1", "relu1", "nope", "", "input"]),
    "--unit": st.sampled_from(["0,0", "-1,5", "99999,99999", "a,b", "1"]),
    "--depth": st.sampled_from(["1", "all", "0", "-2", "999"]),
    "--count": st.sampled_from(["fvcore", "ptflops", "thop", "torchinfo", "none"]),
    "--max-memory": st.sampled_from(["1GiB", "1", "0", "-5M", "lots", "1e30"]),
    "--rf-samples": st.sampled_from(["0", "1", "-1", "7"]),  # large counts are slow, not wrong
    "--seed": st.sampled_from(["0", "-1", "99999999999999999999"]),
}
COMMANDS = ["summarize", "check", "rf", "verify", "run", "draw", "report", "plot", "zoo"]
COMMANDS += ["grade", "quiz", "conv", "pool", "animate", "nope"]
OPTIONS_OF = {  # each command's own options (a fifth of the options drawn are any option)
    "summarize": ["--input", "--batch", "--dtype", "--format", "--count", "--strict"],
    "check": ["--input", "--batch", "--dtype", "--strict"],
    "rf": ["--input", "--layer", "--unit"],
    "verify": ["--input", "--batch", "--seed", "--rf-samples", "--max-memory"],
    "run": ["--layer", "--seed", "--dtype", "--max-memory"],
    "draw": ["--input", "--batch", "--depth", "--strict"],
}
# files each example's directory holds; {data1} and {data2} are generated arrays or junk
FILES = ["{spec}", "{link}", "{hard}", "{data1}", "{data2}", "{ro}"]
# -o: half the time a path that must be refused (an input, a link to one, a read-only file or
# directory, a missing directory, a directory), half the time a new file of some format
OUTPUTS = st.one_of(
    st.sampled_from([*FILES, "{dir}/missing/x.dot", "{rodir}/x.dot", "{dir}"]),
    st.sampled_from(["out.dot", "out.svg", "out.html", "out.png", "y.npy", "w.npz", "y.csv", "y.xyz"]),
)  # fmt: skip
DTYPES = ["float32", "float64", "float16", "int8", "uint8", "bool", "complex64", "<U3", "object"]


@st.composite
def data_files(draw: Draw) -> tuple[str, bytes]:
    """A file for --input/--weights: an .npy or .npz of any dtype and shape (or a header
    declaring a huge one), a text matrix, or damaged bytes. Returns (suffix, content)."""
    import io

    kind = draw(st.sampled_from(["npy", "npy", "npz", "npz", "csv", "huge", "junk", "cut"]))
    buffer = io.BytesIO()

    def array() -> Any:
        shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=4))
        dtype = draw(st.sampled_from(DTYPES))
        return np.ones(shape, dtype=dtype) if dtype != "object" else np.empty(shape, dtype=object)

    if kind in ("npy", "cut"):
        np.save(buffer, array(), allow_pickle=True)
        data = buffer.getvalue()
        return ".npy", data[: draw(st.integers(0, len(data)))] if kind == "cut" else data
    if kind == "npz":
        keys = draw(st.lists(st.sampled_from(["conv1.kernel", "conv1.bias", "kernel", "x"])))
        np.savez(buffer, **{k: array() for k in keys})
        return ".npz", buffer.getvalue()
    if kind == "huge":
        shape = tuple(draw(st.lists(st.sampled_from([1, 3, 10**5, 10**7]), max_size=4)))
        header = {"descr": draw(st.sampled_from(["<f4", "<c16", "<U8"])), "shape": shape}
        np.lib.format.write_array_header_1_0(buffer, {**header, "fortran_order": False})
        return ".npy", buffer.getvalue()  # the data is missing: only the header is read
    if kind == "csv":
        rows = draw(st.lists(st.lists(st.sampled_from(["1", "2.5", "-3", "x", "1e999", "j"]))))
        return ".csv", "\n".join(",".join(r) for r in rows).encode()
    return draw(st.sampled_from([".npy", ".npz", ".txt"])), draw(st.binary(max_size=64))


@st.composite
def command_lines(draw: Draw) -> list[str]:
    """Words with {placeholders} for the example's files (filled in by the test). One of four
    scenarios, so that writing commands often get as far as writing."""
    scenario = draw(st.sampled_from(["analyse", "draw", "run", "run", "any"]))
    spec = draw(st.sampled_from(["{spec}"] * 4 + ["-", "{link}", "lenet5", "no-such", "{dir}"]))
    if scenario == "analyse":
        words = [draw(st.sampled_from(["summarize", "check", "rf", "verify"])), spec]
    elif scenario == "draw":
        command = draw(st.sampled_from(["draw", "draw", "report", "plot"]))
        words = [command, spec, "-o", draw(OUTPUTS)]
    elif scenario == "run":
        given = draw(st.sampled_from(["{data1}"] * 3 + [*FILES, "[[1,2],[3,4]]", "[1", "7"]))
        words = ["run", spec, "--input", given]
        if draw(st.integers(0, 3)) > 0:
            words.append("--random-weights")
        if draw(st.integers(0, 3)) == 0:
            words += ["--weights", draw(st.sampled_from([*FILES, "nope.npz"]))]
        if draw(st.integers(0, 3)) > 0:
            words += ["-o", draw(OUTPUTS)]
    else:
        words = [draw(st.sampled_from(COMMANDS)), spec]
        if draw(st.booleans()):
            words += [
                draw(st.sampled_from(["--input", "--weights", "-o"])),
                draw(OUTPUTS),
            ]
    fitting = [o for o in OPTIONS_OF.get(words[0], ()) if o not in words]
    for _ in range(draw(st.integers(0, 2))):
        anything = not fitting or draw(st.integers(0, 4)) == 0
        option = draw(st.sampled_from([*OPTION_VALUES, "--strict", "-x"] if anything else fitting))
        words.append(option)
        if option in OPTION_VALUES:
            words.append(draw(OPTION_VALUES[option]))
    if draw(st.integers(0, 9)) == 0:
        words.append(draw(st.text(max_size=6)))
    return words


def input_shape(spec: Path) -> tuple[int, ...]:
    """The spec's input as one sample (H, W, C), or a small image where it has none."""
    from archcalc.shapes import parse_shape

    try:
        return parse_shape(yaml.load(spec.read_text(), Loader=LOADER)["input"])
    except Exception:  # any seed without a readable input
        return (4, 4, 1)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file() and not p.is_symlink()
    }


@settings(max_examples=examples(40))
@given(data=st.data())
def test_mutated_command_lines(scratch: Path, data: st.DataObject) -> None:
    """Besides the outcome: nothing given is overwritten (through links too), read-only files
    and directories stay untouched, and a successful write makes exactly the named file."""
    d = Path(tempfile.mkdtemp(dir=scratch))
    seed = data.draw(st.sampled_from(SMALL_SEEDS))
    mutate = data.draw(st.integers(0, 2)) == 0
    text = data.draw(mutated_specs([seed])) if mutate else seed.read_text()
    files = {"{dir}": str(d), "{spec}": str(d / "spec.yaml"), "{link}": str(d / "link.yaml")}
    files |= {"{hard}": str(d / "hard.yaml"), "{ro}": str(d / "ro.dot"), "{rodir}": str(d / "ro")}
    (d / "spec.yaml").write_text(text, errors="surrogatepass")
    os.symlink("spec.yaml", d / "link.yaml")
    os.link(d / "spec.yaml", d / "hard.yaml")
    # data1 fits the seed spec's input, in any dtype (so runs get far enough to write);
    # data2 is any array file or damaged bytes
    files["{data1}"] = str(d / "data1.npy")
    dtype = data.draw(st.sampled_from(["float32", "float32", "float64", *DTYPES]))
    np.save(files["{data1}"], np.ones(input_shape(seed), dtype=dtype), allow_pickle=True)
    suffix, content = data.draw(data_files())
    files["{data2}"] = str(d / f"data2{suffix}")
    Path(files["{data2}"]).write_bytes(content)
    (d / "ro.dot").write_text("read-only")
    (d / "ro.dot").chmod(0o444)
    (d / "ro").mkdir(mode=0o555)
    args = [
        functools.reduce(lambda w, kv: w.replace(*kv), files.items(), w)
        for w in data.draw(command_lines())
    ]
    note(f"archcalc {' '.join(args)}")
    # relative outputs land in the current directory: the example's, or a read-only one
    cwd = d / "ro" if data.draw(st.integers(0, 5)) == 0 else d
    before = snapshot(d)
    output = args[args.index("-o") + 1] if "-o" in args else None
    read = {os.stat(a).st_ino for a in args if a != output and os.path.isfile(a)}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        result = invoke(args, text if "-" in args else None)
    finally:
        os.chdir(here)
    check_outcome(result, spec_error_positioned=False)

    target = os.path.realpath(cwd / output) if output else None
    for path, content in before.items():
        mode = os.stat(path)
        if path == target and mode.st_ino not in read and stat.S_IMODE(mode.st_mode) & 0o222:
            continue  # the named output, neither read nor read-only: replacing it is the point
        assert Path(path).read_bytes() == content, f"{path} was changed"
    assert not any((d / "ro").iterdir()), "wrote into a read-only directory"
    assert not (d / "missing").exists(), "created a directory it was not asked to"
    made = set(snapshot(d)) - set(before)
    assert made <= {target}, f"wrote files it did not name: {made}"
    if result.exit_code == 0 and output and target:
        assert os.path.isfile(target), f"reported success but wrote no {output}"


# -- expansion bombs in a separate process: time and memory bounded by the OS ------------------


@st.composite
def bombs(draw: Draw) -> str:
    kind = draw(st.sampled_from(["repeat", "product", "nested", "aliases", "lines", "deep"]))
    n = draw(st.sampled_from([10**3, 10**5, 2 * 10**6, 4 * 10**6, 10**9]))
    if kind == "repeat":
        return f"input: 8x8x4\nlayers:\n  - repeat: {n}\n    relu:\n"
    if kind == "product":
        return (
            "input: 8x8x4\nblocks:\n  many:\n    args: {n: 1}\n    layers:\n"
            f"      - repeat: $n*$n*$n\n        relu:\nlayers:\n  - many: {{n: {n}}}\n"
        )
    if kind == "nested":
        return (
            "input: 8x8x4\nlayers:\n  - repeat: 1000\n    sequential:\n"
            "      - repeat: 1000\n        sequential:\n          - repeat: 1000\n            relu:\n"
        )
    if kind == "lines":
        return "input: 8x8x4\nlayers:\n" + "  - relu\n" * draw(
            st.sampled_from([10**4, 10**5, 10**6])
        )
    if kind == "deep":
        return nesting(draw, "")
    return aliases(draw, "input: 8x8x1\nlayers:\n  - relu\n")


def _bounded_child() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@settings(max_examples=examples(5))
@given(text=bombs())
def test_expansion_bombs_end_quickly_in_bounded_memory(scratch: Path, text: str) -> None:
    spec = scratch / "bomb.yaml"
    spec.write_text(text)
    note(text[:1000])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archcalc", "summarize", str(spec)],
            capture_output=True,
            text=True,
            timeout=SECONDS,
            preexec_fn=_bounded_child,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no answer within {SECONDS} s: a hang") from None
    note(done.stderr[-2000:])
    assert done.returncode in (0, 1, 2)
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert POSITIONED.search(done.stderr)
