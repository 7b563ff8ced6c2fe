"""How long `archcalc verify` takes on every bundled net at its default input.

Each run is a whole child process (`python -m archcalc verify NAME`), as a user meets it; the
table gives its wall time and its CPU time (user + system, all threads), which a machine shared
with other work inflates less. With ``--baseline DIR`` (another checkout of archcalc, e.g.
``git archive main | tar -x -C DIR``) the same nets run from that tree too, right after this
one's, so that drift in the machine's load hits both alike, and the table gives the ratios.
Every run must exit 0: a verify that fails is reported, not timed.

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


def run(tree: Path, name: str) -> tuple[float, float]:
    """Wall and CPU seconds of `archcalc verify NAME` run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archcalc", "verify", name],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"verify {name} from {tree} failed (wait status {status})")
    return elapsed, usage.ru_utime + usage.ru_stime


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
    head = f"{'':22} {'this tree':>17}"
    if args.baseline:
        head += f" {'baseline':>17} {'ratio':>13}"
    print(head)
    print(
        f"{'net':22} {'wall':>8} {'CPU':>8}"
        + (f" {'wall':>8} {'CPU':>8} {'wall':>6} {'CPU':>6}" if args.baseline else "")
        + "  load (1 min)"
    )
    for name in names:
        # best of the repeats, wall and CPU separately
        best = [
            tuple(min(v) for v in zip(*(run(tree, name) for _ in range(args.repeats))))
            for tree in trees
        ]
        line = f"{name:22} {best[0][0]:7.2f}s {best[0][1]:7.2f}s"
        if args.baseline:
            line += f" {best[1][0]:7.2f}s {best[1][1]:7.2f}s"
            line += f" {best[0][0] / best[1][0]:5.2f}x {best[0][1] / best[1][1]:5.2f}x"
        print(f"{line}  {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
