"""The access log: valid JSON lines with the right fields, buffered, rotated by the flusher."""

from __future__ import annotations

import json
from pathlib import Path

from epdev.devserver.accesslog import AccessLogs

T = 1_700_000_000.25


def test_lines_are_json_with_the_call_and_nothing_else(tmp_path: Path) -> None:
    logs = AccessLogs(tmp_path)
    logs.write(T, "ep", "abc-1", "blue", "traffic", "blue-0", "POST", 200, 0.0123456, 76, 40)
    # A caller's request id is anything: quotes, backslashes, non-ASCII, a newline.
    odd = 'x"y\\z\u00e9\nnext'
    logs.write(T, "ep", odd, None, None, None, "POST", 401, 0.0002, 10, 90)
    assert not logs.path("ep").exists() or logs.path("ep").read_text() == ""  # still buffered
    logs.flush()
    lines = logs.path("ep").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first == {
        "time": "2023-11-14T22:13:20.250Z",
        "request_id": "abc-1",
        "endpoint": "ep",
        "deployment": "blue",
        "routed_by": "traffic",
        "instance": "blue-0",
        "method": "POST",
        "status": 200,
        "duration_ms": 12.346,
        "bytes_in": 76,
        "bytes_out": 40,
    }
    assert second["request_id"] == odd
    assert second["deployment"] is None and second["status"] == 401
    logs.close()


def test_flush_rotates_past_the_cap_and_writing_goes_on(tmp_path: Path) -> None:
    logs = AccessLogs(tmp_path, max_bytes=2000, backups=2)
    for round_ in range(4):
        for i in range(20):
            rid = f"r{round_}-{i}"
            logs.write(T, "ep", rid, "blue", "header", "blue-0", "POST", 200, 0.001, 1, 1)
        logs.flush()
    logs.close()
    path = logs.path("ep")
    backups = [path.with_name("access.jsonl.1"), path.with_name("access.jsonl.2")]
    assert all(p.exists() for p in backups)
    assert not path.with_name("access.jsonl.3").exists()
    # The newest round is in the current file (reopened after the last rotation, or not yet).
    newest = [json.loads(line)["request_id"] for line in backups[0].read_text().splitlines()]
    assert newest[-1] == "r3-19"
    assert all(line.startswith("{") for line in backups[1].read_text().splitlines())
