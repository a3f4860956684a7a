"""The scoring path of this checkout against an earlier commit's, same machine, alternating rounds.

    python3 bench/hop_ab.py [--base main] [--rounds 5] [--seconds 5] [--clients 1,16]

Two devservers run side by side, each serving peers.py's script workload (key auth, two
process-runtime deployments of the same score.py at 50/50): one from this checkout, one from
`--base` (its specs, runtimes, devserver and tui folders taken out with `git archive` and put
first on PYTHONPATH). Each round drives both with wrk, in an order that alternates, at each
client count. Printed: medians over the rounds of CPU seconds per 1,000 calls (router and
instances together, and the router alone), p50, p99 and req/s, and the ratio new / base. CPU
per call is the figure that survives a busy shared machine; wall-clock ones wobble more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import ensure_wrk, run_wrk  # noqa: E402
from peers import Target, check_answer, start_epdev  # noqa: E402

ROOMS = ("specs", "runtimes", "devserver", "tui")


@dataclass
class Side:
    name: str
    target: Target
    rows: dict[int, list[tuple[float, float, float, float, float]]] = field(default_factory=dict)
    """Per client count: (CPU s/1k all, CPU s/1k router, p50 ms, p99 ms, req/s) per round."""


def extract(rev: str, into: Path) -> Path:
    """`rev`'s rooms as an importable `epdev` namespace package under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, *ROOMS],
        capture_output=True,
        check=True,
    ).stdout
    package = into / "epdev"
    package.mkdir(parents=True)
    with tempfile.TemporaryFile() as tar:
        tar.write(archive)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as opened:
            opened.extractall(package, filter="data")
    return into


def start(stack: ExitStack, work: Path, pythonpath: str | None) -> Target:
    saved = os.environ.get("PYTHONPATH")
    if pythonpath:
        os.environ["PYTHONPATH"] = pythonpath
    try:
        target = start_epdev(stack, work)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    check_answer(target)
    return target


def own_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="main", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args()
    wrk = ensure_wrk()
    clients = [int(c) for c in args.clients.split(",")]
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        base_tree = extract(args.base, work / "base-tree")
        (work / "new").mkdir()
        (work / "base").mkdir()
        sides = [
            Side("new", start(stack, work / "new", None)),
            Side(f"base {args.base}", start(stack, work / "base", str(base_tree))),
        ]
        for round_ in range(args.rounds):
            for count in clients:
                order = sides if round_ % 2 == 0 else sides[::-1]
                for side in order:
                    router = side.target.pids[0]
                    before = own_cpu(router)
                    result = run_wrk(
                        wrk,
                        side.name,
                        side.target.url,
                        side.target.headers,
                        side.target.body,
                        args.seconds,
                        count,
                        warmup=2 if round_ == 0 else 0,
                        pids=side.target.pids,
                    )
                    mine = (own_cpu(router) - before) / max(result.calls, 1) * 1000
                    row = (result.cpu_per_1000, mine, result.p50_ms, result.p99_ms, result.rps)
                    side.rows.setdefault(count, []).append(row)
                    print(
                        f"round {round_ + 1} c{count:<2} {side.name:12} CPU {row[0]:.3f} s/1k "
                        f"(router {row[1]:.3f}) p50 {row[2]:.2f} p99 {row[3]:.2f} ms "
                        f"{row[4]:.0f} req/s errors {result.errors}",
                        flush=True,
                    )
    print(f"\nmedians of {args.rounds} rounds of {args.seconds} s, wrk -t1; ratio new / base")
    titles = ("CPU s/1k", "router s/1k", "p50 ms", "p99 ms", "req/s")
    for count in clients:
        print(f"\n{count} client{'s' if count > 1 else ''}")
        print(f"{'':14}" + "".join(f"{t:>12}" for t in titles))
        medians = [
            [statistics.median(r[i] for r in side.rows[count]) for i in range(len(titles))]
            for side in sides
        ]
        for side, values in zip(sides, medians, strict=True):
            print(f"{side.name:14}" + "".join(f"{v:12.3f}" for v in values))
        print(
            f"{'new / base':14}"
            + "".join(f"{a / b:12.3f}" for a, b in zip(medians[0], medians[1], strict=True))
        )
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
