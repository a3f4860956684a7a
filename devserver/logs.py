"""Per-deployment log files: every instance line stamped with time, instance, stream and level.

    2024-05-01T12:00:00.123Z blue-0 stderr INFO | 2024-05-01 12:00:00,120 INFO [41] root - ...
    2024-05-01T12:00:00.456Z blue-0 stdout | printed by the script
    2024-05-01T12:00:01.000Z epdev info | all 1 instance(s) ready

The level is there when it is known: for the lines the worker's logging writes (they carry the
level name). Files rotate past a size cap, keeping a few backups; reading them is
epdev.devserver.logtail's, searching them epdev.devserver.logsearch's.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

# A chatty script must not fill the disk: the file rotates past this size, keeping a few backups.
MAX_LOG_BYTES = 20 * 1024 * 1024
BACKUPS = 2

# The start of a record written by the worker's logging (epdev.runtimes.worker.logs.FORMAT).
_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \[\d+\] "
)


def level_of(line: str) -> str | None:
    """The level name of a worker log record, or None for any other line."""
    match = _RECORD.match(line)
    return match.group(1) if match else None


class DeploymentLog:
    """Appends stamped lines to one deployment's log file, rotating it when it grows large.

    Its own size is kept count of, so a line costs one write: a logging RotatingFileHandler
    would stat and seek the file for every line to decide on a rollover.
    """

    def __init__(self, path: Path, max_bytes: int = MAX_LOG_BYTES, backups: int = BACKUPS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        # Lines come from the event loop and from threads (what ends with an instance).
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._size = 0
        self._failed = False
        self._open()

    def write(self, source: str, stream: str, line: str, level: str | None = None) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        level = level or level_of(line)
        tag = f"{stream} {level}" if level else stream
        data = f"{stamp} {source} {tag} | {line.rstrip()}\n".encode("utf-8", "replace")
        with self._lock:
            try:
                if self._file is None:
                    self._open()
                if self._size and self._size + len(data) > self._max_bytes:
                    self._rotate()
                assert self._file is not None
                self._file.write(data)
                self._size += len(data)
            except (OSError, ValueError) as exc:
                # A full disk or a removed folder must not stop an instance's output: say so once.
                self._close_file()
                if not self._failed:
                    self._failed = True
                    logger.warning("could not write to the deployment log %s: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            self._close_file()

    def _open(self) -> None:
        # Unbuffered: every line is one write, in the file at once for tails and followers.
        self._file = self.path.open("ab", buffering=0)
        self._size = os.fstat(self._file.fileno()).st_size

    def _rotate(self) -> None:
        self._close_file()
        if self._backups > 0:
            for index in range(self._backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            if self.path.exists():
                self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def source_of(line: str) -> str | None:
    """Who wrote a log line: an instance name such as blue-0, or epdev."""
    parts = line.split(" ", 2)
    return parts[1] if len(parts) > 2 else None


def log_files(path: Path) -> list[Path]:
    """The log and its rotated backups that exist, oldest first."""
    backups = []
    for index in range(1, 100):
        backup = path.with_name(f"{path.name}.{index}")
        if not backup.exists():
            break
        backups.append(backup)
    return [*reversed(backups), *([path] if path.exists() else [])]
