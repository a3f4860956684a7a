"""Searching a deployment's or endpoint's log and its backups: pages of matching lines, and the
lines that belong to one scoring call (found by its `x-request-id` in the access log)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from epdev.devserver.logs import log_files, source_of

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
