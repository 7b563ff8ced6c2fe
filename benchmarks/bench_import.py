"""How fast and how lean importing a real model is: ResNet-50 built in PyTorch (torchvision's
design, random weights), exported to ONNX, then `archcalc summarize resnet50.onnx` against
`archcalc summarize resnet50` on the bundled YAML spec, in the same session.

Prints the median wall time of each whole process and their ratio, each process's peak RSS,
and the import's extra peak memory against the model file's size. Needs torch and onnx.

Usage: python benchmarks/bench_import.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_summarize import console_script, run_process  # same directory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.torchvision_nets import resnet  # the checkout's tests, as bench_backend uses


def export(path: Path) -> None:
    import torch

    torch.onnx.export(
        resnet([3, 4, 6, 3], True, (64, 128, 256, 512), 64, 1000),
        (torch.zeros(1, 3, 224, 224),),
        str(path),
        opset_version=18,
        dynamo=False,
        training=torch.onnx.TrainingMode.PRESERVE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--export", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export(Path(args.export))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        # in a child: a forked child's peak RSS counts its parent's pages, so this process
        # never loads torch
        subprocess.run([sys.executable, __file__, "--export", str(path)], check=True)
        size = path.stat().st_size
        cmd = [console_script(), "summarize"]  # as users launch it
        runs: dict[str, list[tuple[float, int]]] = {"yaml": [], "onnx": []}
        for _ in range(args.repeats):  # interleaved, so load drifts hit both alike
            runs["yaml"].append(run_process([*cmd, "resnet50"]))
            runs["onnx"].append(run_process([*cmd, str(path)]))
    t = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    rss = {k: max(r[1] for r in v) for k, v in runs.items()}
    print(f"model file: ResNet-50, ONNX opset 18, {size / 2**20:.1f} MiB")
    print(
        f"summarize resnet50 (YAML)      {t['yaml']:.3f} s   peak RSS {rss['yaml'] / 1024:.0f} MiB"
    )
    print(
        f"summarize resnet50.onnx        {t['onnx']:.3f} s   peak RSS {rss['onnx'] / 1024:.0f} MiB"
    )
    print(f"time ratio ONNX / YAML         {t['onnx'] / t['yaml']:.2f}x")
    extra = (rss["onnx"] - rss["yaml"]) * 1024
    print(f"extra peak memory / file size  {extra / size:.2f}x  ({extra / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
