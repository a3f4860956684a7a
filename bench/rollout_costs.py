"""What mirroring 10% of traffic and token auth cost the scoring path, against key auth alone.

    python3 bench/rollout_costs.py [--duration 5] [--rounds 7] [--connections 16]

One devserver over plain HTTP serves three endpoints with the same trivial deployment:
`key-ep` (key auth: the baseline), `mirror-ep` (key auth, `--mirror-traffic green=10` onto a
second deployment) and `token-ep` (`auth_mode: aml_token`, called with a token from
get-credentials). wrk drives them in rounds with the order rotated, so drift of a shared machine
hits all alike; each mode's median is compared with the baseline's, and so are the rounds'
neighbouring runs. Mirroring's cost includes the mirror instance's own work on the same cores;
the CPU time of the devserver and all its instances per call is compared too, as it is the figure
a busy shared machine moves least.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from loadgen import tree_cpu
from router_overhead import EPDEV, SCORE_PY, Run, lua, wrk

from epdev.devserver.keys import key_matches, new_key
from epdev.devserver.tokens import TokenIssuer

MODES = ("key", "mirror", "token")
DEPLOYMENT_YML = """\
name: {name}
endpoint_name: {endpoint}
code_configuration:
  code: code/
  scoring_script: score.py
model:
  path: model/
instance_count: 1
"""


def epdev(home: Path, *args: str) -> str:
    env = {**os.environ, "EPDEV_HOME": str(home)}
    result = subprocess.run([*EPDEV, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"epdev {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def deploy(home: Path, root: Path) -> dict[str, tuple[str, str]]:
    """Start the devserver and the three endpoints; each mode's scoring URI and credential."""
    (root / "code").mkdir(parents=True)
    (root / "code" / "score.py").write_text(SCORE_PY)
    (root / "model").mkdir()
    (root / "model" / "weights.txt").write_text("0\n")
    epdev(home, "serve", "--detach", "--insecure-http")
    targets: dict[str, tuple[str, str]] = {}
    for mode in MODES:
        endpoint = f"{mode}-ep"
        auth = "aml_token" if mode == "token" else "key"
        (root / f"{endpoint}.yml").write_text(f"name: {endpoint}\nauth_mode: {auth}\n")
        epdev(home, "online-endpoint", "create", "-f", str(root / f"{endpoint}.yml"))
        for name in ("blue", "green") if mode == "mirror" else ("blue",):
            spec = root / f"{endpoint}-{name}.yml"
            spec.write_text(DEPLOYMENT_YML.format(name=name, endpoint=endpoint))
            extra = ("--all-traffic",) if name == "blue" else ()
            epdev(home, "online-deployment", "create", "-f", str(spec), *extra)
        if mode == "mirror":
            epdev(home, "online-endpoint", "update", "-n", endpoint, "--mirror-traffic", "green=10")
        credentials = json.loads(epdev(home, "online-endpoint", "get-credentials", "-n", endpoint))
        secret = credentials["accessToken"] if mode == "token" else credentials["primaryKey"]
        uri = json.loads(epdev(home, "online-endpoint", "show", "-n", endpoint))["scoring_uri"]
        targets[mode] = (uri, secret)
    return targets


def auth_costs() -> tuple[float, float, float]:
    """Microseconds to check a key, a token seen before, and a token seen for the first time."""
    primary, secondary = new_key(), new_key()
    issuer = TokenIssuer(b"s" * 32)
    token = issuer.issue("bench-ep")["accessToken"]
    count = 20_000

    def each(check: object) -> float:
        assert callable(check)
        return min(timeit.repeat(check, number=count, repeat=5)) / count * 1e6

    key = each(lambda: key_matches(secondary, primary, secondary))
    seen = each(lambda: issuer.problem(token, "bench-ep"))
    fresh = TokenIssuer(b"s" * 32)
    first = each(lambda: (fresh._verified.clear(), fresh.problem(token, "bench-ep")))
    return key, seen, first


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

    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        try:
            targets = deploy(home, tmp / "project")
            pid = json.loads((home / "server.json").read_text())["pid"]
            scripts = {
                mode: (uri, lua(tmp / f"post-{mode}.lua", secret))
                for mode, (uri, secret) in targets.items()
            }
            for url, script in scripts.values():  # warm-up: connections, lazy imports
                wrk(binary, script, url, 2, args.connections)
            for round_ in range(args.rounds):
                # Rotate the order, so no mode always follows the same other one's load.
                order = MODES[round_ % 3 :] + MODES[: round_ % 3]
                for mode in order:
                    url, script = scripts[mode]
                    before = tree_cpu([pid])
                    run = wrk(binary, script, url, args.duration, args.connections)
                    calls = run.rps * args.duration
                    run.cpu_us = (tree_cpu([pid]) - before) / max(calls, 1) * 1e6
                    runs[mode].append(run)
                    time.sleep(0.5)
            report = json.loads(epdev(home, "online-endpoint", "mirror-report", "-n", "mirror-ep"))
        finally:
            subprocess.run(
                [*EPDEV, "stop"], env={**os.environ, "EPDEV_HOME": str(home)}, capture_output=True
            )

    base = statistics.median(r.rps for r in runs["key"])
    print(
        f"\nrollout costs: {args.rounds} rotated rounds of {args.duration} s per mode, "
        f"{args.connections} connections, plain HTTP, trivial run(), one devserver"
    )
    print(
        f"{'mode':7} {'median req/s':>12} {'rounds req/s':>36} {'p99 ms':>7} {'errors':>6} "
        f"{'CPU us/call':>12}"
    )
    for mode in MODES:
        rounds = " ".join(f"{r.rps:.0f}" for r in runs[mode])
        p99 = statistics.median(r.p99_ms for r in runs[mode])
        errors = sum(r.errors for r in runs[mode])
        median = statistics.median(r.rps for r in runs[mode])
        cpu = statistics.median(r.cpu_us for r in runs[mode])
        print(f"{mode:7} {median:12.0f} {rounds:>36} {p99:7.2f} {errors:6d} {cpu:12.1f}")
    print()
    for mode, label in (("mirror", "mirroring 10%"), ("token", "token auth")):
        median = statistics.median(r.rps for r in runs[mode])
        paired = statistics.median(
            a.rps / b.rps for a, b in zip(runs[mode], runs["key"], strict=True)
        )
        print(
            f"{label} / key auth alone, throughput: medians {median / base:.3f} "
            f"(cost {(1 - median / base) * 100:+.1f}%); median of the rounds' ratios "
            f"{paired:.3f} (cost {(1 - paired) * 100:+.1f}%)"
        )
        cpu = statistics.median(r.cpu_us for r in runs[mode])
        base_cpu = statistics.median(r.cpu_us for r in runs["key"])
        print(
            f"  CPU per call (devserver + instances) / key auth alone: {cpu / base_cpu:.3f}, "
            f"so throughput where CPU is the limit: {base_cpu / cpu:.3f} "
            "(the figure least moved by other load on the machine)"
        )
    key, seen, first = auth_costs()
    print(
        f"auth check timed alone: key {key:.2f} us; token {seen:.2f} us once verified "
        f"(remembered until it expires), {first:.1f} us the first time; a call takes "
        f"{1e6 / base:.0f} us of wall time at {base:.0f} req/s"
    )
    print(
        f"mirror copies: {report.get('sent')} sent, {report.get('skipped_busy')} skipped "
        "(the candidate was busy), of the mirror endpoint's calls"
    )


if __name__ == "__main__":
    main()
