"""Every YAML example in docs/spec-format.md is a spec archcalc accepts without errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import analyse

DOC = Path(__file__).parent.parent / "docs" / "spec-format.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example{i + 1}" for i in range(len(EXAMPLES))])
def test_example_analyses(text: str) -> None:
    report = analyse(text)
    assert not report.has_errors, [d.message for d in report.diagnostics]
    assert report.layers and all(row.output_shape for row in report.layers)


def test_doc_lists_every_op() -> None:
    from archcalc.ops import REGISTRY

    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in REGISTRY if f"`{name}`" not in text]
    assert missing == [], "document every layer type in docs/spec-format.md"


def test_op_table_is_current() -> None:
    from archcalc.docs_ops import current, table

    assert current(DOC.read_text(encoding="utf-8")) == table(), (
        "regenerate the table: python -m archcalc.docs_ops"
    )


def test_op_table_lists_every_alias() -> None:
    from archcalc.docs_ops import current
    from archcalc.ops import ALIASES

    text = current(DOC.read_text(encoding="utf-8"))
    assert "batchnorm1d" in text and "localresponsenorm" in text
    assert all(re.search(rf"[(`, ]{alias}[,)`]", text) for alias in ALIASES)
