"""Reading a deployment log: its last lines across the rotated backups (`tail`), and following
it as it grows, across rotations (`follow`, as `tail -F`)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from epdev.devserver.logs import log_files, source_of


def tail(path: Path, lines: int | None, instance: str | None = None) -> str:
    """The last `lines` lines of a log and its backups (all when None), oldest first.

    With `instance`, only the lines that instance wrote.
    """
    chunks: list[list[str]] = []
    wanted = lines
    for file in reversed(log_files(path)):
        try:
            with file.open(encoding="utf-8", errors="replace") as handle:
                found = _last(handle, wanted, instance)
        except FileNotFoundError:  # rotated away while we read
            continue
        chunks.append(found)
        if wanted is not None:
            wanted -= len(found)
            if wanted <= 0:
                break
    return "".join(line for chunk in reversed(chunks) for line in chunk)


def _last(source: Iterable[str], lines: int | None, instance: str | None) -> list[str]:
    if instance is not None:
        source = (line for line in source if source_of(line) == instance)
    if lines is None or lines >= sys.maxsize:  # more than a deque can bound: all of them
        return list(source)
    return list(deque(source, maxlen=lines))


async def follow(
    path: Path,
    lines: int | None,
    instance: str | None = None,
    *,
    poll: float = 0.2,
    stop: Callable[[], bool] = lambda: False,
) -> AsyncIterator[str]:
    """The log's last `lines` lines (all when None), then every line written after, as chunks.

    The first chunk and the followed part come from one open file, so no line is lost or
    repeated at the seam; the file is followed across rotations. Yields "" on idle polls so the
    caller gets a chance to look at its client. Ends when `stop()` turns true.
    """
    reader = await asyncio.to_thread(_Reader.open, path)
    try:
        pending = b""
        current: list[str] = []
        if reader is not None:
            current, pending = _complete_lines(await asyncio.to_thread(reader.read), pending)
        yield await asyncio.to_thread(_first_chunk, path, current, lines, instance)
        while not stop():
            if reader is None:
                reader = await asyncio.to_thread(_Reader.open, path)
            else:
                data = await asyncio.to_thread(reader.read)
                if not data and _replaced(reader, path):
                    # Rotated: the old file has been read to its end. Files rotated in after it
                    # (when it rotated more than once between two polls) come next, then the
                    # new current file.
                    skipped = await asyncio.to_thread(_rotated_after, path, reader.inode)
                    reader.close()
                    reader = await asyncio.to_thread(_Reader.open, path)
                    between, pending = _complete_lines(skipped, pending)
                    chosen = _last(between, None, instance)
                    if chosen:
                        yield "".join(chosen)
                    continue
                new, pending = _complete_lines(data, pending)
                chosen = _last(new, None, instance)
                if chosen:
                    yield "".join(chosen)
                    continue
            yield ""
            await asyncio.sleep(poll)
    finally:
        if reader is not None:
            reader.close()


def _first_chunk(path: Path, current: list[str], lines: int | None, instance: str | None) -> str:
    kept = _last(current, lines, instance)
    if lines is None or len(kept) < lines:
        # Older lines come from the backups (the current file is log_files' last entry).
        older: list[str] = []
        for file in [f for f in log_files(path) if f != path]:
            with file.open(encoding="utf-8", errors="replace") as handle:
                older.extend(_last(handle, lines, instance))
        if lines is not None:
            older = older[max(len(older) - (lines - len(kept)), 0) :]
        kept = older + kept
    return "".join(kept)


class _Reader:
    """A log file opened at its start, remembering which file it is."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.inode = os.fstat(self._file.fileno()).st_ino

    @classmethod
    def open(cls, path: Path) -> _Reader | None:
        try:
            return cls(path)
        except FileNotFoundError:
            return None

    def read(self) -> bytes:
        return self._file.read()

    def close(self) -> None:
        self._file.close()


def _rotated_after(path: Path, inode: int) -> bytes:
    """The backups newer than the file `inode` names (now a backup itself), oldest first."""
    for index in range(1, 100):
        try:
            if path.with_name(f"{path.name}.{index}").stat().st_ino == inode:
                break
        except FileNotFoundError:
            return b""  # gone past the last backup: what was in between is gone too
    else:
        return b""
    newer = [path.with_name(f"{path.name}.{i}") for i in range(index - 1, 0, -1)]
    return b"".join(f.read_bytes() for f in newer if f.exists())


def _replaced(reader: _Reader, path: Path) -> bool:
    try:
        return path.stat().st_ino != reader.inode
    except FileNotFoundError:
        return False  # between the rename and the new file: look again at the next poll


def _complete_lines(data: bytes, pending: bytes) -> tuple[list[str], bytes]:
    pending += data
    if b"\n" not in pending:
        return [], pending
    complete, _, rest = pending.rpartition(b"\n")
    text = complete.decode("utf-8", "replace")
    return [line + "\n" for line in text.split("\n")], rest
