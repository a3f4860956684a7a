"""Why the devserver cannot start, in one line a user can act on: a full disk, a read-only or
unwritable home, a state database that cannot be written, or the last line of its log."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def out_of_space(exc: BaseException) -> bool:
    """Whether `exc` is a write that failed for want of space (a file, or SQLite's database)."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_SPACE
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def startup_cause(exc: BaseException, home: Path) -> str:
    """`exc` as a cause, with how much space the home's disk has left when that may be why."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        cause = f"{where}{exc.strerror or exc}"
        return cause + _space(home) if exc.errno in _NO_SPACE else cause
    if isinstance(exc, sqlite3.Error):
        # SQLite reports a full disk as "database or disk is full" or as a "disk I/O error".
        return f"the state database {home / 'state.db'} cannot be written: {exc}{_space(home)}"
    return f"{type(exc).__name__}: {exc}"


LOW_SPACE_BYTES = 1024 * 1024


def low_space_note(home: Path) -> str:
    """A note when the home's disk is (nearly) full, a likely reason for a silent failure."""
    free = _free(home)
    if free is None or free >= LOW_SPACE_BYTES:
        return ""
    return f"; the disk of {home} is full ({_size(free)} free)"


def last_log_line(path: Path) -> str:
    """The last non-blank line of a log (a server that failed to start says why there last)."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty)"


def _free(home: Path) -> int | None:
    for folder in (home, *home.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def _space(home: Path) -> str:
    free = _free(home)
    return "" if free is None else f" ({_size(free)} free on the disk of {home})"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
