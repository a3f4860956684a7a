"""What a job writes: its output file (append_row), and in its job folder the logs, a progress
overview and an error summary."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class OutputFile:
    """The append_row file: rows are appended, and `offset` is what the store has committed."""

    def __init__(self, path: Path, committed: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        # Rows appended after the last commit (the devserver died in between) are dropped:
        # their mini-batch runs again.
        os.ftruncate(self._fd, committed)
        os.lseek(self._fd, committed, os.SEEK_SET)
        self.offset = committed

    def append(self, data: bytes) -> int:
        """Write all of `data`; returns the new end offset to commit."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.offset += len(data)
        return self.offset

    def close(self) -> None:
        os.close(self._fd)


class JobFolder:
    """`EPDEV_HOME/jobs/<name>/`: logs/job.log, logs/worker-N.log, progress.json, errors.txt."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"

    def ensure(self) -> JobFolder:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def job_log(self) -> Path:
        return self.logs / "job.log"

    @property
    def items_file(self) -> Path:
        return self.root / "items.json"

    @property
    def progress_file(self) -> Path:
        return self.root / "progress.json"

    @property
    def errors_file(self) -> Path:
        return self.root / "errors.txt"

    def worker_log(self, index: int) -> Path:
        return self.logs / f"worker-{index}.log"

    def log(self, line: str) -> None:
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        with self.job_log.open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {line}\n")

    def error(self, line: str) -> None:
        with self.errors_file.open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    def write_items(self, files: list[str]) -> None:
        _write_atomic(self.items_file, json.dumps(files))

    def read_items(self) -> list[str]:
        items: list[str] = json.loads(self.items_file.read_text(encoding="utf-8"))
        return items

    def write_progress(self, overview: dict[str, Any]) -> None:
        _write_atomic(self.progress_file, json.dumps(overview, indent=2) + "\n")

    def read_logs(self, offset: int) -> tuple[str, int]:
        """job.log from byte `offset` on, and the offset to ask for next."""
        try:
            with self.job_log.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return "", offset
        return data.decode("utf-8", "replace"), offset + len(data)


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
