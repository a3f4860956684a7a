"""Batch jobs: rows/s of an epdev job with 2 workers against a plain single-process loop over the
same files, and the engine's own cost per mini-batch.

    python3 bench/batch_throughput.py [--files 200] [--rows 5000] [--mini-batch-size 10]
                                      [--trees 40] [--rounds 3]

Targets (issue 8): the job >= 1.6x the loop's rows/s on 2 cores; overhead per mini-batch
< 10 ms. Both sides run the same batch script (read a CSV with pandas, predict with a
scikit-learn random forest of `--trees` trees, return a DataFrame) and write the same CSV rows;
both are timed from process start, imports and init() included: the loop as one fresh
`python` process calling run() file by file, the job from `invoke` until the devserver reports
it Completed. The steady-state figures leave start-up out on both sides: the loop's time after
init(), the job's time from "workers ready" to "job completed" in its log. The overhead is
measured with a trivial script as the slope of job time over the number of mini-batches (two
jobs, so worker start-up and init() cancel out). The machine may be shared: loop and job run
back to back for several rounds and the median ratio is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.batch_project import make_batch_project  # noqa: E402
from support.devserver import RunningServer, running_server  # noqa: E402

LOOP = textwrap.dedent(
    """\
    import importlib.util, os, sys
    root, out = sys.argv[1], sys.argv[2]
    os.environ["AZUREML_MODEL_DIR"] = root
    spec = importlib.util.spec_from_file_location("tabular", os.path.join(root, "code/tabular.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    import time
    started = time.perf_counter()
    folder = os.path.join(root, "csv")
    rows = 0
    with open(out, "w") as handle:
        for name in sorted(os.listdir(folder)):
            frame = module.run([os.path.join(folder, name)])
            handle.write(frame.to_csv(header=False, index=False, lineterminator="\\n"))
            rows += len(frame)
    print(rows, time.perf_counter() - started)
    """
)


def train_forest(path: Path, trees: int) -> None:
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(2000, 2)), columns=["x1", "x2"])
    y = 3 * x["x1"] - 2 * x["x2"] + rng.normal(scale=0.1, size=2000)
    model = RandomForestRegressor(n_estimators=trees, max_depth=10, random_state=0, n_jobs=1)
    joblib.dump(model.fit(x, y), path)


def plain_loop(project_root: Path, out: Path) -> tuple[int, float, float]:
    """(rows, seconds from process start, seconds after imports and init())."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", LOOP, str(project_root), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows, steady = result.stdout.split()
    return int(rows), time.perf_counter() - start, float(steady)


def run_job(server: RunningServer, *args: str) -> tuple[dict[str, Any], float]:
    """The finished job's view, and seconds from invoke until the job logged its completion.

    Polls slowly so that the polling costs the devserver (and the job) next to nothing; the
    end comes from the job log's millisecond timestamp, not from when the poll saw it."""
    with server.api() as api:
        start = time.time()
        body: dict[str, Any] = {"set": {}}
        flags = dict(zip(args[::2], args[1::2], strict=True))
        body["deployment_name"] = flags["-d"]
        body["input"] = flags["--input"]
        body["instance_count"] = int(flags["--instance-count"])
        body["mini_batch_size"] = int(flags["--mini-batch-size"])
        response = api.post("/api/v1/batch-endpoints/batch-sample/jobs", json=body)
        response.raise_for_status()
        name = response.json()["name"]
        while True:
            view: dict[str, Any] = api.get(f"/api/v1/jobs/{name}").json()
            if view["status"] in ("Completed", "Failed", "Canceled"):
                break
            time.sleep(0.5)
        seconds = log_stamps(Path(view["job_folder"]))["job completed"] - start
    if view["status"] != "Completed":
        sys.exit(f"job {name} {view['status']}: {view['error']}")
    return view, seconds


def log_stamps(job_folder: Path) -> dict[str, float]:
    """When the job log says "workers ready" and "job completed" (epoch seconds, to the ms)."""
    stamps = {}
    for line in (job_folder / "logs" / "job.log").read_text().splitlines():
        stamp, _, text = line.partition(" ")
        for marker in ("workers ready", "job completed"):
            if text.startswith(marker):
                stamps[marker] = dt.datetime.fromisoformat(stamp).timestamp()
    return stamps


def running_seconds(job_folder: Path) -> float:
    """From "workers ready" to "job completed"."""
    stamps = log_stamps(job_folder)
    return stamps["job completed"] - stamps["workers ready"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--trees", type=int, default=40)
    parser.add_argument(
        "--rounds", type=int, default=3, help="loop and job back to back, this many times"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="epdev-batch-bench-") as tmp:
        root = Path(tmp)
        print(f"writing {args.files} CSV files of {args.rows} rows…", flush=True)
        project = make_batch_project(root / "project", csv_files=args.files, csv_rows=args.rows)
        train_forest(project.root / "model" / "model.joblib", args.trees)
        tiny = project.folder("tiny", {f"t-{i:04d}.txt": b"x" for i in range(1200)})
        ratios: list[float] = []
        steady_ratios: list[float] = []
        with running_server(root / "home") as server:
            server.cli("batch-endpoint", "create", "-f", str(project.endpoint_yml))
            for script in ("tabular", "listing"):
                server.cli("batch-deployment", "create", "-f", str(project.deployment_yml(script)))
            job = ("-d", "tabular", "--instance-count", "2")
            mini_batches = ("--mini-batch-size", str(args.mini_batch_size))
            for number in range(1, args.rounds + 1):
                rows, loop_seconds, loop_steady = plain_loop(project.root, root / "loop.csv")
                loop_rate = rows / loop_seconds
                view, job_seconds = run_job(
                    server, *job, "--input", str(project.csv_dir), *mini_batches
                )
                job_rows = view["progress"]["rows_written"]
                assert job_rows == rows, (job_rows, rows)
                job_rate = job_rows / job_seconds
                job_steady = job_rows / running_seconds(Path(view["job_folder"]))
                ratios.append(job_rate / loop_rate)
                steady_ratios.append(job_steady / (rows / loop_steady))
                print(
                    f"round {number}: plain loop {loop_rate:,.0f} rows/s "
                    f"({rows / loop_steady:,.0f} after imports and init()); epdev job, 2 workers "
                    f"{job_rate:,.0f} rows/s ({job_steady:,.0f} once its workers were ready): "
                    f"{ratios[-1]:.2f}x "
                    f"({steady_ratios[-1]:.2f}x)",
                    flush=True,
                )
            small, small_seconds = run_job(
                server,
                *("-d", "listing", "--input", str(tiny), "--instance-count", "1"),
                *("--mini-batch-size", "6"),
            )
            large, large_seconds = run_job(
                server,
                *("-d", "listing", "--input", str(tiny), "--instance-count", "1"),
                *("--mini-batch-size", "1"),
            )
        counts = [v["progress"]["minibatches_total"] for v in (small, large)]
        overhead_ms = (large_seconds - small_seconds) / (counts[1] - counts[0]) * 1000
        print()
        print(
            f"job / plain loop rows/s, median of {args.rounds}: "
            f"{statistics.median(ratios):.2f}x (target >= 1.6x)"
        )
        print(f"after start-up (imports, init()): {statistics.median(steady_ratios):.2f}x")
        print(
            f"overhead per mini-batch: {overhead_ms:.2f} ms ({counts[0]} vs {counts[1]} "
            "mini-batches of a trivial script, 1 worker; target < 10 ms)"
        )


if __name__ == "__main__":
    main()
