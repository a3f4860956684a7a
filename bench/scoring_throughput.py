"""epdev's scoring path against Azure's inference server, same score.py, same load, same run.

    python3 bench/scoring_throughput.py [--duration 10] [--connections 16]

Targets (issue 3): plain HTTP >= 1.0x azmlinfsrv requests/s with p99 <= 1.5x; HTTPS >= 0.8x;
a process deployment ready within 1 s plus the script's own load and init() time.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from loadgen import CACHE, Result, ensure_wrk, run_wrk, wait_http  # noqa: E402
from support.sample_project import SAMPLE_REQUEST, make_sample_project  # noqa: E402

from epdev.specs import load_spec  # noqa: E402

BASELINE_VENV = CACHE / "azmlinfsrv-venv"
EPDEV = [sys.executable, "-m", "epdev.devserver.cli.main"]


def ensure_baseline() -> Path:
    binary = BASELINE_VENV / "bin" / "azmlinfsrv"
    if not binary.exists():
        print("installing azureml-inference-server-http into", BASELINE_VENV, flush=True)
        venv.create(BASELINE_VENV, with_pip=True)
        subprocess.run(
            [
                str(BASELINE_VENV / "bin/pip"),
                "install",
                "-q",
                "azureml-inference-server-http",
                "scikit-learn",
                "joblib",
            ],
            check=True,
        )
    return binary


def epdev(home: Path, *args: str) -> str:
    env = {**os.environ, "EPDEV_HOME": str(home)}
    result = subprocess.run([*EPDEV, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"epdev {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def deploy_two(home: Path, project_root: Path, https: bool) -> tuple[str, str, str | None, float]:
    """Serve the sample with blue and green at 50/50; return uri, key, CA and green's ready time.

    Green's time runs from the REST call that creates it to the first poll (every 10 ms) that
    finds it Succeeded, so the CLI's own start-up is not counted.
    """
    project = make_sample_project(project_root)
    epdev(home, "serve", "--detach", *([] if https else ["--insecure-http"]))
    epdev(home, "online-endpoint", "create", "-f", str(project.endpoint_yml))
    epdev(home, "online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    server = json.loads((home / "server.json").read_text())
    token = (home / "admin-token").read_text().strip()
    verify = ssl.create_default_context(cafile=server["ca_bundle"]) if https else True
    green = load_spec(project.green_yml).spec.model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    base = f"{server['url']}/api/v1/online-endpoints/my-endpoint/deployments"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, verify=verify) as api:
        started = time.perf_counter()
        api.post(base, json={"spec": green}).raise_for_status()
        while api.get(f"{base}/green").json()["provisioning_state"] != "Succeeded":
            time.sleep(0.01)
        ready = time.perf_counter() - started
    epdev(home, "online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=50 green=50")
    key = json.loads(epdev(home, "online-endpoint", "get-credentials", "-n", "my-endpoint"))
    view = json.loads(epdev(home, "online-endpoint", "show", "-n", "my-endpoint"))
    return view["scoring_uri"], key["primaryKey"], server["ca_bundle"], ready


def script_own_time(project_root: Path) -> float:
    """A fresh interpreter that imports score.py and runs init(): the script's own cost."""
    code = (
        "import importlib.util, os, sys, time\n"
        "t = time.perf_counter()\n"
        "spec = importlib.util.spec_from_file_location('score', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.init()\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "AZUREML_MODEL_DIR": str(project_root / "model-2")}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, str(project_root / "model-2/onlinescoring/score.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total = time.perf_counter() - started
    del out
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    baseline_bin = ensure_baseline()
    body = json.dumps(SAMPLE_REQUEST)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        project = make_sample_project(tmpdir / "baseline")
        port = 18931
        env = {**os.environ, "AZUREML_MODEL_DIR": str(project.root / "model-1")}
        base = subprocess.Popen(
            [str(baseline_bin), "--entry_script", "score.py", "--port", str(port)],
            cwd=project.code_dir(1),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/")
            results.append(
                run_wrk(
                    wrk,
                    "azmlinfsrv (baseline)",
                    f"http://127.0.0.1:{port}/score",
                    {"Content-Type": "application/json"},
                    body,
                    args.duration,
                    args.connections,
                )
            )
        finally:
            base.terminate()
            base.wait()

        for https in (False, True):
            home = tmpdir / f"home-{'https' if https else 'http'}"
            try:
                uri, key, _ca, ready = deploy_two(home, tmpdir / f"p-{https}", https)
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
                label = "epdev HTTPS 50/50 + key" if https else "epdev HTTP 50/50 + key"
                results.append(
                    run_wrk(wrk, label, uri, headers, body, args.duration, args.connections)
                )
            finally:
                subprocess.run(
                    [*EPDEV, "stop"],
                    env={**os.environ, "EPDEV_HOME": str(home)},
                    capture_output=True,
                )
        own = script_own_time(tmpdir / "p-False")

    base = results[0]
    print(f"\nscoring throughput, {args.connections} connections, {args.duration} s each (wrk)")
    print(
        f"{'target':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'rps x':>7} {'p99 x':>7}"
    )
    for r in results:
        print(
            f"{r.name:28} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} "
            f"{r.rps / base.rps:7.2f} {r.p99_ms / base.p99_ms:7.2f}"
        )
    print(
        f"\nprocess deployment create -> ready: {ready:.2f} s; the script's own import + init() "
        f"in a fresh interpreter: {own:.2f} s; epdev's overhead: {ready - own:.2f} s "
        "(target <= 1 s)"
    )
    http, https_r = results[1], results[2]
    print(
        "\ntargets: HTTP rps >= 1.0x: {}; HTTP p99 <= 1.5x: {}; HTTPS rps >= 0.8x: {}".format(
            "met" if http.rps >= base.rps else "MISSED",
            "met" if http.p99_ms <= 1.5 * base.p99_ms else "MISSED",
            "met" if https_r.rps >= 0.8 * base.rps else "MISSED",
        )
    )


if __name__ == "__main__":
    main()
