"""Torchvision's ResNet rebuilt for the tests and benchmarks (PyPI's torchvision does not import
beside the torch these machines use): the same module names and forward order, so an ONNX export
names its nodes as torchvision's model would (`layer1.0.conv1`, `layer2.0.downsample.0`).
Imports torch only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def resnet(
    depths: Sequence[int],
    bottleneck: bool,
    widths: Sequence[int] = (8, 16, 32, 64),
    stem: int = 8,
    classes: int = 10,
) -> Any:
    """torchvision.models.resnet.ResNet with ``len(depths)`` stages of BasicBlocks (3x3, 3x3)
    or Bottlenecks (1x1, 3x3 with the stride (v1.5), 1x1 to 4 × width). ResNet-50 is
    ``resnet([3, 4, 6, 3], True, (64, 128, 256, 512), 64, 1000)``. In eval mode."""
    import torch
    from torch import nn

    class Block(nn.Module):
        """conv1/bn1, conv2/bn2, ..., one relu module called after each but the last, then
        downsample, as torchvision runs them."""

        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            kernels, outs = (
                ([1, 3, 1], [width, width, width * 4]) if bottleneck else ([3, 3], [width, width])
            )
            self.depth, out, c = len(kernels), outs[-1], cin
            for i, (k, w) in enumerate(zip(kernels, outs), start=1):
                s = stride if k == 3 and (bottleneck or i == 1) else 1
                setattr(self, f"conv{i}", nn.Conv2d(c, w, k, s, k // 2, bias=False))
                setattr(self, f"bn{i}", nn.BatchNorm2d(w))
                c = w
            self.relu = nn.ReLU(inplace=True)
            self.downsample = (
                nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                if stride != 1 or cin != out
                else None
            )

        def forward(self, x: Any) -> Any:
            out = x
            for i in range(1, self.depth + 1):
                out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
                out = self.relu(out) if i < self.depth else out
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = stem
            self.stages = len(depths)
            for i, (depth, width) in enumerate(zip(depths, widths), start=1):
                blocks = []
                for j in range(depth):
                    blocks.append(Block(cin, width, 2 if j == 0 and i > 1 else 1))
                    cin = width * (4 if bottleneck else 1)
                setattr(self, f"layer{i}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(1, self.stages + 1):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet().eval()
