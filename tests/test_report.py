"""`archcalc report`: the page's data against `summarize --format json`, and the page itself in
a real browser (Debian's chromium driven by Playwright): no console errors, no network,
blocks open on click, the table sorts and filters, a selected layer shows its arithmetic and
its receptive field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from tests.oracles import require

SPECS = sorted(p.stem for p in (Path(__file__).parent.parent / "specs").glob("*.yaml"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (repr(result.exception) if result.exit_code else "")


def page_data(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert found
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_page_carries_the_summarize_figures(tmp_path: Path) -> None:
    out = tmp_path / "net.html"
    code, output = run("report", "resnet50", "-o", str(out))
    assert code == 0, output
    result = CliRunner().invoke(main, ["summarize", "resnet50", "--format", "json", "--explain"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    data = page_data(out)
    assert data["report"]["layers"] == summary["layers"]
    assert data["report"]["totals"] == summary["totals"]
    # torchvision's documented ResNet-50 figures
    assert data["report"]["totals"]["params"] == 25_557_032
    assert data["report"]["totals"]["macs"] == 4_089_184_256
    # per-block charts: the top-level parts' sums; layer3 is 6 bottlenecks
    blocks = {b["name"]: b for b in data["blocks"]}
    layer3 = [r for r in summary["layers"] if r["scope"][:1] == ["layer3"]]
    assert blocks["layer3"]["params"] == sum(r["params"] for r in layer3)
    assert blocks["layer3"]["macs"] == sum(r["macs"] for r in layer3)
    # conv1's centre unit (56, 56) of 112: 7×7 at stride 2, pad 3 → input 2·56 − 3 … + 6
    assert data["window"]["conv1"] == [[109, 115], [109, 115]]


def test_page_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "net.html"
    code, _ = run("report", "googlenet", "-o", str(out))
    assert code == 0
    text = out.read_text(encoding="utf-8")
    # the markup, style and script around the data refer to nothing outside the file (the
    # data itself is JSON the script reads, never fetched); the browser test below also
    # checks that opening the page makes no request
    before, after = text.split('<script type="application/json" id="data">')
    around = before + after.split("</script>", 1)[1]
    assert not re.search(r"(src|href)\s*=|@import|url\(|https?://(?!www\.w3\.org/)", around)
    assert "default-src 'none'" in text  # and the browser is told to fetch nothing


def test_bad_usage(tmp_path: Path) -> None:
    code, output = run("report", "lenet5", "-o", str(tmp_path / "net.svg"))
    assert code == 2 and ".html" in output
    spec = tmp_path / "net.html"
    spec.write_text("input: 8x8x1\nlayers:\n  - conv: {filters: 2, kernel: 3}\n")
    code, output = run("report", str(spec), "-o", str(spec))
    assert code == 2 and "refusing" in output
    assert spec.read_text().startswith("input")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = require("chromium")
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, errors, requests


@pytest.mark.parametrize("spec", SPECS)
def test_every_bundled_net_loads_cleanly(browser: Any, tmp_path: Path, spec: str) -> None:
    out = tmp_path / f"{spec}.html"
    code, output = run("report", spec, "-o", str(out))
    assert code in (0, 1), output
    page, errors, requests = open_page(browser, out)
    layers = len(page_data(out)["report"]["layers"])
    assert page.locator("#layers tbody tr").count() == layers
    assert page.locator("#diagram .layer").count() >= 3
    assert errors == []
    assert requests == [out.as_uri()]  # the page itself, nothing else
    page.close()


def test_blocks_open_the_table_sorts_and_a_layer_shows_its_field(
    browser: Any, tmp_path: Path
) -> None:
    out = tmp_path / "resnet50.html"
    run("report", "resnet50", "-o", str(out))
    page, errors, _ = open_page(browser, out)
    # a bottleneck starts closed; a click opens it and shows its ⊕ and its shortcut
    block = page.locator('.block[data-block="layer1.0"]')
    add = page.locator('.layer[data-layer="layer1.0.add1"]')
    assert not add.is_visible()
    block.locator("> .head").click()
    assert "open" in (block.get_attribute("class") or "")
    assert add.is_visible() and add.inner_text() == "+"
    assert page.locator('.layer[data-layer="layer1.0.shortcut.0"]').is_visible()
    block.locator("> .head").click()
    assert not add.is_visible()

    # sort by MACs, descending: the largest first. ResNet-50's largest layers are the 3×3 convs
    # of stage 1 at 56·56·64·3·3·64 = 115,605,504 MACs, and conv1 at 112·112·64·7·7·3 = 118,013,952
    header = page.locator("#layers th", has_text="MACs")
    header.click()
    header.click()
    first = page.locator("#layers tbody tr").first.locator("td")
    assert first.nth(1).inner_text() == "conv1" and first.nth(5).inner_text() == "118,013,952"
    page.locator("#filter").fill("shortcut.0")
    assert page.locator("#layers tbody tr").count() == 4  # one projection per stage

    # selecting a layer shows its worked arithmetic and draws its field on the input
    page.locator('#layers tbody tr[data-layer="layer1.0.shortcut.0"]').click()
    detail = page.locator("#detail").inner_text()
    # layer1's projection: 1×1, 64 → 256 at 56×56: 56·56·256 · 1·1·64 = 51,380,224 MACs
    assert "56·56·256 · 1·1·64 = 51,380,224" in detail
    assert page.locator("#rf-svg .rf-window").count() == 1
    assert errors == []
    page.close()


BAD_FIT = """\
name: bad-fit
input: 7x7x3
strict: true
layers:
  - conv: {name: conv1, filters: 4, kernel: 3, stride: 3}
  - relu
"""


def test_errors_are_on_the_page(browser: Any, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_FIT)
    out = tmp_path / "bad.html"
    code, output = run("report", str(spec), "-o", str(out))
    assert code == 1, output  # strict: (7 − 3)/3 + 1 = 2.33 is an error; the page is written
    page, errors, _ = open_page(browser, out)
    listed = page.locator("#diagnostics").inner_text()
    assert "error:" in listed and "(7 − 3)/3 + 1 = 2.33" in listed
    assert "sev-error" in (page.locator('.layer[data-layer="conv1"]').get_attribute("class") or "")
    assert errors == []
    page.close()


EXAMPLES = Path(__file__).parent / "data" / "examples"


@pytest.mark.parametrize("model", ["mobilenet.onnx", "model.onnx", "small.keras", "model.keras"])
def test_imported_models_load_cleanly(browser: Any, tmp_path: Path, model: str) -> None:
    if model.endswith(".onnx"):
        require("onnx")
    out = tmp_path / f"{model}.html"
    code, output = run("report", str(EXAMPLES / model), "-o", str(out))
    assert code in (0, 1), output
    summary = CliRunner().invoke(main, ["summarize", str(EXAMPLES / model), "--format", "json"])
    data = page_data(out)
    assert data["report"]["totals"] == json.loads(summary.stdout)["totals"]
    page, errors, requests = open_page(browser, out)
    assert page.locator("#layers tbody tr").count() == len(data["report"]["layers"])
    assert page.locator("#diagram .layer").count() >= 3
    assert errors == []
    assert requests == [out.as_uri()]
    page.close()
