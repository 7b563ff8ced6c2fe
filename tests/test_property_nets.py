"""Property: on every valid net, the analysis equals execution (#9).

Random valid nets (tests/strategies.py: sequential, residual, parallel, ``inputs:`` DAGs, every
op type, odd sizes, strides above the window, dilation, groups, ``same`` padding) are run by
``verify`` — output shapes, parameters, buffers and MACs of every layer against the NumPy
backend, and the receptive field of every spatial layer (plus the first that sees the whole
input) against probes — and then every sampled unit's exact receptive field is measured again
over every single input row and column.

25 examples in the normal run (a few seconds; the "quick" profile of tests/conftest.py draws the
same ones every run), 400 with ARCHCALC_HYPOTHESIS=ci (.ci/run; about a minute).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import yaml
from hypothesis import given, settings

from archcalc.analysis import analyze_graph
from archcalc.analysis.shapes import infer_shapes
from archcalc.backend import rf_probe
from archcalc.backend.verify import verify
from archcalc.diagnostics import Diagnostics
from archcalc.ops import REGISTRY
from archcalc.spec import load
from tests.helpers import examples
from tests.strategies import valid_nets

SEEN: Counter[str] = Counter()  # what the run generated, reported at the end


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    ops = sorted(op for op in SEEN if op in REGISTRY)
    print(
        f"\nproperty nets: {SEEN['nets']} generated, {SEEN['layers']} layers, "
        f"{SEEN['rf units']} receptive fields measured over every row and column, "
        f"0 mismatches; {len(ops)}/{len(REGISTRY)} op types: {', '.join(ops)}"
    )


@settings(max_examples=examples(25, ci=400))
@given(valid_nets())
def test_analysis_equals_execution(text: str) -> None:
    loaded = load("net.yaml", text)
    graph = loaded.graph
    analysis = analyze_graph(graph, diagnostics=loaded.diagnostics)
    report = analysis.report
    assert not report.has_errors, text
    result = verify(analysis, tuple(graph.input_shape), rf_samples=len(graph.nodes))
    assert result.ok, (text, result.mismatches())
    assert len(result.layers) == len(graph.nodes)

    layers = infer_shapes(graph, Diagnostics(), report.strict)
    fields = {row.name: row.receptive_field for row in report.layers}
    samples = rf_probe.pick_samples(graph, layers, fields, len(graph.nodes))
    checks = rf_probe.measure_fields(graph, layers, fields, samples, full_scan=True)
    for check in checks:
        assert check.ok, (text, check)

    SEEN["nets"] += 1
    SEEN["layers"] += len(graph.nodes)
    SEEN["rf units"] += sum(len(c.probes) for c in checks)
    SEEN.update({node.op.name for node in graph.nodes})
    SEEN.update(str(k) for el in yaml.safe_load(text)["layers"] for k in el)
