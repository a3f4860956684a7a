"""How fast a search over a whole 20 MiB deployment log answers its first page.

    python3 bench/log_search.py [--rounds 7]

Writes a 20 MiB log as the devserver does (stamped lines of two instances, rotated into a
backup and the current file), then times, in alternating rounds, `epdev.devserver.logsearch.search`
(what the log search route runs on a thread) for a frequent term (the first page fills at once)
and for a rare one near the end (the whole log is read), against the floor of reading the same
bytes (`cat`-like) and a plain Python loop over the lines testing each one (the naive way).
Target (issue 21): the first page within 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from epdev.devserver.logs import DeploymentLog, log_files
from epdev.devserver.logsearch import search

SIZE = 20 * 1024 * 1024


def _write_log(path: Path) -> None:
    log = DeploymentLog(path, max_bytes=SIZE // 2, backups=2)
    log.write("blue-0", "stderr", "init() starting")
    i = 0
    written = 0
    while written < SIZE:
        line = f"2024-05-01 12:00:00,120 INFO [41] root - model v1: request {i} received"
        log.write(f"blue-{i % 2}", "stderr", line)
        written += len(line) + 40
        i += 1
    log.write("blue-1", "stderr", "a rare needle at the end")
    log.close()


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _read_all(path: Path) -> None:
    for file in log_files(path):
        file.read_bytes()


def _naive(path: Path, term: str) -> None:
    found = []
    for file in log_files(path):
        with file.open(encoding="utf-8", errors="replace") as handle:
            found += [line for line in handle if term in line.lower()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="epdev-bench-search-") as folder:
        path = Path(folder) / "blue.log"
        _write_log(path)
        size = sum(f.stat().st_size for f in log_files(path))
        print(f"log: {size / 2**20:.1f} MiB in {len(log_files(path))} files")
        cases: dict[str, Callable[[], object]] = {
            "search 'received' (first page)": lambda: search(path, "received", limit=200),
            "search 'needle' (whole log)": lambda: search(path, "NEEDLE", limit=200),
            "read every byte (floor)": lambda: _read_all(path),
            "python loop over lines": lambda: _naive(path, "needle"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, call in cases.items():
                times[name].append(_time(call))
        floor = statistics.median(times["read every byte (floor)"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:34} median {median:7.1f} ms  ({median / floor:4.1f}x reading)")
        worst = max(statistics.median(times[n]) for n in list(cases)[:2])
        verdict = "ok" if worst < 300 else "TOO SLOW"
        print(f"first page, worst case: {worst:.1f} ms (target < 300 ms): {verdict}")


if __name__ == "__main__":
    main()
