"""A layer type added as one registry entry works everywhere at once.

The entry below is all a contributor writes for mish (torch.nn.Mish): no counting
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


class Mish(_Activation):
    name, aliases, cost, summary = "mish", ("mish_activation",), 5, "x·tanh(softplus(x))"
    flops_rule = "5 per element: exp, add, log, tanh, multiply"
    torch_class = "Mish"

    def forward(self, layer: Layer, xs: list[Any], params: dict[str, Any]) -> Any:
        import numpy as np

        return xs[0] * np.tanh(np.logaddexp(0, xs[0]))


SPEC = """\
input: 20x20x3
layers:
  - conv: {filters: 6, kernel: 3, padding: 1}
  - {ACT}
  - maxpool: 2
  - conv: {filters: 8, kernel: 3, stride: 2}
  - mish_activation
  - global_avgpool
  - dense: 5
"""


@pytest.fixture
def mish() -> Iterator[None]:
    register(Mish)
    try:
        yield
    finally:
        del REGISTRY["mish"]
        for word in ("mish", "mish_activation"):
            del ALIASES[word]


def _spec(tmp_path: Path, act: str = "mish") -> str:
    path = tmp_path / f"{act}.yaml"
    text = SPEC.replace("{ACT}", act)
    path.write_text(text if act == "mish" else text.replace("mish_activation", act))
    return str(path)


def _json(*args: str) -> Any:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_summarize(mish: None, tmp_path: Path) -> None:
    report = _json("summarize", _spec(tmp_path))
    rows = [r for r in report["layers"] if r["type"] == "mish"]
    assert [r["output_shape"] for r in rows] == [[20, 20, 6], [4, 4, 8]]
    # 5 FLOPs per element, nothing learned, no MACs.
    assert [r["flops"] for r in rows] == [5 * 20 * 20 * 6, 5 * 4 * 4 * 8]
    assert [(r["params"], r["macs"]) for r in rows] == [(0, 0), (0, 0)]


@pytest.mark.parametrize("count", list(CONVENTIONS))
def test_every_counting_convention(mish: None, tmp_path: Path, count: str) -> None:
    # An activation counts as its family does: nothing, under every tool's rule.
    ours = _json("summarize", _spec(tmp_path), "--count", count)
    assert [r["counted"] for r in ours["layers"] if r["type"] == "mish"] == [0, 0]
    # The rest of the network is counted as with any other parameter-free activation.
    sigmoid = _json("summarize", _spec(tmp_path, "sigmoid"), "--count", count)
    assert (
        ours["count"] == sigmoid["count"] == {"convention": count, "total": ours["count"]["total"]}
    )
    assert ours["count"]["total"] > 0


@pytest.mark.parametrize("tool", [c for c in CONVENTIONS if c != "archcalc"])
def test_counts_equal_the_tools(mish: None, tool: str) -> None:
    """The family's rule is right for mish: each tool on nn.Mish agrees."""
    require("torch")
    require(tool)
    from archcalc.analysis import analyze
    from archcalc.diagnostics import Diagnostics
    from archcalc.spec import load
    from tests.test_counting import run_tool, torch_net

    graph = load("t.yaml", SPEC.replace("{ACT}", "mish")).graph
    model, chw = torch_net(graph)
    expected = analyze(graph, diagnostics=Diagnostics(), count=tool).totals.counted
    assert run_tool(tool, model, chw) == expected


def test_rf(mish: None, tmp_path: Path) -> None:
    # Element-wise: the receptive fields are those of the same net with identity in its place.
    ours = _json("rf", _spec(tmp_path))
    plain = _json("rf", _spec(tmp_path, "identity"))
    fields = [r["receptive_field"] for r in ours["layers"]]
    assert fields == [r["receptive_field"] for r in plain["layers"]]
    assert fields[3]["size"] == [8, 8]  # 3, then +1 (pool 2), then +2·2 (conv 3 at jump 2)


def test_verify(mish: None, tmp_path: Path) -> None:
    result = cli("verify", _spec(tmp_path))
    assert result.exit_code == 0, result.output
    assert "mish" in result.stdout


def test_forward_matches_torch(mish: None) -> None:
    torch = require("torch")
    import numpy as np

    from archcalc.backend.kernels import relu6
    from tests.torch_graph import from_nchw, to_nchw

    x = np.linspace(-5, 5, 2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    ours = REGISTRY["mish"].forward(Layer("h", {}, [(4, 4, 3)], (4, 4, 3)), [x], {})
    theirs = from_nchw(torch.nn.Mish()(to_nchw(x)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert not np.allclose(ours, relu6(x))  # not some other activation


def test_draw(mish: None, tmp_path: Path) -> None:
    out = tmp_path / "net.dot"
    result = cli("draw", _spec(tmp_path), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count("mish") >= 2  # both layers, named by their type


def test_fixture_leaves_the_registry_as_shipped() -> None:
    assert "mish" not in REGISTRY and "mish_activation" not in ALIASES
