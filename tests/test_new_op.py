"""A layer type added as one registry entry works everywhere at once.

The entry below is all a contributor writes for hardswish (torch.nn.Hardswish): no counting
rule, no executor branch, no renderer or CLI change. It is registered for these tests only and
removed afterwards, so the registry-wide tests (docs, rows per op) see the shipped registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archcalc.counting import CONVENTIONS
from archcalc.ops import ALIASES, REGISTRY, Layer, register
from archcalc.ops.activation import _Activation
from tests.helpers import cli
from tests.oracles import require


class HardSwish(_Activation):
    name, aliases, cost, summary = "hardswish", ("hard_swish",), 5, "x·relu6(x + 3)/6"
    flops_rule = "5 per element: add, two comparisons, multiply, divide"
    torch_class = "Hardswish"

    def forward(self, layer: Layer, xs: list[Any], params: dict[str, Any]) -> Any:
        from archcalc.backend import kernels

        return xs[0] * kernels.relu6(xs[0] + 3) / 6


SPEC = """\
input: 20x20x3
layers:
  - conv: {filters: 6, kernel: 3, padding: 1}
  - {ACT}
  - maxpool: 2
  - conv: {filters: 8, kernel: 3, stride: 2}
  - hard_swish
  - global_avgpool
  - dense: 5
"""


@pytest.fixture
def hardswish() -> Iterator[None]:
    register(HardSwish)
    try:
        yield
    finally:
        del REGISTRY["hardswish"]
        for word in ("hardswish", "hard_swish"):
            del ALIASES[word]


def _spec(tmp_path: Path, act: str = "hardswish") -> str:
    path = tmp_path / f"{act}.yaml"
    text = SPEC.replace("{ACT}", act)
    path.write_text(text if act == "hardswish" else text.replace("hard_swish", act))
    return str(path)


def _json(*args: str) -> Any:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_summarize(hardswish: None, tmp_path: Path) -> None:
    report = _json("summarize", _spec(tmp_path))
    rows = [r for r in report["layers"] if r["type"] == "hardswish"]
    assert [r["output_shape"] for r in rows] == [[20, 20, 6], [4, 4, 8]]
    # 5 FLOPs per element, nothing learned, no MACs.
    assert [r["flops"] for r in rows] == [5 * 20 * 20 * 6, 5 * 4 * 4 * 8]
    assert [(r["params"], r["macs"]) for r in rows] == [(0, 0), (0, 0)]


@pytest.mark.parametrize("count", list(CONVENTIONS))
def test_every_counting_convention(hardswish: None, tmp_path: Path, count: str) -> None:
    # An activation counts as its family does: nothing, under every tool's rule.
    ours = _json("summarize", _spec(tmp_path), "--count", count)
    assert [r["counted"] for r in ours["layers"] if r["type"] == "hardswish"] == [0, 0]
    # The rest of the network is counted as with any other parameter-free activation.
    sigmoid = _json("summarize", _spec(tmp_path, "sigmoid"), "--count", count)
    assert (
        ours["count"] == sigmoid["count"] == {"convention": count, "total": ours["count"]["total"]}
    )
    assert ours["count"]["total"] > 0


@pytest.mark.parametrize("tool", [c for c in CONVENTIONS if c != "archcalc"])
def test_counts_equal_the_tools(hardswish: None, tool: str) -> None:
    """The family's rule is right for hardswish: each tool on nn.Hardswish agrees."""
    require("torch")
    require(tool)
    from archcalc.analysis import analyze
    from archcalc.diagnostics import Diagnostics
    from archcalc.spec import load
    from tests.test_counting import run_tool, torch_net

    graph = load("t.yaml", SPEC.replace("{ACT}", "hardswish")).graph
    model, chw = torch_net(graph)
    expected = analyze(graph, diagnostics=Diagnostics(), count=tool).totals.counted
    assert run_tool(tool, model, chw) == expected


def test_rf(hardswish: None, tmp_path: Path) -> None:
    # Element-wise: the receptive fields are those of the same net with identity in its place.
    ours = _json("rf", _spec(tmp_path))
    plain = _json("rf", _spec(tmp_path, "identity"))
    fields = [r["receptive_field"] for r in ours["layers"]]
    assert fields == [r["receptive_field"] for r in plain["layers"]]
    assert fields[3]["size"] == [8, 8]  # 3, then +1 (pool 2), then +2·2 (conv 3 at jump 2)


def test_verify(hardswish: None, tmp_path: Path) -> None:
    result = cli("verify", _spec(tmp_path))
    assert result.exit_code == 0, result.output
    assert "hardswish" in result.stdout


def test_forward_matches_torch(hardswish: None) -> None:
    torch = require("torch")
    import numpy as np

    from archcalc.backend.kernels import relu6
    from tests.torch_graph import from_nchw, to_nchw

    x = np.linspace(-5, 5, 2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    ours = REGISTRY["hardswish"].forward(Layer("h", {}, [(4, 4, 3)], (4, 4, 3)), [x], {})
    theirs = from_nchw(torch.nn.Hardswish()(to_nchw(x)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert not np.allclose(ours, relu6(x))  # not some other activation


def test_draw(hardswish: None, tmp_path: Path) -> None:
    out = tmp_path / "net.dot"
    result = cli("draw", _spec(tmp_path), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count("hardswish") >= 2  # both layers, named by their type


def test_fixture_leaves_the_registry_as_shipped() -> None:
    assert "hardswish" not in REGISTRY and "hard_swish" not in ALIASES
