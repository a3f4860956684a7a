"""What request metrics and access logs cost the scoring router: on versus off, same run.

    python3 bench/router_overhead.py [--duration 5] [--rounds 5] [--connections 16]

Two devservers serve the same trivial deployment over plain HTTP (so the router's own work is
as large a share of each call as it can be); one runs with EPDEV_METRICS=off. wrk drives them in
alternating rounds, so drift of a shared machine hits both alike; the medians are compared, and
so are the two runs of each round.
Target (issue 5): metrics + access log cost less than 3% of throughput. The per-call cost of
recording is also timed on its own and related to the measured time per call.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
from dataclasses import dataclass
from pathlib import Path

import psutil

from epdev.devserver.accesslog import AccessLogs
from epdev.devserver.calls import Call, CallRecorder
from epdev.devserver.metrics import RequestMetrics

EPDEV = [sys.executable, "-m", "epdev.devserver.cli.main"]
BODY = json.dumps({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]})

SCORE_PY = textwrap.dedent(
    """\
    def init():
        pass


    def run(raw_data):
        return {"ok": True}
    """
)
ENDPOINT_YML = "name: bench-ep\nauth_mode: key\n"
DEPLOYMENT_YML = textwrap.dedent(
    """\
    name: blue
    endpoint_name: bench-ep
    code_configuration:
      code: code/
      scoring_script: score.py
    model:
      path: model/
    instance_type: Standard_DS3_v2
    instance_count: 1
    """
)


@dataclass
class Run:
    rps: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0
    """The devserver's CPU time per call: unlike req/s, barely moved by other load."""


def make_project(root: Path) -> Path:
    (root / "code").mkdir(parents=True)
    (root / "code" / "score.py").write_text(SCORE_PY)
    (root / "model").mkdir()
    (root / "model" / "weights.txt").write_text("0\n")
    (root / "endpoint.yml").write_text(ENDPOINT_YML)
    (root / "blue.yml").write_text(DEPLOYMENT_YML)
    return root


def epdev(home: Path, metrics: bool, *args: str) -> str:
    env = {**os.environ, "EPDEV_HOME": str(home), "EPDEV_METRICS": "on" if metrics else "off"}
    result = subprocess.run([*EPDEV, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"epdev {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def deploy(home: Path, project: Path, metrics: bool) -> tuple[str, str]:
    epdev(home, metrics, "serve", "--detach", "--insecure-http")
    epdev(home, metrics, "online-endpoint", "create", "-f", str(project / "endpoint.yml"))
    blue = str(project / "blue.yml")
    epdev(home, metrics, "online-deployment", "create", "-f", blue, "--all-traffic")
    key = json.loads(epdev(home, metrics, "online-endpoint", "get-credentials", "-n", "bench-ep"))
    view = json.loads(epdev(home, metrics, "online-endpoint", "show", "-n", "bench-ep"))
    if metrics != (view.get("metrics") is not None):
        raise SystemExit(f"the devserver in {home} did not take EPDEV_METRICS")
    return view["scoring_uri"], key["primaryKey"]


def wrk(
    binary: str, script: Path, url: str, seconds: int, connections: int, server: int | None = None
) -> Run:
    args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    before = _cpu(server)
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    used = _cpu(server) - before
    calls = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"P99 ([\d.]+)", out).group(1)) / 1000  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in errs.groups()) if errs else 0)
    return Run(rps, p99, errors, used / max(calls, 1) * 1e6)


def _cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def lua(path: Path, key: str) -> Path:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(BODY)}",
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        "done = function(summary, latency, requests)",
        "  io.write(string.format('P99 %f\\n', latency:percentile(99)))",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def recording_cost(tmp: Path) -> tuple[float, float]:
    """Microseconds to queue one call (the router's part) and to drain it (the batch's part)."""
    access = AccessLogs(tmp / "logs")
    recorder = CallRecorder(RequestMetrics(), access)
    call = Call()
    call.endpoint, call.deployment, call.routed_by, call.instance = (
        "bench-ep",
        "blue",
        "traffic",
        "blue-0",
    )
    call.method, call.status, call.seconds, call.stamp = "POST", 200, 0.0012, time.time()
    call.request_id, call.bytes_in, call.bytes_out = "0fda03e8-749d-4555-8bd7-8e487c1dc230", 76, 12
    count = 40_000  # below MAX_PENDING, so queueing never drains inline here

    def queue_all() -> None:
        recorder.pending = []
        for _ in range(count):
            recorder.note(call, "bench-ep")

    queue = min(timeit.repeat(queue_all, number=1, repeat=5)) / count
    # Drained as the devserver does: batches of a quarter second's calls at ~5000 req/s.
    recorder.pending = []
    recorder.note(call, "bench-ep")
    noted, batch, batches = recorder.pending[0], 1250, 40
    drains = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(batches):
            recorder.pending = [noted] * batch
            recorder.drain()
        drains.append((time.perf_counter() - started) / (batch * batches))
    access.close()
    return queue * 1e6, min(drains) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per round and mode")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    binary = shutil.which("wrk")
    if not binary:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        project = make_project(tmp / "project")
        homes = {True: tmp / "home-on", False: tmp / "home-off"}
        runs: dict[bool, list[Run]] = {True: [], False: []}
        try:
            targets = {mode: deploy(home, project, mode) for mode, home in homes.items()}
            scripts = {
                mode: (targets[mode][0], lua(tmp / f"post-{mode}.lua", targets[mode][1]))
                for mode in homes
            }
            pids = {
                mode: json.loads((home / "server.json").read_text())["pid"]
                for mode, home in homes.items()
            }
            for url, script in scripts.values():  # warm-up: connections, lazy imports
                wrk(binary, script, url, 2, args.connections)
            for round_ in range(args.rounds):
                # Alternate which goes first, so neither always follows the other's load.
                order = (True, False) if round_ % 2 == 0 else (False, True)
                for mode in order:
                    url, script = scripts[mode]
                    runs[mode].append(
                        wrk(binary, script, url, args.duration, args.connections, pids[mode])
                    )
                    time.sleep(0.5)
            access = homes[True] / "logs" / "bench-ep" / "access.jsonl"
            time.sleep(1.5)  # one flush
            logged = sum(1 for _ in access.open()) if access.exists() else 0
        finally:
            for home in homes.values():
                subprocess.run(
                    [*EPDEV, "stop"],
                    env={**os.environ, "EPDEV_HOME": str(home)},
                    capture_output=True,
                )
        micro = recording_cost(tmp)

    on = statistics.median(r.rps for r in runs[True])
    off = statistics.median(r.rps for r in runs[False])
    ratio = on / off
    # Each round's two runs are neighbours in time, so their ratio cancels slower drift.
    paired = statistics.median(a.rps / b.rps for a, b in zip(runs[True], runs[False], strict=True))
    print(
        f"\nrouter overhead of metrics + access log: {args.rounds} alternating rounds of "
        f"{args.duration} s per mode, {args.connections} connections, plain HTTP, trivial run()"
    )
    print(
        f"{'mode':5} {'median req/s':>12} {'rounds req/s':>42} {'p99 ms':>7} {'errors':>6} "
        f"{'devserver CPU us/call':>22}"
    )
    cpu: dict[bool, float] = {}
    for mode, label in ((False, "off"), (True, "on")):
        rounds = " ".join(f"{r.rps:.0f}" for r in runs[mode])
        p99 = statistics.median(r.p99_ms for r in runs[mode])
        errors = sum(r.errors for r in runs[mode])
        cpu[mode] = statistics.median(r.cpu_us for r in runs[mode])
        median = on if mode else off
        print(f"{label:5} {median:12.0f} {rounds:>42} {p99:7.2f} {errors:6d} {cpu[mode]:22.1f}")
    print(
        f"\nthroughput on/off, medians: {ratio:.3f} (overhead {(1 - ratio) * 100:+.1f}%); "
        f"median of the rounds' ratios: {paired:.3f} (overhead {(1 - paired) * 100:+.1f}%); "
        "target: overhead < 3%"
    )
    queued, drained = micro
    print(
        f"recording one call, timed alone: {queued:.2f} us to queue it on the request path, "
        f"{drained:.2f} us to drain it in a batch; together "
        f"{(queued + drained) * on / 1e4:.2f}% of the devserver's {1e6 / on:.0f} us per call "
        f"at {on:.0f} req/s"
    )
    print(f"access log lines written by the 'on' devserver: {logged}")
    print(
        f"devserver CPU per call on/off: {cpu[True] / cpu[False]:.3f} "
        f"(+{cpu[True] - cpu[False]:.1f} us per call; the throughput cost when the devserver "
        "is the bottleneck, and the figure least moved by other load on the machine)"
    )
    print(f"target: {'met' if min(ratio, paired) >= 0.97 else 'MISSED'}")


if __name__ == "__main__":
    main()
