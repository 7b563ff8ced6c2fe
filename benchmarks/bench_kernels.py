"""Time archcalc's NumPy conv kernels against PyTorch CPU in the same process.

Usage::

    python benchmarks/bench_kernels.py [--repeats 20] [--threads N] [--resnet50]
                                       [--batch 1] [--before DIR]

Prints, per case, the best NumPy time, the best torch time and the ratio
``numpy_time / torch_time`` (lower is better; 1.0 means parity), the two timed alternately.
The cases include every depthwise layer shape of MobileNetV2 (3x3, 224x224 input).
``--clock cpu`` times CPU rather than wall time (with ``--threads 1``; see ``--help``).
``--before DIR`` also times the kernels module of another checkout (e.g. ``git worktree add
DIR <commit>``) on the same cases, so old and new code are compared in one run (its
``kernels.py`` only: the modules that imports are this checkout's). ``--threads`` sets
torch's intra-op threads and must match the BLAS threads NumPy uses (set
``OPENBLAS_NUM_THREADS`` in the environment to the same number before starting).
``--resnet50`` also runs a full ResNet-50 forward (224x224x3, batch 1, random weights,
inference batch norm) as a sequence of kernels, checks it against the torch model, and
times both.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archcalc.backend import kernels as K
from archcalc.backend import native

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - the benchmark needs torch
    sys.exit("bench_kernels.py needs torch (pip install torch==2.13.0)")

Fn = Callable[[], Any]

MOBILENET_V2_DEPTHWISE = [
    (112, 32, 1),
    (112, 96, 2),
    (56, 144, 1),
    (56, 144, 2),
    (28, 192, 1),
    (28, 192, 2),
    (14, 384, 1),
    (14, 576, 1),
    (14, 576, 2),
    (7, 960, 1),
]


CLOCK = time.perf_counter


def best_times(fns: list[Fn], repeats: int) -> list[float]:
    """Best time of each function, the functions run in turn ``repeats`` times after a
    warm-up, so that the load of a shared machine falls on all of them alike."""
    best = [math.inf] * len(fns)
    for fn in fns:
        fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = CLOCK()
            fn()
            best[i] = min(best[i], CLOCK() - t0)
    return best


def load_kernels(root: Path) -> Any:
    """The kernels module of another checkout. What it imports of archcalc (``shapes``,
    ``backend.blas``, ``backend.native``) is this checkout's, already loaded: ``--before``
    compares ``kernels.py`` alone."""
    spec = importlib.util.spec_from_file_location(
        "kernels_before", root / "archcalc" / "backend" / "kernels.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conv_case(
    h: int,
    w: int,
    cin: int,
    cout: int,
    k: int,
    s: int,
    groups: int,
    rng: np.random.Generator,
    batch: int = 1,
    before: Any = None,
) -> list[Fn]:
    pad = k // 2
    x = rng.standard_normal((batch, h, w, cin)).astype(np.float32)
    wt = (rng.standard_normal((k, k, cin // groups, cout)) * 0.1).astype(np.float32)
    b = np.zeros(cout, dtype=np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    wtt = torch.from_numpy(np.ascontiguousarray(wt.transpose(3, 2, 0, 1)))
    bt = torch.from_numpy(b)
    ours = K.conv(x, wt, b, s, 1, pad, groups)
    ref = F.conv2d(xt, wtt, bt, s, pad, 1, groups).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3)

    def run_np() -> Any:
        return K.conv(x, wt, b, s, 1, pad, groups)

    def run_torch() -> Any:
        with torch.no_grad():
            return F.conv2d(xt, wtt, bt, s, pad, 1, groups)

    def run_before() -> Any:
        return before.conv(x, wt, b, s, 1, pad, groups)

    return [run_np, run_torch] + ([run_before] if before is not None else [])


# --------------------------------------------------------------------------------------
# ResNet-50, built twice from the same random weights
# --------------------------------------------------------------------------------------


class Bottleneck(torch.nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = torch.nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.conv2 = torch.nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(width)
        self.conv3 = torch.nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(cout)
        self.down: torch.nn.Module | None = None
        if stride != 1 or cin != cout:
            self.down = torch.nn.Sequential(
                torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        idt = x if self.down is None else self.down(x)
        return F.relu(y + idt)


def torch_resnet50() -> torch.nn.Module:
    layers: list[torch.nn.Module] = [
        torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(2048, 1000)]
    model = torch.nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():  # non-trivial BN statistics so the check means something
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)
    return model.eval()


def numpy_resnet50(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Translate the torch model into a list of closures over channels-last kernels."""

    def conv_w(c: torch.nn.Conv2d) -> np.ndarray:
        return np.ascontiguousarray(c.weight.detach().numpy().transpose(2, 3, 1, 0))

    def bn_p(bn: torch.nn.BatchNorm2d) -> tuple[np.ndarray, ...]:
        return tuple(
            t.detach().numpy() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)
        )

    def conv_bn(c: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> Callable[[np.ndarray], Any]:
        w, p = conv_w(c), bn_p(bn)
        s, pad = c.stride, c.padding[0]

        def run(x: np.ndarray) -> Any:
            return K.batchnorm(K.conv(x, w, None, s, 1, pad, 1), *p, bn.eps)

        return run

    steps: list[Callable[[np.ndarray], Any]] = []
    mods = list(model)
    stem = conv_bn(mods[0], mods[1])
    steps.append(lambda x: K.max_pool(K.relu(stem(x)), 3, 2, 1))
    for blk in mods[4:-3]:
        c1, c2 = conv_bn(blk.conv1, blk.bn1), conv_bn(blk.conv2, blk.bn2)
        c3 = conv_bn(blk.conv3, blk.bn3)
        down = None if blk.down is None else conv_bn(blk.down[0], blk.down[1])

        def block(x: np.ndarray, c1: Any = c1, c2: Any = c2, c3: Any = c3, down: Any = down) -> Any:
            y = c3(K.relu(c2(K.relu(c1(x)))))
            return K.relu(K.add(y, x if down is None else down(x)))

        steps.append(block)
    fc = mods[-1]
    fw, fb = fc.weight.detach().numpy().T.copy(), fc.bias.detach().numpy()
    steps.append(lambda x: K.dense(K.global_avg_pool(x), fw, fb))

    def forward(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step(x)
        return x

    return forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--resnet50", action="store_true")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this process's CPU time, which a shared machine's load disturbs far less "
        "than wall time; it adds up all threads, so compare with --threads 1",
    )
    ap.add_argument("--before", type=Path, help="a checkout of older code to time too")
    args = ap.parse_args()
    before = load_kernels(args.before) if args.before else None
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"numpy {np.__version__}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"cpus {os.cpu_count()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
        f"depthwise {'compiled' if native.available() else 'in NumPy (the C kernel is not built)'}"
    )
    rng = np.random.default_rng(0)
    n = args.batch
    cases = {
        "conv 3x3 56x56x64->64": conv_case(56, 56, 64, 64, 3, 1, 1, rng, n, before),
        "conv 1x1 56x56x256->64": conv_case(56, 56, 256, 64, 1, 1, 1, rng, n, before),
        "conv 7x7/2 224x224x3->64": conv_case(224, 224, 3, 64, 7, 2, 1, rng, n, before),
        "conv 3x3 56x56x128->32": conv_case(56, 56, 128, 32, 3, 1, 1, rng, n, before),
    }
    # MobileNetV2's depthwise layers: (size, channels, stride), each shape once.
    for size, c, s in MOBILENET_V2_DEPTHWISE:
        name = f"depthwise 3x3/{s} {size}x{size}x{c}"
        cases[name] = conv_case(size, size, c, c, 3, s, c, rng, n, before)
    print(f"batch {n}; {args.clock} times, the best of {args.repeats}, NumPy and torch alternately")
    old = f" {'before ms':>10s} {'ratio':>7s}" if before else ""
    print(f"{'case':30s} {'numpy ms':>10s} {'torch ms':>10s} {'ratio':>7s}{old}")
    for name, fns in cases.items():
        best = best_times(fns, args.repeats)
        t_np, t_t = best[0], best[1]
        line = f"{name:30s} {t_np * 1e3:10.3f} {t_t * 1e3:10.3f} {t_np / t_t:7.2f}"
        if before:
            line += f" {best[2] * 1e3:10.3f} {best[2] / t_t:7.2f}"
        print(line, flush=True)

    if args.resnet50:
        model = torch_resnet50()
        forward = numpy_resnet50(model)
        x = np.random.default_rng(1).standard_normal((1, 224, 224, 3)).astype(np.float32)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            ref = model(xt).numpy()
        with K.count_macs() as macs:
            ours = forward(x)
        err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
        print(f"resnet50: max |diff| / max |ref| = {err:.2e}, MACs counted = {macs.total:,}")

        def run_torch() -> Any:
            with torch.no_grad():
                return model(xt)

        reps = max(3, args.repeats // 4)
        t_np, t_t = best_times([lambda: forward(x), run_torch], reps)
        print(
            f"{'resnet50 224x224x3 b1':30s} {t_np * 1e3:10.1f} {t_t * 1e3:10.1f} {t_np / t_t:7.2f}"
        )


if __name__ == "__main__":
    main()
