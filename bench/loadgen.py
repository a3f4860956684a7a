"""Load and cost measurement the benchmarks share: wrk (or a Python fallback), the server's CPU.

Every figure is for one target in one round: requests/s, p50 and p99 latency, errors, the number
of calls, and (when the caller names the server's processes) their CPU time over the round.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    calls: int = 0
    cpu_s: float = 0.0
    """CPU seconds the server's processes spent over the round (0 when not measured)."""

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.calls * 1000 if self.calls else 0.0


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")
    return found


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and all their descendants."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def _lua(headers: dict[str, str], body: str) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += [
        "done = function(summary, latency, requests)",
        "  io.write(string.format('P50 %f\\nP99 %f\\n',",
        "    latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    headers: dict[str, str],
    body: str,
    duration: int,
    connections: int,
    ca: str | None = None,
    warmup: int = 2,
    pids: Iterable[int] = (),
) -> Result:
    """One wrk run of `duration` seconds after a `warmup` (connection set-up, lazy imports)."""
    del ca  # wrk does not verify certificates
    CACHE.mkdir(parents=True, exist_ok=True)
    script = CACHE / "post.lua"
    script.write_text(_lua(headers, body))
    base = [wrk, "-t1", f"-c{connections}", "-s", str(script)]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], capture_output=True, check=True)
    pids = list(pids)
    before = tree_cpu(pids)
    out = subprocess.run(
        [*base, f"-d{duration}s", url], capture_output=True, text=True, check=True
    ).stdout
    cpu = tree_cpu(pids) - before
    calls = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"P50 ([\d.]+)", out).group(1)) / 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"P99 ([\d.]+)", out).group(1)) / 1000  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in errs.groups()) if errs else 0)
    return Result(name, rps, p50, p99, errors, calls, cpu)


def run_python(
    name: str,
    url: str,
    headers: dict[str, str],
    body: str,
    duration: int,
    connections: int,
    ca: str | None = None,
    warmup: int = 2,
    pids: Iterable[int] = (),
) -> Result:
    """The same measurement as run_wrk from keep-alive httpx clients in threads, where wrk is
    missing. It spends far more CPU per call than wrk, on the same cores as the server."""
    verify: Any = ssl.create_default_context(cafile=ca) if ca else True
    content = body.encode()
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(until: float, keep: bool) -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        with httpx.Client(verify=verify, timeout=30, headers=headers) as http:
            while time.monotonic() < until:
                started = time.perf_counter()
                try:
                    ok = http.post(url, content=content).status_code < 400
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - started)
                failed += not ok
        if keep:
            with lock:
                latencies.extend(mine)
                errors += failed

    def drive(seconds: float, keep: bool) -> float:
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=client, args=(until, keep)) for _ in range(connections)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    if warmup:
        drive(warmup, keep=False)
    pids = list(pids)
    before = tree_cpu(pids)
    elapsed = drive(duration, keep=True)
    cpu = tree_cpu(pids) - before
    if not latencies:
        return Result(name, 0.0, 0.0, 0.0, errors, 0, cpu)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    calls = len(latencies)
    return Result(name, calls / elapsed, cuts[49] * 1000, cuts[98] * 1000, errors, calls, cpu)


def wait_http(url: str, timeout: float = 60, ok: Iterable[int] = (200,)) -> None:
    """Poll `url` with GET until it answers one of the `ok` statuses."""
    accepted = set(ok)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code in accepted:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")
