"""How long a control command takes, against a bare interpreter and curl, same run.

    python3 bench/cli_latency.py [--rounds 15]

One devserver (HTTPS, its own temporary home) holds one endpoint. Each round runs, in turn:
`python3 -c pass` (the floor any Python CLI pays), `epdev online-endpoint show` through the
installed console script, and `curl` of the same control-plane URL with the admin token (the
floor of any HTTPS client). Medians of wall time are compared.
Target (issue 17): `epdev online-endpoint show` and `list` within 0.3 s wall on this machine.
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
from pathlib import Path

ENTRY = [sys.executable, "-m", "epdev.devserver.cli.entry"]


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    curl = shutil.which("curl")
    script = shutil.which("epdev", path=str(Path(sys.executable).parent)) or shutil.which("epdev")
    if script is None:
        sys.exit("the epdev console script is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="epdev-bench-cli-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
        env["EPDEV_HOME"] = home
        subprocess.run([*ENTRY, "serve", "--detach"], env=env, check=True, capture_output=True)
        try:
            spec = Path(home) / "endpoint.yml"
            spec.write_text("name: bench-ep\nauth_mode: key\n")
            subprocess.run(
                [*ENTRY, "online-endpoint", "create", "-f", str(spec)],
                env=env,
                check=True,
                capture_output=True,
            )
            info = json.loads((Path(home) / "server.json").read_text())
            token = (Path(home) / "admin-token").read_text().strip()
            url = f"{info['url']}/api/v1/online-endpoints/bench-ep"
            commands = {
                "python3 -c pass": [sys.executable, "-c", "pass"],
                "epdev online-endpoint show": [script, "online-endpoint", "show", "-n", "bench-ep"],
                "epdev online-endpoint list": [script, "online-endpoint", "list"],
            }
            if curl:
                ca = ["--cacert", info["ca_bundle"]] if info.get("ca_bundle") else []
                auth = ["-H", f"Authorization: Bearer {token}"]
                commands["curl (same request)"] = [curl, "-sf", *ca, *auth, url]
            times: dict[str, list[float]] = {name: [] for name in commands}
            for argv in commands.values():  # warm the page cache and bytecode once
                _wall(argv, env)
            for _ in range(args.rounds):
                for name, argv in commands.items():
                    times[name].append(_wall(argv, env))
        finally:
            subprocess.run([*ENTRY, "stop"], env=env, capture_output=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    show = medians["epdev online-endpoint show"]
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; {args.rounds} rounds, medians")
    for name, value in medians.items():
        print(f"  {name:32s} {value * 1000:7.1f} ms   show / this = {show / value:5.2f}x")
    verdict = "met" if show <= 0.3 and medians["epdev online-endpoint list"] <= 0.3 else "MISSED"
    print(f"target: show and list within 300 ms: {verdict}")


if __name__ == "__main__":
    main()
