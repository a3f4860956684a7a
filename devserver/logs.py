"""Per-deployment log files: every instance line stamped with time, instance and stream."""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
from collections import deque
from pathlib import Path

# A chatty script must not fill the disk: the file rotates past this size, keeping a few backups.
MAX_LOG_BYTES = 20 * 1024 * 1024
BACKUPS = 2


class DeploymentLog:
    """Appends stamped lines to one deployment's log file, rotating it when it grows large."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_LOG_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, source: str, stream: str, line: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        text = f"{stamp} {source} {stream} | {line.rstrip()}"
        record = logging.LogRecord("epdev", logging.INFO, "", 0, text, None, None)
        self._handler.emit(record)

    def close(self) -> None:
        self._handler.close()


def tail(path: Path, lines: int | None) -> str:
    """The last `lines` lines of a log (all of it when None), oldest first."""
    if not path.exists():
        return ""
    with path.open(encoding="utf-8", errors="replace") as handle:
        kept = deque(handle, maxlen=lines) if lines is not None else list(handle)
    return "".join(kept)
