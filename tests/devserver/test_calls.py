"""The router's queue of calls: one append per call, counted and logged when drained."""

from __future__ import annotations

import json
from pathlib import Path

from epdev.devserver import calls
from epdev.devserver.accesslog import AccessLogs
from epdev.devserver.calls import Call, CallRecorder
from epdev.devserver.metrics import RequestMetrics

T = 1_700_000_000.5


def make_call(stamp: float, status: int = 200) -> Call:
    call = Call()
    call.endpoint, call.deployment, call.routed_by, call.instance = (
        "ep",
        "blue",
        "traffic",
        "blue-0",
    )
    call.method, call.status, call.seconds, call.stamp = "POST", status, 0.004, stamp
    call.request_id, call.bytes_in, call.bytes_out = f"id-{stamp}", 3, 4
    return call


def test_calls_count_in_the_second_they_ended_not_when_drained(tmp_path: Path) -> None:
    metrics = RequestMetrics(clock=lambda: T + 100)  # the drain happens much later
    access = AccessLogs(tmp_path)
    recorder = CallRecorder(metrics, access)
    recorder.note(make_call(T), "ep")
    recorder.note(make_call(T + 1, 503), "ep")
    assert metrics.series == {}  # queued only
    recorder.drain()
    assert recorder.pending == []
    series = metrics.of("ep", "blue")
    assert [w.count for w in metrics.steps(series, int(T), int(T) + 1, 1)] == [1, 1]
    assert series[0].codes == {200: 1, 503: 1}
    access.flush()
    lines = [json.loads(line) for line in access.path("ep").read_text().splitlines()]
    assert [line["time"] for line in lines] == [
        "2023-11-14T22:13:20.500Z",
        "2023-11-14T22:13:21.500Z",
    ]
    assert [line["status"] for line in lines] == [200, 503]
    access.close()


def test_a_queue_nobody_drains_stays_bounded() -> None:
    recorder = CallRecorder(RequestMetrics(), None)
    for i in range(calls.MAX_PENDING + 10):
        recorder.note(make_call(T + i % 5), "ep")
    assert len(recorder.pending) == 10
    recorder.drain()
    assert sum(s.count for s in recorder.metrics.series.values()) == calls.MAX_PENDING + 10


def test_a_drain_in_slices_takes_the_oldest_calls_first_and_loses_none(tmp_path: Path) -> None:
    access = AccessLogs(tmp_path)
    recorder = CallRecorder(RequestMetrics(clock=lambda: T + 100), access)
    for i in range(70):
        recorder.note(make_call(T + i), "ep")
    assert recorder.drain(32) == 38
    recorder.note(make_call(T + 70), "ep")  # a call that ends between two slices
    assert recorder.drain(32) == 7
    assert recorder.drain(32) == 0
    access.flush()
    lines = [json.loads(line) for line in access.path("ep").read_text().splitlines()]
    assert [line["request_id"] for line in lines] == [f"id-{T + i}" for i in range(71)]
    access.close()
