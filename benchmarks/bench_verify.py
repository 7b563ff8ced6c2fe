"""How long `archcalc verify` takes on every bundled net at its default input.

Each run is a whole child process (`python -m archcalc verify NAME`), as a user meets it. With
``--baseline DIR`` (another checkout of archcalc, e.g. ``git archive main | tar -x -C DIR``)
the same nets run from that tree too, interleaved with this one so that drift in the machine's
load hits both alike, and the table gives the ratio. Every run must exit 0: a verify that fails
is reported, not timed.

Usage: python benchmarks/bench_verify.py [--baseline DIR] [--repeats 1] [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run(tree: Path, name: str) -> float:
    """Wall time in seconds of `archcalc verify NAME` run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "archcalc", "verify", name],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"verify {name} from {tree} exited {proc.returncode}:\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another archcalc checkout to compare")
    parser.add_argument("--repeats", type=int, default=1, help="runs per net and tree (best kept)")
    parser.add_argument("names", nargs="*", help="bundled nets (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from archcalc.zoo import bundled_names

    names = args.names or bundled_names()
    trees = [HERE] + ([args.baseline.resolve()] if args.baseline else [])
    print(
        f"{'net':22} {'this tree':>10}"
        + (f" {'baseline':>10} {'ratio':>7}" if args.baseline else "")
    )
    for name in names:
        best = [min(run(tree, name) for _ in range(args.repeats)) for tree in trees]
        line = f"{name:22} {best[0]:9.2f}s"
        if args.baseline:
            line += f" {best[1]:9.2f}s {best[0] / best[1]:6.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
