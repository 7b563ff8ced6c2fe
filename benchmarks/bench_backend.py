"""The NumPy backend against PyTorch CPU: whole-net forward time and peak memory, every net.

Usage::

    python benchmarks/bench_backend.py --threads 2 [--nets mobilenet_v2 densenet121]
                                       [--batches 1 8] [--repeats 5] [--budget 20]
                                       [--before /tmp/archcalc-old]

For every bundled net (or those named with ``--nets``) at its spec's input size and each
batch size, one process per backend builds the net from the same seeded weights: archcalc's
executor (``archcalc.backend.executor.execute``: the op registry's forwards, activations
freed after their last use, MAC counting on), the same graph built from each op's PyTorch
module (``tests/torch_graph.py``, the translation the tests check against, under
``torch.no_grad()``), and with ``--before DIR`` archcalc's executor from
another checkout (e.g. ``git worktree add DIR <commit>``), so that old and new code are
measured in the same run. All run with the same thread count (OMP/OPENBLAS/MKL_NUM_THREADS
and torch.set_num_threads), float32.

The processes stay alive together and the parent interleaves their forwards: one NumPy
forward, one torch forward, one "before" forward, and again, after a warm-up each, so that
the load of a shared machine falls on all of them alike. Before each forward the parent waits
``--pause`` seconds: OpenBLAS's and OpenMP's worker threads keep spinning for some 0.1 s after
their work, and would otherwise slow whichever process runs next. Each time is the best of
``--repeats`` forwards (fewer when one round takes more than ``--budget`` seconds / repeats,
at least one): on a machine shared with other work the fastest run is the one least disturbed.
``--clock cpu`` measures each process's CPU time instead of wall time: far steadier on a loaded
machine, but it adds up all threads (and OpenMP's spinning), so use it with ``--threads 1``. Peak memory is each process's peak resident set size (``ru_maxrss``), imports
included; "above imports" subtracts its resident size before any weights existed. Before the
table is printed the two outputs are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def _rss_now() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(
    backend: str, root: str, net: str, batch: int, threads: int, out: str, clock: str
) -> None:
    """Serve one net on one backend: 'run' times a forward, 'stats' reports and exits."""
    sys.path.insert(0, root)
    import numpy as np

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    from archcalc.analysis import analyze
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.backend import executor as ex
    from archcalc.diagnostics import Diagnostics
    from archcalc.spec import load

    graph = load(net).graph
    layers = infer_shapes(graph, Diagnostics(), False)
    baseline = _rss_now()
    peak = analyze(graph).totals.peak_activation_bytes * batch
    try:  # the memory guard has its own module since the executor was split
        from archcalc.backend.memory import estimate_memory
    except ImportError:  # a --before checkout from earlier
        from archcalc.backend.executor import estimate_memory  # type: ignore[attr-defined,no-redef]
    estimate = estimate_memory(graph, layers, peak, batch, 4).total
    params = ex.init_params(graph, layers, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
    if backend == "torch":
        sys.path.insert(0, str(ROOT))
        from tests.torch_graph import TorchNet, from_nchw, to_nchw

        net_t = TorchNet(graph, layers, params, consume=True)
        xt = to_nchw(x)

        def forward() -> Any:
            with torch.no_grad():
                return from_nchw(net_t(xt))

    else:

        def forward() -> Any:
            return ex.execute(graph, layers, params, x).output

    np.save(out, forward())  # the warm-up
    print("ready", flush=True)
    now = time.process_time if clock == "cpu" else time.perf_counter
    for line in sys.stdin:
        if line.strip() == "run":
            t0 = now()
            forward()
            print(now() - t0, flush=True)
        else:
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(json.dumps({"maxrss": maxrss, "baseline": baseline, "estimate": estimate}))
            return


class Backend:
    """One child process serving a net; kept alive so forwards can be interleaved."""

    def __init__(self, name: str, root: Path, net: str, batch: int, args: Any) -> None:
        self.name = name
        self.out = ROOT / "benchmarks" / f".out-{os.getpid()}-{name}.npy"
        env = dict(os.environ, PYTHONPATH=str(root))
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
        cmd = [sys.executable, __file__, "--child", name, str(root), net, str(batch)]
        cmd += ["--threads", str(args.threads), "--out", str(self.out), "--clock", args.clock]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.times: list[float] = []

    def _ask(self, what: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if what:
            self.proc.stdin.write(what + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"the {self.name} process failed (its error is above)")
        return line.strip()

    def ready(self) -> None:
        self._ask("")

    def run(self, pause: float) -> float:
        time.sleep(pause)  # let the previous process's BLAS/OpenMP threads stop spinning
        self.times.append(float(self._ask("run")))
        return self.times[-1]

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self._ask("stats"))
        self.proc.wait()
        found["best_s"] = min(self.times)
        return found


def measure(net: str, batch: int, roots: dict[str, Path], args: Any) -> dict[str, Any]:
    import numpy as np

    backends = [Backend(name, root, net, batch, args) for name, root in roots.items()]
    for b in backends:
        b.ready()
    repeats = args.repeats
    for i in range(repeats):
        took = sum(b.run(args.pause) for b in backends)
        if i == 0:  # one forward of each already spends the budget's share: fewer repeats
            repeats = max(1, min(args.repeats, int(args.budget / max(took, 1e-9))))
        if i + 1 >= repeats:
            break
    res = {b.name: b.stats() for b in backends}
    ref = np.load(backends[1].out)
    for b in backends:
        got = np.load(b.out)
        os.remove(b.out)
        scale = float(np.abs(ref).max())
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * scale, err_msg=b.name)
    res["repeats"] = len(backends[0].times)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", metavar="NET", help="default: every bundled net")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8], metavar="N")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds of timed forwards per net and batch"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.3,
        help="seconds idle before each forward: OpenBLAS and OpenMP worker threads spin for "
        "a while after their work and would steal the cores from the next process",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: each process's CPU time, which a shared machine's load disturbs far less "
        "than wall time; it adds up all threads, so compare with --threads 1",
    )
    parser.add_argument("--before", type=Path, help="a checkout of older code to time too")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # before anything of archcalc is imported: the child imports its own tree's
        backend, root, net, batch = args.child
        child(backend, root, net, int(batch), args.threads, args.out, args.clock)
        return
    sys.path.insert(0, str(ROOT))
    from archcalc.zoo import bundled_names

    args.nets = args.nets or bundled_names()
    unknown = sorted(set(args.nets) - set(bundled_names()))
    if unknown:
        parser.error(f"not a bundled net: {', '.join(unknown)}")

    import numpy as np

    from archcalc.backend import native

    roots = {"numpy": ROOT, "torch": ROOT}
    if args.before:
        roots["before"] = args.before.resolve()
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORE")}
    print(
        f"numpy {np.__version__}, {args.threads} thread(s), float32, each net at its spec's "
        f"input; {args.clock} time = best of up to {args.repeats} interleaved forwards after a "
        "warm-up"
        + (f"; {blas}" if blas else "")
        + f"; load average {_load()}; depthwise "
        + ("compiled" if native.available() else "in NumPy (the C kernel is not built)")
    )
    before = "  before/torch  before RSS" if args.before else ""
    print(
        f"{'net':<20} {'batch':>5} {'numpy s':>8} {'torch s':>8} {'time ratio':>10}{before}"
        f"   {'peak RSS numpy / torch':>24} {'ratio':>6}   {'above imports':>13}"
    )
    for net in args.nets:
        for batch in args.batches:
            r = measure(net, batch, roots, args)
            n, t = r["numpy"], r["torch"]
            extra_n = n["maxrss"] - n["baseline"]
            extra_t = t["maxrss"] - t["baseline"]
            old = ""
            if args.before:
                b = r["before"]
                old = f"  {b['best_s'] / t['best_s']:>11.2f}x  {b['maxrss'] / MIB:>6.0f} MiB"
            print(
                f"{net:<20} {batch:>5} {n['best_s']:>8.3f} {t['best_s']:>8.3f} "
                f"{n['best_s'] / t['best_s']:>9.2f}x{old}   "
                f"{n['maxrss'] / MIB:>9.0f} / {t['maxrss'] / MIB:>6.0f} MiB "
                f"{n['maxrss'] / t['maxrss']:>6.2f}x   {extra_n / max(extra_t, 1):>12.2f}x"
                + ("" if n["estimate"] >= extra_n else "  (memory guard's estimate too low)"),
                flush=True,
            )
    print(f"load average at the end {_load()}")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
