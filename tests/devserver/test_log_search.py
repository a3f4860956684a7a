"""Searching a deployment's whole log: rotated files, pages, instances, context, one request."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from epdev.devserver.logs import DeploymentLog, log_files
from epdev.devserver.logsearch import Request, find_request, request_lines, search


def _rotated_log(path: Path, requests: int = 60) -> None:
    log = DeploymentLog(path, max_bytes=2048, backups=2)
    log.write("blue-0", "stderr", "init() starting")
    log.write("blue-0", "stderr", "Traceback (most recent call last):")
    log.write("blue-0", "stderr", '  File "score.py", line 3, in init')
    for i in range(requests):
        log.write(f"blue-{i % 2}", "stdout", f"request {i:04d} processed")
    log.write("blue-1", "stderr", "INIT again after a restart")
    log.close()


def test_search_spans_the_rotated_files_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    _rotated_log(path)
    assert len(log_files(path)) == 3
    page = search(path, "init")
    texts = [m.text.split(" | ", 1)[1] for m in page.matches]
    assert texts[0] == "init() starting"  # in the oldest backup
    assert texts[-1] == "INIT again after a restart"  # case ignored, in the current file
    assert page.next_offset is None
    assert page.total_bytes == sum(f.stat().st_size for f in log_files(path))


def test_pages_go_on_where_the_last_one_stopped(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    _rotated_log(path, 300)
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = search(path, "processed", offset=offset, limit=7)
        seen += [m.text.rsplit(" ", 2)[1] for m in page.matches]
        offset = page.next_offset
        pages += 1
    assert pages > 5
    assert sorted(seen) == seen and len(seen) == len(set(seen))
    # The oldest lines rotated out past the two backups; what is left is one run to the end.
    assert seen[-1] == "0299"
    assert int(seen[-1]) - int(seen[0]) + 1 == len(seen)


def test_one_instance_and_the_lines_after_each_match(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    log = DeploymentLog(path)
    log.write("blue-0", "stderr", "run() raised:")
    log.write("blue-0", "stderr", "Traceback (most recent call last):")
    log.write("blue-0", "stderr", "ValueError: bad input")
    log.write("blue-1", "stderr", "run() raised:")
    log.close()
    page = search(path, "RUN() raised", instance="blue-0", context=2)
    assert len(page.matches) == 1
    assert [line.split(" | ")[1] for line in page.matches[0].context] == [
        "Traceback (most recent call last):",
        "ValueError: bad input",
    ]
    assert search(path, "nowhere").matches == []
    assert search(tmp_path / "missing.log", "x").matches == []


def test_a_request_id_finds_the_lines_written_while_it_ran(tmp_path: Path) -> None:
    access = tmp_path / "access.jsonl"
    ended = dt.datetime(2024, 5, 1, 12, 0, 5, 500000, tzinfo=dt.UTC)
    calls = [
        {
            "time": "2024-05-01T11:00:00.000Z",
            "request_id": "other",
            "deployment": "blue",
            "instance": "blue-1",
            "status": 200,
            "duration_ms": 3.0,
        },
        {
            "time": "2024-05-01T12:00:05.500Z",
            "request_id": "req-42",
            "deployment": "blue",
            "instance": "blue-0",
            "status": 500,
            "duration_ms": 1200.0,
        },
    ]
    access.write_text("".join(json.dumps(c, separators=(",", ":")) + "\n" for c in calls))
    request = find_request(access, "req-42")
    assert request == Request("req-42", "blue", "blue-0", 500, ended, 1200.0)
    assert find_request(access, "req-4") is None

    path = tmp_path / "blue.log"
    path.write_text(
        "2024-05-01T12:00:01.000Z blue-0 stderr | long before\n"
        "2024-05-01T12:00:04.400Z blue-0 stderr ERROR | run() raised:\n"
        "2024-05-01T12:00:04.401Z blue-1 stderr | another instance\n"
        "2024-05-01T12:00:04.402Z blue-0 stderr | ValueError: bad input\n"
        "2024-05-01T12:00:09.000Z blue-0 stderr | long after\n"
    )
    lines = [m.text.split(" | ")[1] for m in request_lines(path, request).matches]
    assert lines == ["run() raised:", "ValueError: bad input"]
