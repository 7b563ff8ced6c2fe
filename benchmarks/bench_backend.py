"""The NumPy backend against PyTorch CPU: whole-net forward time and peak memory.

Usage::

    python benchmarks/bench_backend.py [--nets resnet50 vgg16] [--input 224x224x3]
                                       [--threads N] [--repeats 10]

Each (net, backend) pair runs in its own subprocess, with the same thread count for BLAS and
torch (OMP/OPENBLAS/MKL_NUM_THREADS and torch.set_num_threads), batch 1, float32, the same
seeded weights. The child times the forward (median of ``--repeats`` after a warm-up) and
reports its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its
resident size after imports, before any weights exist. The parent prints, per net, NumPy's
time and peak RSS as ratios to torch's (target: time ≤ 1.5x), and whether the memory guard's
estimate covered the NumPy run's peak.

The NumPy side is archcalc's executor (``archcalc.backend.executor.execute``, the op
registry's forwards, activations freed after their last use, MAC counting on). The torch side
is the same graph built from each op's PyTorch module (``tests/torch_graph.py``) under
``torch.no_grad()``; its weights are copied from the same arrays, layer by layer, so they
never exist twice. Before timing, the two outputs are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_now() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(backend: str, net: str, input_shape: str, threads: int, repeats: int) -> None:
    import numpy as np

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.backend import executor as ex
    from archcalc.backend import memory as mem
    from archcalc.diagnostics import Diagnostics
    from archcalc.shapes import parse_shape
    from archcalc.spec import load

    graph = load(net).graph
    graph.input_shape = parse_shape(input_shape)
    layers = infer_shapes(graph, Diagnostics(), False)
    baseline = _rss_now()
    from archcalc.analysis import analyze

    estimate = mem.estimate_memory(
        graph, layers, analyze(graph).totals.peak_activation_bytes, 1, 4
    ).total
    params = ex.init_params(graph, layers, seed=0)
    x = np.random.default_rng(1).standard_normal((1, *graph.input_shape)).astype(np.float32)
    if backend == "numpy":

        def forward() -> np.ndarray:
            return ex.execute(graph, layers, params, x).output

    else:
        from tests.torch_graph import TorchNet, from_nchw, to_nchw

        net_t = TorchNet(graph, layers, params, consume=True)
        xt = to_nchw(x)

        def forward() -> np.ndarray:
            with torch.no_grad():
                return from_nchw(net_t(xt))

    y = forward()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t0)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = ROOT / "benchmarks" / f".out-{backend}-{net}.npy"
    np.save(out, y)
    print(
        json.dumps(
            {
                "median_s": statistics.median(times),
                "min_s": min(times),
                "maxrss": maxrss,
                "baseline_rss": baseline,
                "estimate": estimate,
                "output": str(out),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["resnet50", "vgg16"])
    parser.add_argument("--input", default="224x224x3")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "NET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.input, args.threads, args.repeats)
        return

    import numpy as np

    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env["PYTHONPATH"] = str(ROOT)
    print(
        f"input {args.input}, batch 1, float32, {args.threads} thread(s), "
        f"median of {args.repeats} after a warm-up; each run in its own process"
    )
    header = f"{'net':<10} {'numpy s':>9} {'torch s':>9} {'time ratio':>10}   {'numpy RSS':>10} {'torch RSS':>10} {'RSS ratio':>9}   {'RSS ratio above imports':>23}"
    print(header)
    memo: list[str] = []
    for net in args.nets:
        res = {}
        for backend in ("numpy", "torch"):
            cmd = [sys.executable, __file__, "--child", backend, net, "--input", args.input]
            cmd += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"{backend} {net} failed:\n{done.stderr}")
            res[backend] = json.loads(done.stdout.strip().splitlines()[-1])
        a = np.load(res["numpy"]["output"])
        b = np.load(res["torch"]["output"])
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(np.abs(b).max()))
        for r in res.values():
            os.remove(r["output"])
        n, t = res["numpy"], res["torch"]
        mib = 2**20
        extra_n = n["maxrss"] - n["baseline_rss"]
        extra_t = t["maxrss"] - t["baseline_rss"]
        print(
            f"{net:<10} {n['median_s']:>9.3f} {t['median_s']:>9.3f} "
            f"{n['median_s'] / t['median_s']:>9.2f}x   "
            f"{n['maxrss'] / mib:>7.0f} MiB {t['maxrss'] / mib:>6.0f} MiB "
            f"{n['maxrss'] / t['maxrss']:>8.2f}x   "
            f"{extra_n / mib:>6.0f} / {extra_t / mib:.0f} MiB = {extra_n / extra_t:.2f}x"
        )
        memo.append(
            f"  {net}: archcalc's memory-guard estimate {n['estimate'] / mib:.0f} MiB "
            f"covers the NumPy run's peak above imports, {extra_n / mib:.0f} MiB: "
            f"{'yes' if n['estimate'] >= extra_n else 'NO'}"
        )
    print("\n".join(memo))


if __name__ == "__main__":
    main()
