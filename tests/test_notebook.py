"""docs/archcalc.ipynb runs in a real Jupyter kernel (nbclient + ipykernel) and shows what the
text around it claims."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.oracles import require

NOTEBOOK = Path(__file__).parent.parent / "docs" / "archcalc.ipynb"


def _text(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


def test_notebook_runs_and_its_outputs_are_true(tmp_path: Path, monkeypatch: Any) -> None:
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    require("ipykernel")
    require("torch")
    require("dot")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # the kernel is this interpreter, importing this tree's archcalc
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(NOTEBOOK.parent.parent), os.environ.get("PYTHONPATH", "")]),
    )
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    texts = [_text(c) for c in cells]
    one_layer = texts[1]
    assert "<table>" in one_layer and "32x32x10" in one_layer and "760" in one_layer
    assert "(32, 32, 10) 760" in texts[2] and "(5·5·3 + 1)·10 = 760" in texts[2]
    assert "62,378,344 parameters" in texts[4]
    assert "<svg" in texts[5]
    assert "layer1.0.conv1" in texts[6] and "<table>" in texts[6]
    assert texts[7].split() == ["True", "(56,", "56,", "64)"]
