"""The benchmarks' own helpers: reading py-spy's collapsed stacks."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import pyspy

LOOP = "<module> (runtimes/worker/__main__.py);run_forever (asyncio/base_events.py)"
STACKS = "\n".join(
    [
        f"{LOOP};ScoringApp.score (runtimes/worker/app.py);run (score.py);predict (sklearn/x.py) 6",
        f"{LOOP};ScoringApp.score (runtimes/worker/app.py);Logger.info (logging/__init__.py) 3",
        f"{LOOP};respond (runtimes/worker/app.py);write (libc.so.6) 5",
        "Thread.run (threading.py);_worker (concurrent/futures/thread.py);"
        "PyThread_acquire_lock_timed (libpython3.11.so.1.0);0x7f00 (libc.so.6) 40",
        f"{LOOP};epoll_pwait (libc.so.6) 20",
        f"{LOOP};ScoringApp.score (runtimes/worker/app.py) 1",
        "not a stack line",
    ]
)


def test_waiting_threads_and_system_calls_are_counted_apart() -> None:
    profile = pyspy.parse(STACKS)
    assert (profile.samples, profile.in_kernel, profile.waiting) == (10, 5, 60)


def test_samples_go_to_the_innermost_known_component() -> None:
    profile = pyspy.parse(STACKS)
    assert profile.buckets == {
        "model: score.py / predict": 6,
        "logging": 3,
        "epdev worker (runtimes/)": 1,
    }
    assert profile.own["predict (sklearn/x.py)"] == 6


def test_top_inclusive_leaves_out_the_plumbing() -> None:
    own, within = pyspy.top(pyspy.parse(STACKS))
    assert own[0] == ("predict (sklearn/x.py)", 6)
    names = [frame for frame, _ in within]
    assert names[0] == "ScoringApp.score (runtimes/worker/app.py)"
    assert not any("asyncio" in name or "<module>" in name for name in names)
