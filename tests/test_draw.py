"""`archcalc draw` (rendered with the real Graphviz `dot`, SVG parsed) and `summarize --tree`.

Expected figures are derived by hand in the comments, from the course's formulas:
output = (W − F + 2P)/S + 1, conv params = F·F·C_in·K + K.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from tests.oracles import require

DATA = Path(__file__).parent / "data"
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"

BAD_SPEC = """\
name: bad-fit
input: 7x7x3
layers:
  - conv: {name: conv1, filters: 4, kernel: 3, stride: 3}
  - relu
  - flatten
  - dense: 10
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


class Svg:
    """The parts of a Graphviz SVG a test looks at: nodes, edges, clusters, by their ids."""

    def __init__(self, path: Path) -> None:
        self.root = ET.parse(path).getroot()
        self.groups = {g.get("id"): g for g in self.root.iter(f"{SVG}g") if g.get("class")}

    def of_class(self, cls: str) -> dict[str, ET.Element]:
        return {k: g for k, g in self.groups.items() if g.get("class") == cls and k}

    @property
    def nodes(self) -> dict[str, ET.Element]:
        return self.of_class("node")

    @property
    def edges(self) -> dict[str, ET.Element]:
        return self.of_class("edge")

    @property
    def clusters(self) -> dict[str, ET.Element]:
        return self.of_class("cluster")

    @staticmethod
    def texts(g: ET.Element) -> list[str]:
        return [t.text or "" for t in g.iter(f"{SVG}text")]

    @staticmethod
    def tooltip(g: ET.Element) -> str:
        return next((a.get(f"{XLINK}title") or "" for a in g.iter(f"{SVG}a")), "")

    @staticmethod
    def fill(g: ET.Element) -> str:
        shape = next(
            e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse")
        )
        return shape.get("fill") or ""


def draw_svg(tmp_path: Path, spec: str, *options: str) -> Svg:
    require("dot")
    out = tmp_path / "net.svg"
    code, output = run("draw", spec, "-o", str(out), *options)
    assert code == 0, output
    return Svg(out)


def test_alexnet_compact_by_default(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "alexnet")
    layers = [k for k in svg.nodes if k.startswith("n/")]
    # 24 layers less the 7 relus and the softmax drawn inside the conv or dense box before them
    assert len(layers) == 16
    assert Svg.texts(svg.nodes["n/conv1"]) == ["conv1", "conv 11×11/4, 96", "+ relu"]
    assert Svg.texts(svg.edges["e/n/conv1->n/pool1"]) == [" 55×55×96 "]


def test_alexnet_nodes_edges_and_labels(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "alexnet", "--params", "--depth", "all")
    layers = [k for k in svg.nodes if k.startswith("n/")]
    # the spec lists 24 layers (5 conv, 8 activations, 3 pools, 2 lrn, flatten, 3 dense, 2 dropout)
    assert len(layers) == 24
    assert {"input", "output", "legend"} <= set(svg.nodes)
    # a chain: input → 24 layers → output is 25 edges
    assert len(svg.edges) == 25
    conv1 = Svg.texts(svg.nodes["n/conv1"])
    # 11·11·3·96 + 96 = 34,944 parameters
    assert conv1 == ["conv1", "conv 11×11/4, 96", "34,944 params"]
    # (227 − 11)/4 + 1 = 55: conv1 hands 55×55×96 to its relu
    assert Svg.texts(svg.edges["e/n/conv1->n/relu1"]) == [" 55×55×96 "]
    # pool1: (55 − 3)/2 + 1 = 27; pool3: (13 − 3)/2 + 1 = 6, flattened to 6·6·256 = 9216
    assert Svg.texts(svg.edges["e/n/pool1->n/norm1"]) == [" 27×27×96 "]
    assert Svg.texts(svg.edges["e/n/flatten1->n/fc6"]) == [" 9216 "]
    assert Svg.texts(svg.edges["e/input->n/conv1"]) == [" 227×227×3 "]
    # colour by family: the convs share one fill, the pools another, and the legend names both
    assert Svg.fill(svg.nodes["n/conv1"]) == Svg.fill(svg.nodes["n/conv5"])
    assert Svg.fill(svg.nodes["n/conv1"]) != Svg.fill(svg.nodes["n/pool1"])
    legend = Svg.texts(svg.nodes["legend"])
    assert {"conv", "pool", "dense", "norm", "activation"} <= set(legend)
    assert "warning" not in legend


def test_inception_branches_merge_in_a_concat(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, str(DATA / "inception_block.yaml"), "--depth", "all")
    assert set(svg.clusters) == {
        "cluster/inception3a",
        *(f"cluster/inception3a.b{i}" for i in range(1, 5)),
    }
    concat = "n/inception3a.concat1"
    assert "concat" in " ".join(Svg.texts(svg.nodes[concat]))
    into = {k: Svg.texts(g)[0].strip() for k, g in svg.edges.items() if k.endswith("->" + concat)}
    # 1×1 64 | 1×1 96 → 3×3 128 | 1×1 16 → 5×5 32 | 3×3 maxpool → 1×1 32, all at 28×28
    assert sorted(into.values()) == sorted(["28×28×64", "28×28×128", "28×28×32", "28×28×32"])
    # 64 + 128 + 32 + 32 = 256 channels leave the block
    assert Svg.texts(svg.edges[f"e/{concat}->output"]) == [" 28×28×256 "]
    # the input fans out to the four branches
    assert sum(k.startswith("e/input->") for k in svg.edges) == 4


def test_resnet50_default_shows_each_bottleneck_open_with_its_skip(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "resnet50")
    stages = {f"cluster/layer{i}" for i in range(1, 5)}
    blocks = set(svg.clusters) - stages
    # ResNet-50 has 3, 4, 6, 3 bottlenecks per stage: the first of each projects, the rest
    # (2, 3, 5, 2) are identical and folded into one figure with a ×N badge
    assert stages <= set(svg.clusters) and len(blocks) == 8
    badges = sorted(t for c in blocks for t in Svg.texts(svg.clusters[c]) if t.startswith("×"))
    assert badges == sorted(["×2", "×3", "×5", "×2"])
    # each figure has its ⊕ (with the relu after it)
    adds = {k: g for k, g in svg.nodes.items() if k.endswith("/merge")}
    assert len(adds) == 8 and all("+" in Svg.texts(g) for g in adds.values())
    assert all("relu" in " ".join(Svg.texts(g)) for g in adds.values())
    # first bottleneck of stage 1: body 1×1,64 → 3×3,64 → 1×1,256; projection 1×1,256 + bn
    down = "m/layer1.0"
    assert Svg.texts(svg.nodes[f"{down}/body"])[:3] == [
        "conv 1×1, 64",
        "conv 3×3, 64",
        "conv 1×1, 256",
    ]
    shortcut = f"{down}/layer1.0.shortcut"
    assert Svg.texts(svg.nodes[shortcut])[0] == "conv 1×1, 256"
    # the skips: the projection and the body both end in ⊕; the identity shortcut of the
    # folded bottleneck runs from the projecting block's ⊕ straight to the next ⊕
    assert f"e/{down}/body->{down}/merge" in svg.edges
    assert f"e/{shortcut}->{down}/merge" in svg.edges
    assert f"e/{down}/merge->m/layer1.1/merge" in svg.edges
    # 64·64 + 9·64·64 + 64·256 + 64·256 + 2·(64 + 64 + 256 + 256) = 75,008 → "75.01 K"
    title = " ".join(Svg.texts(svg.clusters["cluster/layer1.0"]))
    assert "75.01 K params" in title
    assert len(svg.nodes) < 40  # readable: stem, 8 figures of 3 boxes, head, input/output/legend


def test_googlenet_default_shows_inception_branches_side_by_side(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "googlenet")
    fig = "m/inception3a"
    branches = [Svg.texts(svg.nodes[f"{fig}/inception3a.parallel1.b{i}"]) for i in range(1, 5)]
    # Table 1, inception (3a): #1x1 64 | #3x3 reduce 96, #3x3 128 | 16, 32 (torchvision: 3x3) |
    # pool proj 32; every conv followed by batchnorm and relu (torchvision's BasicConv2d)
    assert [b[:-1] for b in branches] == [
        ["conv 1×1, 64"],
        ["conv 1×1, 96", "conv 3×3, 128"],
        ["conv 1×1, 16", "conv 3×3, 32"],
        ["maxpool 3×3/1", "conv 1×1, 32"],
    ]
    # side by side: the four branch boxes share one row of the layout
    ys = [_centre_y(svg.nodes[f"{fig}/inception3a.parallel1.b{i}"]) for i in range(1, 5)]
    assert max(ys) - min(ys) < 2
    # 64 + 128 + 32 + 32 = 256 channels leave the module
    assert Svg.texts(svg.edges[f"e/{fig}/merge->m/inception3b/inception3b.parallel1.b1"]) == [
        " 28×28×256 "
    ]


def _centre_y(g: ET.Element) -> float:
    ys = [float(t.get("y") or 0) for t in g.iter(f"{SVG}text")]
    return sum(ys) / len(ys)  # the middle of the box's lines: its centre


def test_unet_is_drawn_as_a_u(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "unet")

    def y(node: str) -> float:
        return float(next(svg.nodes[node].iter(f"{SVG}text")).get("y") or 0)

    def x(node: str) -> float:
        return float(next(svg.nodes[node].iter(f"{SVG}text")).get("x") or 0)

    # each level of the encoder faces its decoder across, skip between them: 512, 256, 128,
    # 64 wide, going down; the 32-wide bottom lowest
    for k in range(1, 5):
        assert y(f"u/enc{k}") == pytest.approx(y(f"u/dec{k}"), abs=15)
        assert x(f"u/enc{k}") < x(f"n/cat{k}") < x(f"u/dec{k}")
        assert f"e/u/enc{k}->n/cat{k}" in svg.edges
    assert y("u/enc1") < y("u/enc2") < y("u/enc3") < y("u/enc4") < y("u/bottom")


def test_long_run_of_differing_blocks_drawn_first_middle_last(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "densenet121")
    # denseblock3 has 24 dense layers, each wider than the last: layer 1, one box for 2…23, 24
    middle = " ".join(Svg.texts(svg.nodes["x/denseblock3.dense_layer2"]))
    assert "dense_layer2 … dense_layer23" in middle and "22 more dense_layer blocks" in middle
    # 256 + 32·k channels after k layers: 256 + 64 = 320 after layer 2, 256 + 736 = 992 after 23
    assert "14×14×320 … 14×14×992" in middle
    assert "cluster/denseblock3.dense_layer24" in svg.clusters


def test_dpi_scales_the_png(tmp_path: Path) -> None:
    require("dot")
    Image = require("PIL.Image")
    sizes = []
    for dpi in ("96", "192"):
        out = tmp_path / f"net{dpi}.png"
        code, output = run("draw", "lenet5", "-o", str(out), "--dpi", dpi)
        assert code == 0, output
        sizes.append(Image.open(out).size)
    assert sizes[1][0] == pytest.approx(2 * sizes[0][0], rel=0.02)
    code, output = run("draw", "lenet5", "-o", str(tmp_path / "x.png"), "--dpi", "5000")
    assert code == 2 and "--dpi" in output


def test_resnet50_bottleneck_expanded_shows_the_residual_add(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "resnet50", "--depth", "all", "--no-fold")
    adds = [g for k, g in svg.nodes.items() if k.endswith(".add1")]
    assert len(adds) == 16  # one ⊕ per bottleneck: 3 + 4 + 6 + 3
    assert all(Svg.texts(g) == ["+"] for g in adds)
    # every one of the 174 layers is drawn, plus input, output and legend
    assert len(svg.nodes) == 174 + 3
    # the identity shortcut of layer1.1 is an edge from the previous block's last relu to ⊕
    shortcut = "e/n/layer1.0.relu3->n/layer1.1.add1"
    assert Svg.texts(svg.edges[shortcut]) == [" 56×56×256 "]
    assert "cluster/layer1.0.shortcut" in svg.clusters


def test_depth_one_bottleneck_open(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "resnet50", "--depth", "4")
    # folded: two bottleneck clusters per stage, each opened down to its ⊕
    adds = [k for k in svg.nodes if k.endswith(".add1")]
    assert len(adds) == 8
    label = Svg.texts(svg.clusters["cluster/layer3.1"])[0]
    assert "×5" in label


def test_bad_stride_fit_in_warning_colour_with_tooltip(tmp_path: Path) -> None:
    from archcalc.render.graphviz import WARNING_FILL

    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    svg = draw_svg(tmp_path, str(spec))
    conv = svg.nodes["n/conv1"]
    # (7 − 3)/3 + 1 = 2.33: the 3×3 filter at stride 3 does not fit a 7×7 input
    assert Svg.fill(conv) == WARNING_FILL
    assert "2.33" in Svg.tooltip(conv) and "warning" in Svg.tooltip(conv)
    # the arithmetic itself is visible in PNG/PDF too
    assert Svg.texts(conv)[-1].endswith("(7 − 3)/3 + 1 = 2.33")
    assert Svg.texts(conv)[-1].startswith("warning: ")
    assert Svg.fill(svg.nodes["n/flatten1"]) != WARNING_FILL
    assert "warning" in Svg.texts(svg.nodes["legend"])


def _no_dot_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_dot_output_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_dot_path(tmp_path, monkeypatch)
    out = tmp_path / "alexnet.dot"
    code, output = run("draw", "alexnet", "-o", str(out))
    assert code == 0, output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("digraph")
    assert '"n/conv1" -> "n/pool1"' in text and "55×55×96" in text


def test_png_without_graphviz_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_dot_path(tmp_path, monkeypatch)
    out = tmp_path / "alexnet.png"
    out.write_bytes(b"an older picture")
    code, output = run("draw", "alexnet", "-o", str(out))
    assert code == 2
    assert "Traceback" not in output
    assert "apt-get install graphviz" in output and "brew install graphviz" in output
    assert out.read_bytes() == b"an older picture"  # the user's file is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".archcalc")] == []


def test_refuses_to_overwrite_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "net.dot"  # a spec file that happens to carry a diagram suffix
    spec.write_text(BAD_SPEC)
    code, output = run("draw", str(spec), "-o", str(spec))
    assert code == 2
    assert "refusing" in output
    assert spec.read_text() == BAD_SPEC


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "net.jpg"], "cannot tell the diagram format"),
        (["-o", "net.svg", "--depth", "0"], "--depth takes a positive"),
        (["-o", "net.svg", "--depth", "deep"], "--depth takes a positive"),
    ],
)
def test_bad_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run("draw", "alexnet", *args)
    assert code == 2 and message in output and "Traceback" not in output


def test_overwrites_an_older_diagram_atomically(tmp_path: Path) -> None:
    out = tmp_path / "alexnet.dot"
    out.write_text("old")
    code, _ = run("draw", "alexnet", "-o", str(out), "--rankdir", "LR")
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "rankdir=LR" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alexnet.dot"]


def test_new_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    out = tmp_path / "alexnet.dot"
    umask = os.umask(0o022)
    try:
        code, _ = run("draw", "alexnet", "-o", str(out))
    finally:
        os.umask(umask)
    assert code == 0
    assert out.stat().st_mode & 0o777 == 0o644  # not the temp file's private 0600


def test_input_override_changes_the_edge_shapes(tmp_path: Path) -> None:
    out = tmp_path / "a.dot"
    code, _ = run("draw", "alexnet", "-o", str(out), "--input", "259x259x3")
    assert code == 0
    # (259 − 11)/4 + 1 = 63
    assert "63×63×96" in out.read_text(encoding="utf-8")


# -- summarize --tree ---------------------------------------------------------------------------


def test_tree_inception_branch_totals() -> None:
    code, output = run("summarize", str(DATA / "inception_block.yaml"), "--tree")
    assert code == 0, output
    lines = output.splitlines()
    b2 = next(line for line in lines if "── b2" in line)
    # 1×1 reduce: 192·96 + 96 = 18,528; 3×3: 9·96·128 + 128 = 110,720; sum 129,248
    assert "4 layers, 129,248 params" in b2 and "28x28x128" in b2
    assert any("concat1  concat  → 28x28x256" in line for line in lines)
    # whole module: 12,352 + 129,248 + (3,088 + 12,832) + 6,176 = 163,696
    assert "163,696 params" in lines[0]


def test_tree_resnet50_blocks_and_repeats() -> None:
    code, output = run("summarize", "resnet50", "--tree", "-q")
    assert code == 0, output
    assert "1 … 5 (bottleneck) ×5" in output
    # the first stage: 75,008 for the projecting block (see above) + 2 × 70,400, where a plain
    # bottleneck is 256·64 + 9·64·64 + 64·256 + 2·(64 + 64 + 256) = 70,400
    stage = next(line for line in output.splitlines() if "layer1 (stage)" in line)
    assert "215,808 params" in stage and "32 layers" in stage
    assert "70,400 params each" in output
    assert "25,557,032 params" in output.splitlines()[0]  # torchvision's published count


def test_tree_marks_the_bad_layer(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    code, output = run("summarize", str(spec), "--tree")
    assert code == 0  # a warning, not an error
    conv = next(line for line in output.splitlines() if "conv1" in line and "→" in line)
    assert "warning: stride fit" in conv and "2x2x4" in conv


def test_tree_refuses_other_formats() -> None:
    code, output = run("summarize", "alexnet", "--tree", "--format", "json")
    assert code == 2 and "--tree" in output


def test_nested_split_listed_side_by_side(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "inception_v3")
    # Mixed_7b (torchvision InceptionE): branch 2 is 1×1, 384 then a 1×3 | 3×1 pair of 384
    lines = Svg.texts(svg.nodes["m/Mixed_7b/Mixed_7b.parallel1.b2"])
    assert lines[:2] == ["conv 1×1, 384", "conv 1×3, 384 | conv 3×1, 384"]


def test_stages_of_different_structure_are_not_elided(tmp_path: Path) -> None:
    svg = draw_svg(tmp_path, "mobilenet_v2")
    assert not any(k.startswith("x/") for k in svg.nodes)
    # each stage's first inverted residual is one box: expand 1×1, depthwise 3×3, project 1×1
    # (stage 3 of the paper's Table 2: t = 6, c = 32, s = 2 on 24 channels: 144 = 6·24)
    assert Svg.texts(svg.nodes["u/stage3.inverted1"])[1:4] == [
        "conv 1×1, 144",
        "conv 3×3/2, 144, depthwise",
        "conv 1×1, 32",
    ]
