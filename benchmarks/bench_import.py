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
from typing import Any

from bench_summarize import run_process  # same directory: one way to time a child process


def resnet50() -> Any:
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            out = width * 4
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = (
                nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                if stride != 1 or cin != out
                else None
            )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(self.bn3(self.conv3(y)) + identity)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages, cin = [], 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                layers = []
                for i in range(blocks):
                    layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
                stages.append(nn.Sequential(*layers))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet50().eval()


def export(path: Path) -> None:
    import torch

    torch.onnx.export(
        resnet50(),
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
        cmd = [sys.executable, "-m", "archcalc", "summarize"]
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
