"""Batch jobs: rows/s of an epdev job with 2 workers against a plain single-process loop over the
same files, and the engine's own cost per mini-batch.

    python3 bench/batch_throughput.py [--files 200] [--rows 5000] [--mini-batch-size 10]

Targets (issue 8): the job >= 1.6x the loop's rows/s on 2 cores; overhead per mini-batch
< 10 ms. The loop calls the same batch script's run() file by file and writes the same CSV
rows, in this process. The overhead is measured with a trivial script as the slope of job time
over the number of mini-batches (two jobs, so worker start-up and init() cancel out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.batch_project import make_batch_project  # noqa: E402
from support.devserver import RunningServer, running_server  # noqa: E402


def plain_loop(project_root: Path, files: list[Path], out: Path) -> tuple[int, float]:
    """The baseline: the same script, one process, file by file; returns (rows, seconds)."""
    os.environ["AZUREML_MODEL_DIR"] = str(project_root)
    spec = importlib.util.spec_from_file_location("tabular", project_root / "code" / "tabular.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    start = time.perf_counter()
    spec.loader.exec_module(module)
    module.init()
    rows = 0
    with out.open("w") as handle:
        for path in files:
            frame = module.run([str(path)])
            handle.write(frame.to_csv(header=False, index=False, lineterminator="\n"))
            rows += len(frame)
    return rows, time.perf_counter() - start


def job_seconds(server: RunningServer, *args: str) -> dict[str, Any]:
    job = json.loads(
        server.cli("batch-endpoint", "invoke", "-n", "batch-sample", *args, "-o", "json").stdout
    )
    while True:
        view: dict[str, Any] = json.loads(server.cli("job", "show", "-n", job["name"]).stdout)
        if view["status"] in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.2)
    if view["status"] != "Completed":
        sys.exit(f"job {job['name']} {view['status']}: {view['error']}")
    times = view["creation_context"]
    started = dt.datetime.fromisoformat(times["started_at"]).timestamp()
    ended = dt.datetime.fromisoformat(times["ended_at"]).timestamp()
    view["seconds"] = max(ended - started, view["progress"]["elapsed_seconds"])
    return view


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="epdev-batch-bench-") as tmp:
        root = Path(tmp)
        print(f"writing {args.files} CSV files of {args.rows} rows…", flush=True)
        project = make_batch_project(root / "project", csv_files=args.files, csv_rows=args.rows)
        files = sorted(project.csv_dir.iterdir())
        rows, loop_seconds = plain_loop(project.root, files, root / "loop.csv")
        loop_rate = rows / loop_seconds
        print(f"plain loop: {rows} rows in {loop_seconds:.2f} s = {loop_rate:,.0f} rows/s")

        tiny = project.folder("tiny", {f"t-{i:04d}.txt": b"x" for i in range(1200)})
        with running_server(root / "home") as server:
            server.cli("batch-endpoint", "create", "-f", str(project.endpoint_yml))
            for script in ("tabular", "listing"):
                server.cli("batch-deployment", "create", "-f", str(project.deployment_yml(script)))
            view = job_seconds(
                server,
                "-d",
                "tabular",
                "--input",
                str(project.csv_dir),
                "--instance-count",
                "2",
                "--mini-batch-size",
                str(args.mini_batch_size),
            )
            job_rows = view["progress"]["rows_written"]
            assert job_rows == rows, (job_rows, rows)
            job_rate = job_rows / view["seconds"]
            print(
                f"epdev job, 2 workers: {job_rows} rows in {view['seconds']:.2f} s "
                f"= {job_rate:,.0f} rows/s (includes worker start-up and init())"
            )
            small = job_seconds(
                server,
                "-d",
                "listing",
                "--input",
                str(tiny),
                "--instance-count",
                "1",
                "--mini-batch-size",
                "6",
            )
            large = job_seconds(
                server,
                "-d",
                "listing",
                "--input",
                str(tiny),
                "--instance-count",
                "1",
                "--mini-batch-size",
                "1",
            )
        batches = large["progress"]["minibatches_total"] - small["progress"]["minibatches_total"]
        overhead_ms = (large["seconds"] - small["seconds"]) / batches * 1000
        ratio = job_rate / loop_rate
        print()
        print(f"job / plain loop rows/s: {ratio:.2f}x (target >= 1.6x)")
        print(
            f"overhead per mini-batch: {overhead_ms:.2f} ms "
            f"({small['progress']['minibatches_total']} vs {large['progress']['minibatches_total']}"
            " mini-batches of a trivial script, 1 worker; target < 10 ms)"
        )


if __name__ == "__main__":
    main()
