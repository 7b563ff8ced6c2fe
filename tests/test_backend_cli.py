"""`archcalc run` and `archcalc verify` at the command line: the course's numeric exercises,
input/weight formats, exit codes, and verify catching deliberately broken rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.ops.base import REGISTRY, Window
from tests.course_data import F_IMAGE, G_EXPECTED


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def matrix(text: str) -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in text.strip().splitlines()])


def inline(m: list[list[float]] | np.ndarray) -> str:
    return json.dumps(np.asarray(m).tolist())


def one_layer(tmp_path: Path, shape: str, layer: str) -> str:
    return write(tmp_path, "net.yaml", f"input: {shape}\nlayers:\n  - {layer}\n")


# ---------------------------------------------------------------------------------------
# The course's exercises
# ---------------------------------------------------------------------------------------


def test_course_max_pooling(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "4x4x1", "maxpool: {kernel: 2, stride: 2}")
    code, out, err = cli("run", spec, "--input", "[[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]]")
    assert code == 0, err
    np.testing.assert_array_equal(matrix(out), [[6, 8], [3, 4]])
    assert "output 2x2" in err


def test_course_average_pooling_with_the_notes_slip(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "4x4x1", "avgpool: {kernel: 2, stride: 2}")
    code, out, _ = cli("run", spec, "-i", "[[2,3,1,9],[4,7,3,5],[8,2,2,2],[1,3,4,5]]")
    assert code == 0
    # The notes print [[4, 4.5], [3.25, 3.25]]; the bottom-left window is 8, 2, 1, 3, whose
    # mean is (8 + 2 + 1 + 3) / 4 = 14 / 4 = 3.5. archcalc says 3.5: a slip in the notes.
    assert (8 + 2 + 1 + 3) / 4 == 3.5
    np.testing.assert_array_equal(matrix(out), [[4, 4.5], [3.5, 3.25]])


def test_course_moving_average_from_a_csv(tmp_path: Path) -> None:
    spec = one_layer(
        tmp_path,
        "10x10x1",
        "conv: {filters: 1, kernel: 3, bias: false, weights: [[1,1,1],[1,1,1],[1,1,1]], scale: 1/9}",
    )
    csv = tmp_path / "f.csv"
    csv.write_text("\n".join(",".join(map(str, row)) for row in F_IMAGE) + "\n")
    code, out, err = cli("run", spec, "--input", str(csv))
    assert code == 0, err
    np.testing.assert_array_equal(np.round(matrix(out)), G_EXPECTED)
    # And from whitespace-separated text, saved as .npy.
    txt = tmp_path / "f.txt"
    txt.write_text("\n".join(" ".join(map(str, row)) for row in F_IMAGE))
    code, _, _ = cli("run", spec, "-i", str(txt), "-o", str(tmp_path / "g.npy"))
    assert code == 0
    g = np.load(tmp_path / "g.npy")
    assert g.shape == (8, 8)
    np.testing.assert_allclose(g, G_EXPECTED, atol=1e-4)


ASYM = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_course_correlation_vs_convolution_on_an_impulse(tmp_path: Path) -> None:
    """The notes' demonstration: correlating an impulse with a kernel gives the kernel rotated
    by 180 degrees; convolving gives the kernel itself."""
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    base = f"conv: {{filters: 1, kernel: 3, pad: 1, bias: false, weights: {ASYM}"
    corr_spec = one_layer(tmp_path, "5x5x1", base + "}")
    code, out, _ = cli("run", corr_spec, "-i", inline(impulse))
    assert code == 0
    corr = matrix(out)
    np.testing.assert_array_equal(corr[1:4, 1:4], np.rot90(ASYM, 2))
    conv_spec = one_layer(tmp_path, "5x5x1", base + ", flip: true}")
    code, out, _ = cli("run", conv_spec, "-i", inline(impulse))
    np.testing.assert_array_equal(matrix(out)[1:4, 1:4], ASYM)


def test_correlation_and_convolution_by_hand(tmp_path: Path) -> None:
    """On a 6x5 image, both against sums written out: G = Σ H[u,v] F[i+u, j+v] (correlation)
    and G = Σ H[u,v] F[i−u, j−v] (convolution), over valid positions."""
    rng = np.random.default_rng(3)
    f = rng.integers(0, 10, (6, 5)).astype(float)
    h = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16 + np.array(
        [[0, 0, 0], [0, 0, 0.5], [0, 0, 0]]
    )  # Gaussian-like, made asymmetric so the flip matters
    weights = inline(h)
    for flip in (False, True):
        spec = one_layer(
            tmp_path,
            "6x5x1",
            f"conv: {{filters: 1, kernel: 3, bias: false, weights: {weights}, flip: {str(flip).lower()}}}",
        )
        code, _, _ = cli("run", spec, "-i", inline(f), "-o", str(tmp_path / "g.npy"))
        assert code == 0
        g = np.load(tmp_path / "g.npy")
        expected = np.zeros((4, 3))
        for i in range(4):
            for j in range(3):
                for u in range(3):
                    for v in range(3):
                        tap = h[2 - u, 2 - v] if flip else h[u, v]
                        expected[i, j] += tap * f[i + u, j + v]
        np.testing.assert_allclose(g, expected, rtol=1e-5)


def test_course_shift_kernel(tmp_path: Path) -> None:
    spec = one_layer(
        tmp_path,
        "4x5x1",
        "conv: {filters: 1, kernel: 3, pad: 1, bias: false, weights: [[0,0,0],[0,0,1],[0,0,0]]}",
    )
    x = np.arange(20).reshape(4, 5) + 1
    code, out, _ = cli("run", spec, "-i", inline(x))
    assert code == 0
    expected = np.zeros((4, 5))
    expected[:, :-1] = x[:, 1:]  # every pixel takes its right neighbour: the image moves left
    np.testing.assert_array_equal(matrix(out), expected)


def test_course_sharpening_filter(tmp_path: Path) -> None:
    """2·δ − box: (18·δ − ones)/9, i.e. centre 17/9 and −1/9 elsewhere."""
    spec = one_layer(
        tmp_path,
        "6x7x1",
        "conv: {filters: 1, kernel: 3, bias: false, scale: 1/9, "
        "weights: [[-1,-1,-1],[-1,17,-1],[-1,-1,-1]]}",
    )
    x = np.random.default_rng(4).integers(0, 255, (6, 7)).astype(float)
    code, _, _ = cli("run", spec, "-i", inline(x), "-o", str(tmp_path / "s.npy"))
    assert code == 0
    s = np.load(tmp_path / "s.npy")
    expected = np.array(
        [[2 * x[i + 1, j + 1] - x[i : i + 3, j : j + 3].mean() for j in range(5)] for i in range(4)]
    )
    np.testing.assert_allclose(s, expected, rtol=1e-5, atol=1e-3)


def test_translation_equivariance_through_run(tmp_path: Path) -> None:
    spec = one_layer(
        tmp_path,
        "12x12x1",
        "conv: {filters: 1, kernel: 3, pad: 1, weights: [[1,0,2],[0,3,0],[1,1,0]]}",
    )
    x = np.random.default_rng(5).standard_normal((12, 12))
    shifted = np.roll(x, (2, 3), axis=(0, 1))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "xs.npy", shifted)
    cli("run", spec, "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    cli("run", spec, "-i", str(tmp_path / "xs.npy"), "-o", str(tmp_path / "ys.npy"))
    y, ys = np.load(tmp_path / "y.npy"), np.load(tmp_path / "ys.npy")
    inner = (slice(3, -1), slice(4, -1))  # away from the wrapped border and the padding
    np.testing.assert_allclose(ys[inner], np.roll(y, (2, 3), axis=(0, 1))[inner], atol=1e-5)


# ---------------------------------------------------------------------------------------
# Inputs, weights, layers, errors
# ---------------------------------------------------------------------------------------


def test_weights_from_npz_and_single_layer(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "n.yaml",
        "input: 5x5x2\nlayers:\n  - conv: {name: c1, filters: 3, kernel: 3}\n  - relu\n",
    )
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    np.savez(tmp_path / "w.npz", **{"c1.kernel": kernel, "c1.bias": bias})
    x = rng.standard_normal((5, 5, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, err = cli(
        "run",
        spec,
        "-i",
        str(tmp_path / "x.npy"),
        "-w",
        str(tmp_path / "w.npz"),
        "--layer",
        "c1",
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert code == 0, err
    y = np.load(tmp_path / "y.npy")
    by_hand = np.einsum("ijc,ijck->k", x[1:4, 2:5], kernel) + bias
    np.testing.assert_allclose(y[1, 2], by_hand, rtol=1e-5)
    assert (y < 0).any()  # only the conv ran: no relu
    code, _, _ = cli(
        "run",
        spec,
        "-i",
        str(tmp_path / "x.npy"),
        "-w",
        str(tmp_path / "w.npz"),
        "-o",
        str(tmp_path / "z.npy"),
    )
    assert code == 0 and (np.load(tmp_path / "z.npy") >= 0).all()


def test_missing_weights_are_an_error_not_random(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "5x5x1", "conv: {filters: 1, kernel: 3}")
    code, out, err = cli("run", spec, "-i", inline(np.ones((5, 5))))
    assert code == 2 and out == ""
    assert "no values for 'conv1.kernel' (3x3x1x1" in err and "--random-weights" in err
    code, out, _ = cli("run", spec, "-i", inline(np.ones((5, 5))), "--random-weights")
    assert code == 0 and matrix(out).shape == (3, 3)


def test_wrong_weight_shape_and_unknown_key(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "5x5x1", "conv: {filters: 1, kernel: 3, bias: false}")
    np.savez(tmp_path / "w.npz", **{"conv1.kernel": np.ones((3, 3))})
    code, _, err = cli("run", spec, "-i", inline(np.ones((5, 5))), "-w", str(tmp_path / "w.npz"))
    assert code == 2 and "is 3x3 but the layer needs 3x3x1x1" in err
    np.savez(
        tmp_path / "v.npz", **{"conv1.kernel": np.ones((3, 3, 1, 1)), "conv2.kernel": np.ones(1)}
    )
    code, _, err = cli("run", spec, "-i", inline(np.ones((5, 5))), "-w", str(tmp_path / "v.npz"))
    assert code == 2 and "'conv2.kernel' does not name an array" in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missing.npy", "no such input file"),
        ("[[1, 2], [3]]", "neither a readable file nor a list of numbers"),
        ("[[[[[1]]]]]", "the input is 5-D"),
    ],
)
def test_bad_inputs_exit_2_with_a_message(tmp_path: Path, value: str, message: str) -> None:
    spec = one_layer(tmp_path, "2x2x1", "relu")
    code, _, err = cli("run", spec, "-i", value)
    assert code == 2 and message in err and "Traceback" not in err


def test_fixed_weights_are_validated_with_a_position(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "5x5x1", "conv: {filters: 1, kernel: 3, weights: [[1, 1], [1, 1]]}")
    code, _, err = cli("summarize", spec)
    assert code == 1
    assert "weights is 2x2 but the kernel is 3x3" in err and "net.yaml:3:" in err
    spec = one_layer(tmp_path, "5x5x1", "conv: {filters: 1, kernel: 3, scale: one}")
    code, _, err = cli("summarize", spec)
    assert code == 2 and "fraction such as 1/9" in err


# ---------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------


def test_verify_passes_and_prints_a_table() -> None:
    code, out, err = cli("verify", "cs231n-conv-example")
    assert code == 0, err
    assert "PASS" in out and "768,000" in out and "5×5 /1×1" in out
    code, out, _ = cli("verify", "cs231n-conv-example", "--format", "json")
    data = json.loads(out)
    conv = data["layers"][0]["checks"]
    assert conv["params"] == {"analysed": 760, "measured": 760, "ok": True}
    assert conv["macs"]["measured"] == 32 * 32 * 10 * 5 * 5 * 3
    assert conv["rf"]["measured"]["size"] == [5, 5] and conv["rf"]["ok"]


def test_verify_says_when_the_input_is_reduced() -> None:
    code, out, _ = cli("verify", "alexnet", "--input", "99x99x3", "--rf-samples", "1")
    assert code == 0
    assert "reduced: the spec says 227x227x3" in out


def test_verify_catches_a_wrong_mac_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    conv = type(REGISTRY["conv"])
    real = conv.macs
    monkeypatch.setattr(conv, "macs", lambda self, layer: real(self, layer) + 1)
    code, _, err = cli("verify", "cs231n-conv-example", "--rf-samples", "0")
    assert code == 1
    assert "FAIL conv: MACs: analysed 768,001, measured 768,000" in err


def test_verify_catches_a_wrong_parameter_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forward that ignores its bias reads fewer arrays than the analysis counts."""
    conv = type(REGISTRY["conv"])
    real = conv.forward
    monkeypatch.setattr(
        conv,
        "forward",
        lambda self, layer, xs, p: real(
            self, layer, xs, {"kernel": p["kernel"], "bias": np.zeros(10, np.float32)}
        ),
    )
    code, _, err = cli("verify", "cs231n-conv-example", "--rf-samples", "0")
    assert code == 1 and "FAIL conv: parameters: analysed 760, measured 750" in err


def test_verify_catches_a_wrong_receptive_field_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = type(REGISTRY["maxpool"])
    real = pool.windows

    def wider(self, layer):  # type: ignore[no-untyped-def]
        return [Window(w.span + 2, w.stride, w.pad_before) for w in real(self, layer)]

    monkeypatch.setattr(pool, "windows", wider)
    code, _, err = cli("verify", "alexnet", "--input", "99x99x3")
    assert code == 1
    assert "receptive field: analysed" in err
    assert "pool" in err or "relu" in err


def test_memory_guard_refuses_before_running() -> None:
    code, out, err = cli("verify", "vgg16", "--max-memory", "100MiB")
    assert code == 2 and out == ""
    assert "would need about" in err and "over the limit of 100.00 MiB" in err
    assert "--batch 1" in err and "smaller --input" in err
    code, _, err = cli("verify", "vgg16", "--max-memory", "lots")
    assert code == 2 and "cannot read the memory size" in err


def test_memory_estimate_covers_the_measured_live_peak() -> None:
    from archcalc.analysis import analyze
    from archcalc.analysis.shapes import infer_shapes
    from archcalc.backend import executor as ex
    from archcalc.backend import memory as mem
    from archcalc.diagnostics import Diagnostics
    from archcalc.spec import load

    graph = load("resnet50").graph
    graph.input_shape = (96, 96, 3)
    report = analyze(graph, batch=2)
    layers = infer_shapes(graph, Diagnostics(), False)
    est = mem.estimate_memory(graph, layers, report.totals.peak_activation_bytes, 2, 4)
    params = ex.init_params(graph, layers)
    x = np.zeros((2, 96, 96, 3), np.float32)
    run = ex.execute(graph, layers, params, x)
    assert run.peak_live_bytes <= est.activations
    assert est.weights == 4 * sum(a.size for p in params.values() for a in p.values())


def test_parse_bytes() -> None:
    from archcalc.backend.memory import parse_bytes

    assert parse_bytes("2GiB") == 2 * 2**30
    assert parse_bytes("512M") == 512 * 2**20
    assert parse_bytes("1.5 GB") == int(1.5 * 2**30)
    assert parse_bytes("1000") == 1000


def test_run_has_the_memory_guard_too(tmp_path: Path) -> None:
    spec = one_layer(tmp_path, "64x64x1", "conv: {filters: 512, kernel: 3, pad: 1}")
    code, out, err = cli(
        "run", spec, "-i", inline(np.zeros((64, 64))), "--random-weights", "--max-memory", "1MiB"
    )
    assert code == 2 and out == ""
    assert "would need about" in err and "over the limit of 1.00 MiB (--max-memory)" in err


def test_verify_in_float64() -> None:
    code, out, _ = cli("verify", "lenet5", "--dtype", "float64", "--batch", "3", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["dtype"] == "float64" and data["batch"] == 3 and data["ok"]
    code, _, err = cli("verify", "lenet5", "--dtype", "int8")
    assert code == 2 and "float32 or float64" in err


def test_single_dense_layer_takes_a_vector(tmp_path: Path) -> None:
    spec = write(
        tmp_path, "d.yaml", "input: 2x2x1\nlayers:\n  - flatten\n  - dense: {name: fc, units: 2}\n"
    )
    np.savez(
        tmp_path / "w.npz", kernel=np.array([[1, 0], [0, 1], [1, 1], [2, -1]]), bias=np.zeros(2)
    )
    code, out, err = cli(
        "run", spec, "--layer", "fc", "-i", "[1, 2, 3, 4]", "-w", str(tmp_path / "w.npz")
    )
    assert code == 0, err
    # [1, 2, 3, 4] @ kernel = [1 + 3 + 8, 2 + 3 − 4]
    np.testing.assert_array_equal(matrix(out), [[12, 1]])
