"""Per-deployment log files: every instance line stamped with time, instance, stream and level.

    2024-05-01T12:00:00.123Z blue-0 stderr INFO | 2024-05-01 12:00:00,120 INFO [41] root - ...
    2024-05-01T12:00:00.456Z blue-0 stdout | printed by the script
    2024-05-01T12:00:01.000Z epdev info | all 1 instance(s) ready

The level is there when it is known: for the lines the worker's logging writes (they carry the
level name). Files rotate past a size cap, keeping a few backups, and reading spans them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
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


# Searching reads the files in blocks of this size: the matching runs in C (re over bytes), and
# only the lines that match are decoded, so a 20 MiB log answers its first page in tens of ms.
SEARCH_BLOCK = 4 * 1024 * 1024
SEARCH_LIMIT = 1000


@dataclass
class Match:
    offset: int
    """Where the line starts, in bytes, counting the log's files oldest first as one."""
    text: str
    context: list[str] = field(default_factory=list)
    """Lines that follow it, when asked for: a traceback after its first line."""


@dataclass
class SearchPage:
    matches: list[Match]
    next_offset: int | None
    """Where the next page starts, or None when the log has been read to its end."""
    total_bytes: int


def search(
    path: Path,
    pattern: str,
    *,
    offset: int = 0,
    limit: int = 100,
    instance: str | None = None,
    regex: bool = False,
    context: int = 0,
) -> SearchPage:
    """The lines of a log and its backups that contain `pattern` (ignoring case), a page of
    `limit` from `offset` on, oldest first.

    Offsets count the files oldest first as one text; after a rotation they move by the size of
    the file that went, so a page asked for across one may skip or repeat a few lines.
    """
    finder = _regex_finder(pattern) if regex else _text_finder(pattern)
    files = [(file, _size(file)) for file in log_files(path)]
    total = sum(size for _, size in files)
    matches: list[Match] = []
    start = 0
    for file, size in files:
        if offset >= start + size:
            start += size
            continue
        try:
            with file.open("rb") as handle:
                position = max(offset - start, 0)
                done = _search_file(
                    handle, start, position, finder, instance, limit, context, matches
                )
        except FileNotFoundError:  # rotated away while we read
            done = None
        if done is not None:
            return SearchPage(matches, done, total)
        start += size
    return SearchPage(matches, None, total)


Finder = Callable[[bytes], Iterator[tuple[int, int]]]
"""Where a pattern occurs in a block: (start, end) pairs in order."""


def _text_finder(text: str) -> Finder:
    # bytes.lower and bytes.find run in C, some ten times faster than an IGNORECASE regex;
    # ASCII letters only change case (a non-ASCII term matches as written).
    needle = text.lower().encode()

    def find(data: bytes) -> Iterator[tuple[int, int]]:
        low = data.lower()
        at = low.find(needle)
        while at >= 0:
            yield at, at + len(needle)
            at = low.find(needle, at + max(len(needle), 1))

    return find


def _regex_finder(pattern: str) -> Finder:
    compiled = re.compile(pattern.encode(), re.IGNORECASE | re.MULTILINE)

    def find(data: bytes) -> Iterator[tuple[int, int]]:
        for found in compiled.finditer(data):
            yield found.start(), found.end()

    return find


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except FileNotFoundError:
        return 0


def _search_file(
    handle: BinaryIO,
    base: int,
    position: int,
    finder: Finder,
    instance: str | None,
    limit: int,
    context: int,
    matches: list[Match],
) -> int | None:
    """Appends the file's matches from `position` on; the offset to go on from once `limit`
    matches are found, else None."""
    handle.seek(position)
    carry = b""
    start = position  # the file offset of `carry`, then of `data`
    while True:
        block = handle.read(SEARCH_BLOCK)
        data = carry + block
        if not data:
            return None
        cut = data.rfind(b"\n") + 1 if block else len(data)  # at the end: the last line too
        if cut == 0:
            carry = data
            continue
        data, carry = data[:cut], data[cut:]
        seen = -1
        for found_at, found_end in finder(data):
            begin = data.rfind(b"\n", 0, found_at) + 1
            if begin <= seen:
                continue  # a second match on a line already taken
            end = data.find(b"\n", found_end)
            end = len(data) if end < 0 else end
            seen = end
            line = data[begin:end].decode("utf-8", "replace")
            if instance is not None and source_of(line) != instance:
                continue
            after = _following(data, carry, end, context, instance) if context else []
            matches.append(Match(base + start + begin, line, after))
            if len(matches) >= limit:
                return base + start + end + 1
        if not block:
            return None
        start += len(data)


def _following(data: bytes, carry: bytes, end: int, count: int, instance: str | None) -> list[str]:
    """Up to `count` lines after the one ending at `end` (of the same instance, if one is named),
    from what has been read already: a traceback's lines come right after its first."""
    rest = (data[end + 1 :] + carry).decode("utf-8", "replace").split("\n")
    lines = [ln for ln in rest[: count * 4] if instance is None or source_of(ln) == instance]
    return lines[:count]


@dataclass
class Request:
    """What the access log says of one scoring call."""

    request_id: str
    deployment: str | None
    instance: str | None
    status: int
    ended: dt.datetime
    duration_ms: float


def find_request(access_log: Path, request_id: str) -> Request | None:
    """The last call with this `x-request-id` in an endpoint's access log (and its backups)."""
    needle = '"request_id":' + json.dumps(request_id)
    found: list[Match] = []
    offset: int | None = 0
    while offset is not None:  # the last one: an id may be reused by a client
        page = search(access_log, needle, offset=offset, limit=SEARCH_LIMIT)
        found = page.matches or found
        offset = page.next_offset
    if not found:
        return None
    try:
        call = json.loads(found[-1].text)
        ended = dt.datetime.fromisoformat(str(call["time"]).replace("Z", "+00:00"))
        return Request(
            request_id,
            call.get("deployment"),
            call.get("instance"),
            int(call["status"]),
            ended,
            float(call.get("duration_ms") or 0.0),
        )
    except (ValueError, KeyError, TypeError):
        return None


def request_lines(path: Path, request: Request, limit: int = SEARCH_LIMIT) -> SearchPage:
    """The lines the call's instance wrote while it ran (a second either side): the
    traceback of a failed `run()` among them."""
    first = request.ended - dt.timedelta(milliseconds=request.duration_ms, seconds=1)
    seconds = min(int((request.ended - first).total_seconds()) + 2, 120)
    stamps = {
        (first + dt.timedelta(seconds=i)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for i in range(seconds)
    }
    who = re.escape(request.instance) if request.instance else r"\S+"
    pattern = rf"^(?:{'|'.join(sorted(stamps))})\.\d+Z {who} "
    return search(path, pattern, regex=True, limit=limit)
