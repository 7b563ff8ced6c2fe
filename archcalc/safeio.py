"""The one way archcalc writes a file.

Every command that writes (draw, run -o, and any later report/animate/plot/export/import)
calls :func:`write_output`, so that all of them keep the same promises:

- nothing the command read is overwritten: the output is compared with every input of the
  command by device and inode, so a symlink or a hard link to the spec is caught too;
- permissions are respected: a read-only file, or a file in a read-only directory, is an
  error, never chmod-ed or replaced (also when running as root, which ``os.access`` would let
  through); a replaced file keeps its mode;
- nothing is created outside the named path: a missing directory is an error unless the
  caller passes ``make_parents=True``; a symlink is written through (the link stays);
- the write is atomic: a temporary file in the same directory is renamed over the target, so
  an interrupted command leaves either the old file or the new one;
- the file has exactly the name reported (pass file objects to writers such as ``numpy.save``
  that would otherwise append a suffix);
- every OS error becomes a :class:`~archcalc.diagnostics.UsageError` (a message, exit 2).

Usage, in a command::

    from archcalc.safeio import check_output, write_output

    check_output(output, inputs=[spec_file])  # early: before any expensive work
    ...
    write_output(output, data_bytes, inputs=[spec_file])
    write_output(output, lambda fh: numpy.save(fh, array), inputs=[spec_file, data_file])
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

from archcalc.diagnostics import UsageError

Writer = Callable[[BinaryIO], None]


def check_output(path: str, inputs: Iterable[str | None] = (), make_parents: bool = False) -> str:
    """Raise UsageError if ``path`` may not be written; return the file that will be written
    (``path`` itself, or the file a symlink at ``path`` points to)."""
    if not path:
        raise UsageError("the output file name is empty", "give a name such as net.svg")
    target = os.path.realpath(path) if os.path.islink(path) else path
    if os.path.isdir(target):
        raise UsageError(f"'{path}' is a directory", "give a file name inside it, e.g. net.svg")
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as err:
        raise _os_error(path, err) from None
    if existing is not None:
        for given in inputs:
            if given and _same_file(existing, given):
                raise UsageError(
                    f"refusing to write over '{given}', which this command reads"
                    + (f" ('{path}' is the same file)" if given != path else ""),
                    "choose another output file name",
                )
        if stat.S_ISREG(existing.st_mode) and not _writable(existing, target):
            raise UsageError(
                f"'{path}' is read-only; archcalc does not replace read-only files",
                "choose another output file name, or make the file writable if it may go",
            )
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        if make_parents:
            return target
        raise UsageError(
            f"cannot write '{path}': the directory '{os.path.dirname(path) or '.'}' does not exist",
            "create the directory first, or give a path in an existing one",
        )
    try:
        dir_stat = os.stat(directory)
    except OSError as err:
        raise _os_error(path, err) from None
    if (existing is None or stat.S_ISREG(existing.st_mode)) and not _writable(dir_stat, directory):
        raise UsageError(
            f"cannot write '{path}': the directory '{os.path.dirname(path) or '.'}' is read-only",
            "write into a directory you may change, e.g. -o /tmp/" + os.path.basename(path),
        )
    return target


def write_output(
    path: str,
    data: bytes | Writer,
    inputs: Iterable[str | None] = (),
    make_parents: bool = False,
) -> None:
    """Write ``data`` (bytes, or a function writing to a binary file) to ``path`` under the
    rules in this module's docstring; raise UsageError instead of writing when one is broken."""
    inputs = list(inputs)
    target = check_output(path, inputs, make_parents)
    write = _bytes_writer(data) if isinstance(data, bytes) else data
    try:
        if make_parents:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        if os.path.exists(target) and not os.path.isfile(target):
            # a device or pipe (/dev/stdout, /dev/null): write into it, never replace it
            with open(target, "wb") as fh:
                write(fh)
            return
        _replace(target, write)
    except OSError as err:
        raise _os_error(path, err) from None


def _bytes_writer(data: bytes) -> Writer:
    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return write


def _replace(target: str, write: Writer) -> None:
    directory = os.path.dirname(os.path.abspath(target))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # a replaced file keeps its mode
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask  # what a plain open() would give a new file
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _same_file(output: os.stat_result, given: str) -> bool:
    try:
        other = os.stat(given)
    except (OSError, ValueError):
        return False  # '-', a bundled name, inline data: not a file on disk
    return (other.st_dev, other.st_ino) == (output.st_dev, output.st_ino)


def _writable(st: os.stat_result, path: str) -> bool:
    # the mode bits as well as access(): root may write anywhere, but a file or directory
    # without any write bit was made read-only on purpose
    return bool(st.st_mode & 0o222) and os.access(path, os.W_OK)


def _os_error(path: str, err: OSError) -> UsageError:
    return UsageError(f"cannot write '{path}': {err.strerror or err}")
