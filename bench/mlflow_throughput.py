"""epdev serving an MLflow model against `mlflow models serve`, same model, same load, same run.

    python3 bench/mlflow_throughput.py [--duration 10] [--connections 16] [--rounds 2]
                                       [--no-batching]

epdev's full path: key auth at the router, plain HTTP (`--insecure-http`), one instance with
adaptive batching on (the defaults). The baseline: `mlflow models serve --env-manager local`
with its default single worker. Both serve an sklearn classifier saved by this script; the load
is `wrk` posting the same `dataframe_split` request (one row) from `--connections` clients.
The two servers are measured in alternating rounds, and the best round of each is kept, so a
burst from another process on a shared machine hurts neither side alone.

Target (issue 9): epdev >= 2x the baseline's requests/s at 16 clients, with p99 no worse.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import CACHE, Result, ensure_wrk, run_wrk  # noqa: E402
from scoring_throughput import epdev  # noqa: E402
from support.mlflow_models import FEATURES, mlflow_serve, save_sklearn_model  # noqa: E402

ROW = [5.0, 3.4, 1.5, 0.2]


def deploy(home: Path, root: Path, batching: bool) -> tuple[str, str]:
    """The model behind an epdev endpoint (plain HTTP, key auth); its scoring URI and key."""
    endpoint = "name: mlflow-bench\nauth_mode: key\ntraffic:\n  blue: 100\n"
    (root / "endpoint.yml").write_text(endpoint)
    (root / "blue.yml").write_text(
        textwrap.dedent(
            """\
            name: blue
            endpoint_name: mlflow-bench
            model:
              path: ./model
            instance_count: 1
            """
        )
        + ("" if batching else 'environment_variables:\n  EPDEV_ADAPTIVE_BATCHING: "false"\n')
    )
    epdev(home, "serve", "--detach", "--insecure-http")
    epdev(home, "apply", "-f", str(root))
    view = json.loads(epdev(home, "online-endpoint", "show", "-n", "mlflow-bench"))
    key = json.loads(epdev(home, "online-endpoint", "get-credentials", "-n", "mlflow-bench"))
    return view["scoring_uri"], key["primaryKey"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-batching", action="store_true", help="measure epdev with adaptive batching off"
    )
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
    json_headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        print("saving the model and starting both servers", flush=True)
        save_sklearn_model(root / "model")
        try:
            uri, key = deploy(home, root, batching=not args.no_batching)
            with mlflow_serve(root / "model", root / "mlflow-serve.log") as baseline:
                runs: dict[str, list[Result]] = {"epdev": [], "mlflow models serve": []}
                for round_ in range(args.rounds):
                    for name, url, headers in (
                        ("mlflow models serve", f"{baseline}/invocations", json_headers),
                        ("epdev", uri, {**json_headers, "Authorization": f"Bearer {key}"}),
                    ):
                        result = run_wrk(
                            wrk, name, url, headers, body, args.duration, args.connections
                        )
                        print(
                            f"round {round_ + 1} {name:22} {result.rps:8.0f} req/s  "
                            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                            f"errors {result.errors}",
                            flush=True,
                        )
                        runs[name].append(result)
        finally:
            epdev(home, "stop")
    best = {name: max(results, key=lambda r: r.rps) for name, results in runs.items()}
    ours, theirs = best["epdev"], best["mlflow models serve"]
    print()
    print(f"{'':22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for result in (theirs, ours):
        print(
            f"{result.name:22} {result.rps:8.0f} {result.p50_ms:8.1f} {result.p99_ms:8.1f} "
            f"{result.errors:7d}"
        )
    ratio = ours.rps / theirs.rps if theirs.rps else float("inf")
    p99_ratio = ours.p99_ms / theirs.p99_ms if theirs.p99_ms else float("inf")
    print()
    print(f"throughput epdev / mlflow models serve: {ratio:.2f}x (target >= 2.0x)")
    print(f"p99 epdev / mlflow models serve:        {p99_ratio:.2f}x (target <= 1.0x)")


if __name__ == "__main__":
    main()
