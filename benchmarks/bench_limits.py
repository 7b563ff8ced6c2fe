"""Time and peak memory of every hostile input of issue #9 items 1-2, each in its own process.

Each case must end (refused at a limit, exit 2) in under a second using under 100 MiB. The
baseline is `archcalc summarize lenet5` run in the same session: the ratio column says how
much more a refusal costs than an ordinary start-up.

    python benchmarks/bench_limits.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TIME = "/usr/bin/time"  # GNU time

SPECS = {
    "repeat.yaml": "input: 8x8x4\nlayers:\n  - repeat: 1000000000\n    relu:\n",
    "repeat100k.yaml": "input: 8x8x4\nlayers:\n  - repeat: 100000\n    relu:\n",
    "repeat4m.yaml": "input: 8x8x4\nlayers:\n  - repeat: 4000000\n    conv: {filters: 4, kernel: 3, pad: 1}\n",
    "product.yaml": "input: 8x8x4\nblocks:\n  many:\n    args: {n: 1}\n    layers:\n"
    "      - repeat: $n*$n*$n\n        relu:\nlayers:\n  - many: {n: 1000}\n",
    "nested.yaml": "input: 8x8x4\nlayers:\n  - repeat: 1000\n    sequential:\n"
    "      - repeat: 1000\n        sequential:\n          - repeat: 1000\n            relu:\n",
    "bomb-description.yaml": "input: 8x8x1\ndescription:\n"
    + "".join(
        f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "x"] * 10) + "]\n" for i in range(9)
    )
    + "layers: [relu]\n",
    "bomb-blocks.yaml": "input: 8x8x1\nblocks:\n"
    + "".join(
        f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "relu"] * 10) + "]\n"
        for i in range(9)
    )
    + "layers: [l8]\n",
}


def measure(args: list[str], stdin: str = "/dev/null") -> tuple[float, float, float, int]:
    """Wall and CPU seconds, peak RSS in MiB, and exit status of one `archcalc` process.

    GNU time forks it: the peak RSS Linux reports for a child includes the memory of the
    process it was forked or spawned from, which for this script (NumPy loaded) would swamp
    the figure, while /usr/bin/time is small."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.NamedTemporaryFile("r") as report, open(stdin, "rb") as source:
        start = time.perf_counter()
        done = subprocess.run(
            [
                TIME,
                "-f",
                "%e %U %S %M %x",
                "-o",
                report.name,
                sys.executable,
                "-m",
                "archcalc",
                *args,
            ],
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        elapsed = time.perf_counter() - start
        _, user, system, kib, code = report.read().split()[-5:]
    assert int(code) == done.returncode
    return elapsed, float(user) + float(system), int(kib) / 1024, int(code)


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        d = Path(name)
        for file, text in SPECS.items():
            (d / file).write_text(text)
        with open(d / "lines50m.yaml", "w") as fh:
            fh.write("input: 8x8x4\nlayers:\n" + "  - relu\n" * (50_000_000 // 9))
        (d / "box.yaml").write_text("input: 4x4x1\nlayers:\n  - conv: {filters: 1, kernel: 2}\n")
        for npy, shape, size in (
            ("huge.npy", (1, 30_000, 1_000_000, 1), 120 * 10**9),
            ("big.npy", (2, 32768, 32768, 1), 8 * 2**30 + 128),
        ):
            with open(d / npy, "wb") as fh:
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "<f4", "fortran_order": False, "shape": shape}
                )
                fh.truncate(size)  # sparse
        fifo = d / "endless.fifo"
        os.mkfifo(fifo)

        run = ["run", str(d / "box.yaml"), "--random-weights", "--input"]
        cases: list[tuple[str, list[str]]] = [
            ("baseline: summarize lenet5", ["summarize", "lenet5"]),
            ("repeat: 1000000000", ["summarize", str(d / "repeat.yaml")]),
            ("repeat: 100000 (was 18.6 s)", ["summarize", str(d / "repeat100k.yaml")]),
            ("repeat: 4000000 of a conv", ["summarize", str(d / "repeat4m.yaml")]),
            ("repeat: $n*$n*$n", ["summarize", str(d / "product.yaml")]),
            ("nested repeats 1000^3", ["summarize", str(d / "nested.yaml")]),
            ("alias bomb in description", ["summarize", str(d / "bomb-description.yaml")]),
            ("alias bomb in blocks", ["summarize", str(d / "bomb-blocks.yaml")]),
            ("50 MB of '- relu' lines", ["summarize", str(d / "lines50m.yaml")]),
            ("summarize /dev/zero", ["summarize", "/dev/zero"]),
            ("summarize an endless FIFO", ["summarize", str(fifo)]),
            ("summarize - < /dev/zero", ["summarize", "-"]),
            ("run: 120 GB sparse .npy", [*run, str(d / "huge.npy")]),
            (
                "run: 8 GiB .npy, --max-memory 1GiB",
                [*run, str(d / "big.npy"), "--max-memory", "1GiB"],
            ),
        ]
        rows = []
        baseline = 0.0
        for label, args in cases:
            if args[-1].endswith(".fifo"):
                feeder = subprocess.Popen(["sh", "-c", f"yes '# x' > '{fifo}'"])
                result = measure(args)
                feeder.kill()
                feeder.wait()
            elif args[-1] == "-":
                result = measure(args, stdin="/dev/zero")
            else:
                result = measure(args)
            baseline = baseline or result[0]
            rows.append((label, *result))
    print(f"{'case':36} {'wall':>6} {'x base':>6} {'CPU':>6} {'peak RSS':>10} {'exit':>4}")
    for label, seconds, cpu, mib, code in rows:
        print(
            f"{label:36} {seconds:5.2f}s {seconds / baseline:5.1f}x {cpu:5.2f}s {mib:6.1f} MiB "
            f"{code:4d}"
        )


if __name__ == "__main__":
    main()
