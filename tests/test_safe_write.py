"""Issue #9 items 3 and 4: nothing the user gave is overwritten, permissions are respected,
every file problem is a message with exit status 2 (never a traceback), and `run -o` writes
the file it names. The writer is archcalc/safeio.py; these go through the real commands."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from archcalc.cli import main
from archcalc.diagnostics import UsageError
from archcalc.safeio import write_output

BOX = "input: 4x4x1\nlayers:\n  - conv: {filters: 1, kernel: 2}\n"


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory holding box.yaml (the spec) and x.npy (a 4x4 input), as the cwd."""
    (tmp_path / "box.yaml").write_text(BOX)
    np.save(tmp_path / "x.npy", np.arange(16, dtype=np.float32).reshape(4, 4))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for path in tmp_path.rglob("*"):  # let pytest clean up what a test made read-only
        path.chmod(0o755 if path.is_dir() else 0o644)


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def unchanged(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before


RUN = ("run", "box.yaml", "--input", "x.npy", "--random-weights")

# -- item 4: what the user gave is never overwritten ------------------------------------------


def test_run_output_over_the_spec_is_refused(work: Path) -> None:
    before = (work / "box.yaml").read_bytes()
    refused(run_cli(*RUN, "-o", "box.yaml"), "cannot tell how to save 'box.yaml'")
    (work / "spec.csv").write_text(BOX)
    before = (work / "spec.csv").read_bytes()
    refused(
        run_cli("run", "spec.csv", "--input", "x.npy", "--random-weights", "-o", "spec.csv"),
        "refusing to write over 'spec.csv', which this command reads",
    )
    unchanged(work / "spec.csv", before)


def test_run_output_over_the_input_is_refused(work: Path) -> None:
    before = (work / "x.npy").read_bytes()
    refused(run_cli(*RUN, "-o", "x.npy"), "refusing to write over 'x.npy'")
    unchanged(work / "x.npy", before)


def test_run_output_over_the_weights_is_refused(work: Path) -> None:
    np.savez(work / "w.npz", **{"conv1.kernel": np.ones((2, 2, 1, 1)), "conv1.bias": np.zeros(1)})
    before = (work / "w.npz").read_bytes()
    refused(
        run_cli("run", "box.yaml", "--input", "x.npy", "-w", "w.npz", "-o", "w.npz"),
        "refusing to write over 'w.npz'",
    )
    unchanged(work / "w.npz", before)


def test_links_to_an_input_are_caught(work: Path) -> None:
    (work / "spec.dot").write_text(BOX)  # a spec with a diagram's name, to reach the check
    os.symlink("spec.dot", work / "soft.dot")
    os.link(work / "spec.dot", work / "hard.dot")
    for target in ("soft.dot", "hard.dot"):
        refused(run_cli("draw", "spec.dot", "-o", target), "refusing to write over 'spec.dot'")
    refused(run_cli("draw", "soft.dot", "-o", "hard.dot"), "which this command reads")
    assert (work / "spec.dot").read_text() == BOX
    np.save(work / "y.npy", np.zeros((4, 4)))
    os.symlink("x.npy", work / "x-link.npy")
    refused(run_cli(*RUN, "-o", "x-link.npy"), "refusing to write over 'x.npy'")


def test_draw_over_a_read_only_file_is_refused(work: Path) -> None:
    (work / "ro.dot").write_text("keep")
    (work / "ro.dot").chmod(stat.S_IRUSR | stat.S_IRGRP)
    refused(run_cli("draw", "box.yaml", "-o", "ro.dot"), "'ro.dot' is read-only")
    assert (work / "ro.dot").read_text() == "keep"
    assert stat.S_IMODE((work / "ro.dot").stat().st_mode) == stat.S_IRUSR | stat.S_IRGRP


def test_run_o_npz_writes_exactly_that_name(work: Path) -> None:
    result = run_cli(*RUN, "-o", "w.npz")
    assert result.exit_code == 0, result.stderr
    assert "saved to w.npz" in result.stderr
    assert not (work / "w.npz.npy").exists()
    with np.load(work / "w.npz") as saved:
        assert saved["output"].shape == (3, 3)


@pytest.mark.parametrize("name", ["y.npy", "y.csv", "y.txt", "y.npz"])
def test_run_o_writes_what_it_prints(work: Path, name: str) -> None:
    printed = run_cli(*RUN)
    assert printed.exit_code == 0
    expected = np.array([[float(v) for v in row.split()] for row in printed.stdout.splitlines()])
    assert run_cli(*RUN, "-o", name).exit_code == 0
    if name.endswith(".npy"):
        saved = np.load(work / name)
    elif name.endswith(".npz"):
        saved = np.load(work / name)["output"]
    else:
        saved = np.loadtxt(work / name, delimiter=",")
    np.testing.assert_allclose(saved, expected, rtol=1e-5)
    assert sorted(p.name for p in work.iterdir()) == sorted(["box.yaml", "x.npy", name])


def test_run_o_with_an_unknown_suffix_is_refused_before_running(work: Path) -> None:
    refused(run_cli(*RUN, "-o", "y.dat"), "cannot tell how to save 'y.dat'", ".npz")
    assert not (work / "y.dat").exists()


def test_a_replaced_file_keeps_its_mode(work: Path) -> None:
    (work / "y.npy").write_text("old")
    (work / "y.npy").chmod(0o640)
    assert run_cli(*RUN, "-o", "y.npy").exit_code == 0
    assert stat.S_IMODE((work / "y.npy").stat().st_mode) == 0o640
    assert np.load(work / "y.npy").shape == (3, 3)


# -- item 3: file problems are messages --------------------------------------------------------


def test_draw_into_a_missing_directory(work: Path) -> None:
    refused(
        run_cli("draw", "box.yaml", "-o", "no/such/dir/x.dot"),
        "cannot write 'no/such/dir/x.dot': the directory 'no/such/dir' does not exist",
    )
    assert not (work / "no").exists()


def test_draw_into_a_read_only_directory(work: Path) -> None:
    (work / "ro").mkdir()
    (work / "ro").chmod(0o555)
    refused(run_cli("draw", "box.yaml", "-o", "ro/x.dot"), "the directory 'ro' is read-only")
    assert list((work / "ro").iterdir()) == []


def test_draw_from_a_read_only_current_directory(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "ro").mkdir()
    (work / "ro").chmod(0o555)
    monkeypatch.chdir(work / "ro")
    refused(run_cli("draw", "../box.yaml", "-o", "x.dot"), "the directory '.' is read-only")


def test_draw_into_a_directory_name(work: Path) -> None:
    (work / "d.dot").mkdir()
    refused(run_cli("draw", "box.yaml", "-o", "d.dot"), "'d.dot' is a directory")


def test_run_with_a_string_npy(work: Path) -> None:
    np.save(work / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    refused(
        run_cli("run", "box.yaml", "--input", "s.npy", "--random-weights"),
        "'s.npy' holds text (<U1)",
    )


def test_run_with_a_complex_npy_says_so_without_a_numpy_warning(work: Path) -> None:
    np.save(work / "c.npy", np.ones((4, 4)) + 1j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked ComplexWarning would fail here
        result = run_cli("run", "box.yaml", "--input", "c.npy", "--random-weights")
    refused(result, "'c.npy' holds complex numbers (complex128)", "array.real")
    assert "Warning" not in result.output


def test_run_with_a_corrupt_npz_as_weights(work: Path) -> None:
    (work / "bad.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    refused(
        run_cli("run", "box.yaml", "--input", "x.npy", "-w", "bad.npz"),
        "cannot read weights from 'bad.npz'",
        "numpy.savez",
    )


def test_run_with_a_npy_as_weights(work: Path) -> None:
    refused(
        run_cli("run", "box.yaml", "--input", "x.npy", "-w", "x.npy"),
        "'x.npy' is a single array; --weights takes an .npz archive",
    )


def test_run_with_a_truncated_npy(work: Path) -> None:
    data = (work / "x.npy").read_bytes()
    (work / "t.npy").write_bytes(data[:-10])
    refused(
        run_cli("run", "box.yaml", "--input", "t.npy", "--random-weights"),
        "cannot read the array in 't.npy'",
    )


def test_run_with_an_npz_as_input(work: Path) -> None:
    np.savez(work / "in.npz", x=np.ones((4, 4)))
    refused(
        run_cli("run", "box.yaml", "--input", "in.npz", "--random-weights"),
        "--input takes one array",
    )


def test_run_with_an_object_npy_is_refused_without_unpickling(work: Path) -> None:
    np.save(work / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    refused(run_cli("run", "box.yaml", "--input", "o.npy", "--random-weights"), "Python objects")


# -- the writer itself ---------------------------------------------------------------------


def test_writer_leaves_no_temporary_file_when_the_write_fails(tmp_path: Path) -> None:
    def boom(fh: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(UsageError, match=r"cannot write .*No space left on device"):
        write_output(str(tmp_path / "out.bin"), boom)
    assert list(tmp_path.iterdir()) == []


def test_writer_keeps_a_symlink_and_writes_through_it(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("old")
    os.symlink("real.txt", tmp_path / "link.txt")
    write_output(str(tmp_path / "link.txt"), b"new")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "new"


def test_writer_makes_parents_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(UsageError, match="does not exist"):
        write_output(str(target), b"x")
    write_output(str(target), b"x", make_parents=True)
    assert target.read_bytes() == b"x"


def test_writer_writes_into_a_device_without_replacing_it(tmp_path: Path) -> None:
    write_output("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
