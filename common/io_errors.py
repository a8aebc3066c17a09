"""Writing output files safely: atomic text writes, and one-line errors for the operating-system failures
a user can fix (a full disk, a read-only or unwritable folder, a path through a file).

Entry points (run.py, inference.py, prepare_mels, export) run their work inside `output_errors(flag)`,
which turns such an OSError into an `OutputError` naming the path, the cause and the fix. Other OSErrors
(bugs, network failures) are left alone. Writes are atomic where a half-written file could replace a good
one, so a failure never loses what was written before.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


class OutputError(Exception):
    """An output file or folder that cannot be written; the message names it, the cause and the fix."""


def describe_output_error(err: OSError, flag: str) -> str | None:
    """`cannot write PATH: CAUSE; FIX` for a full disk or an unwritable path (`flag` is the option that
    chose the folder), None for other errors."""
    path = err.filename or "an output file"
    cause = (err.strerror or os.strerror(err.errno or 0)).lower()
    if err.errno in NO_SPACE:
        fix = f"free some space or choose another {flag}; files written before are intact"
    elif err.errno in NOT_WRITABLE:
        fix = f"choose a writable {flag} folder (or fix its permissions)"
    else:
        return None
    return f"cannot write {path}: {cause}; {fix}"


@contextmanager
def output_errors(flag: str) -> Iterator[None]:
    """Turn a full-disk or unwritable-path OSError raised inside into an OutputError (see the module)."""
    try:
        yield
    except OSError as err:
        message = describe_output_error(err, flag)
        if message is None:
            raise
        raise OutputError(message) from None


def naming(err: OSError, path: str | Path) -> OSError:
    """`err` with `path` as its file name where it has none (a write through a file handle names nothing),
    so that the one-line error says which file could not be written."""
    return err if err.filename else OSError(err.errno, err.strerror, str(path))


@contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file beside `path`, renamed over `path` when the block ends without
    error: a failure (e.g. a full disk) leaves the previous file as it was and no temporary file. An OSError
    names `path`. Write through the handle, not the name: torch.save and torch.jit.save to a full disk then
    raise an OSError (to a name, a RuntimeError or an abort)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except OSError as err:
        raise naming(err, path) from err
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically (`atomic_output`)."""
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8"))
