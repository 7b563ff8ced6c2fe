"""Bundled specs against published figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.analysis import analyze
from archcalc.report import Report
from archcalc.spec import load


def bundled(name: str) -> Report:
    loaded = load(name)
    return analyze(loaded.graph, diagnostics=loaded.diagnostics)


def test_alexnet_course_table() -> None:
    report = bundled("alexnet")
    shapes = {row.name: row.output_shape for row in report.layers}
    expected = {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "conv2": (27, 27, 256),
        "pool2": (13, 13, 256),
        "conv3": (13, 13, 384),
        "conv4": (13, 13, 384),
        "conv5": (13, 13, 256),
        "pool3": (6, 6, 256),
        "fc6": (4096,),
        "fc7": (4096,),
        "fc8": (1000,),
    }
    assert {name: shapes[name] for name in expected} == expected
    # conv1: (11·11·3 + 1)·96 = 34,944; single tower total as usually quoted, 62.4 M
    assert next(r for r in report.layers if r.name == "conv1").params == 34_944
    assert report.totals.params == 62_378_344
    assert not report.has_errors


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("cs231n-conv-example", 760, 768_000),
        ("vgg16", 138_357_544, 15_470_264_320),  # torchvision: 138,357,544 params, 15.47 GFLOPS
        ("resnet50", 25_557_032, 4_089_184_256),  # torchvision: 25,557,032 params, 4.09 GFLOPS
    ],
)
def test_published_totals(name: str, params: int, macs: int) -> None:
    report = bundled(name)
    assert report.totals.params == params
    assert report.totals.macs == macs
    assert not report.has_errors


def test_resnet50_buffers_give_keras_count() -> None:
    # 53 batchnorms, each with running mean and variance: Keras' count_params adds them
    report = bundled("resnet50")
    assert (
        report.totals.buffers == 2 * 26_560
    )  # 26,560 batchnorm channels in torchvision's ResNet-50
    assert report.totals.keras_params == 25_557_032 + 53_120


def test_resnet50_is_written_with_blocks() -> None:
    text = Path("specs/resnet50.yaml").read_text(encoding="utf-8")
    assert text.count("- conv:") < 12  # not unrolled: 53 convs from a handful of lines
    assert "repeat:" in text
