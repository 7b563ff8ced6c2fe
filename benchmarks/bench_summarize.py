"""How fast `archcalc summarize` starts and how analysis scales with the number of layers.

Prints ratios against baselines measured in the same run (these machines are shared and noisy):

1. whole-process `archcalc summarize resnet50` against a bare
   `python -c "import click, rich.console, yaml"` (target ≤ 1.3×), and its peak RSS;
2. load + analysis time of generated specs of 1,000 / 10,000 / 100,000 layers, per layer,
   against the 1,000-layer run (target: linear, and ≤ 1 s for 10,000 layers).

Usage: python benchmarks/bench_summarize.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import archcalc
from archcalc.analysis import analyze
from archcalc.spec import load


def run_process(argv: list[str]) -> tuple[float, int]:
    """Wall time in seconds and peak RSS in KiB of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {status}")
    return elapsed, usage.ru_maxrss


def console_script() -> str:
    """archcalc as users launch it: the installed console script beside this interpreter (not
    ``python -m archcalc``, which skips the entry point's own start-up)."""
    script = Path(sys.executable).with_name("archcalc")
    if not script.exists():
        raise SystemExit(f"no console script at {script}: pip install . into this environment")
    return str(script)


def startup(repeats: int) -> None:
    # An installed package has bytecode (pip compiles it); a checkout run with
    # PYTHONDONTWRITEBYTECODE set would recompile every module on every start instead.
    compileall.compile_dir(str(Path(archcalc.__file__).parent), quiet=1)
    baseline = [sys.executable, "-c", "import click, rich.console, yaml"]
    ours = [console_script(), "summarize", "resnet50"]
    base_times, ours_times, base_rss, ours_rss = [], [], [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        t, rss = run_process(baseline)
        base_times.append(t)
        base_rss.append(rss)
        t, rss = run_process(ours)
        ours_times.append(t)
        ours_rss.append(rss)
    b, o = statistics.median(base_times), statistics.median(ours_times)
    print(f"start-up: import click, rich.console, yaml  {b * 1000:7.1f} ms (median of {repeats})")
    print(f"          archcalc summarize resnet50       {o * 1000:7.1f} ms")
    print(f"          ratio                              {o / b:7.2f}x  (target <= 1.3x)")
    print(
        f"peak RSS: baseline {max(base_rss) / 1024:.1f} MiB, archcalc {max(ours_rss) / 1024:.1f} MiB (ratio {max(ours_rss) / max(base_rss):.2f}x; target < 60 MiB)"
    )


def generated_spec(layers: int) -> str:
    """A plain chain of 3x3 'same' convs, batchnorms and relus on a small input."""
    lines = ["input: 32x32x16", "layers:"]
    kinds = ["  - conv: {filters: 16, kernel: 3, pad: 1, bias: false}", "  - batchnorm", "  - relu"]
    lines += [kinds[i % 3] for i in range(layers)]
    return "\n".join(lines) + "\n"


def scaling(sizes: list[int]) -> None:
    # the default limits (archcalc/limits.py) refuse specs this large; the benchmark means them
    largest = max(sizes)
    os.environ.setdefault("ARCHCALC_MAX_LAYERS", str(largest))
    os.environ.setdefault("ARCHCALC_MAX_YAML_NODES", str(20 * largest))
    os.environ.setdefault("ARCHCALC_MAX_SPEC_BYTES", str(80 * largest))
    per_layer = {}
    for n in sizes:
        text = generated_spec(n)
        best = float("inf")
        for _ in range(3 if n <= 10_000 else 1):
            start = time.perf_counter()
            loaded = load("generated.yaml", text)
            report = analyze(loaded.graph)
            best = min(best, time.perf_counter() - start)
        assert len(report.layers) == n and not report.has_errors
        per_layer[n] = best / n
        print(
            f"analysis: {n:>7,} layers  {best:7.3f} s  {best / n * 1e6:6.1f} µs/layer  ratio to 1,000: {per_layer[n] / per_layer[sizes[0]]:.2f}x"
        )
    print("          (linear means the per-layer ratio stays near 1.00x; target <= 1 s at 10,000)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    startup(args.repeats)
    scaling([1_000, 10_000, 100_000])
    print(
        f"this process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
