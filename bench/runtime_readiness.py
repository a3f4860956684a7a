"""Time to ready for each runtime, cold and cached, and time from saving code to serving it.

    python3 bench/runtime_readiness.py [--runtimes process,venv,docker]

Baseline, measured in the same run: the script's own import + init() in a fresh interpreter
(what any runtime must pay). Targets (issue 4): cached venv ready within 1.5 s plus that;
docker with a cached image within 3 s plus that; a saved code change served within 1 s
(process) and 4 s (docker).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.sample_project import make_sample_project  # noqa: E402

from epdev.specs import load_spec  # noqa: E402

EPDEV = [sys.executable, "-m", "epdev.devserver.cli.main"]

TRIVIAL = """\
import json


def init():
    pass


def run(raw_data):
    return {"version": VERSION}


VERSION = 1
"""


def epdev(home: Path, *args: str) -> str:
    env = {**os.environ, "EPDEV_HOME": str(home)}
    result = subprocess.run([*EPDEV, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"epdev {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


class Bench:
    def __init__(self, home: Path) -> None:
        self.home = home
        epdev(home, "serve", "--detach", "--insecure-http")
        server = json.loads((home / "server.json").read_text())
        token = (home / "admin-token").read_text().strip()
        self.base = f"{server['url']}/api/v1/online-endpoints"
        self.api = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def close(self) -> None:
        self.api.close()
        epdev(self.home, "stop")

    def ready_time(
        self, endpoint: str, spec: dict[str, object], runtime: str, *, watch: bool = False
    ) -> float:
        """Seconds from the create call to the first 10 ms poll that finds it Succeeded."""
        started = time.perf_counter()
        self.api.post(
            f"{self.base}/{endpoint}/deployments",
            json={"spec": spec, "runtime": runtime, "watch": watch},
        ).raise_for_status()
        while True:
            view = self.api.get(f"{self.base}/{endpoint}/deployments/{spec['name']}").json()
            if view["provisioning_state"] == "Succeeded":
                return time.perf_counter() - started
            if view["provisioning_state"] == "Failed":
                raise SystemExit(f"{spec['name']} failed: {view['error']}")
            time.sleep(0.01)

    def delete(self, endpoint: str, name: str) -> None:
        self.api.delete(f"{self.base}/{endpoint}/deployments/{name}").raise_for_status()


def own_time(script: Path, model_dir: Path) -> float:
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('score', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.init()\n"
    )
    env = {**os.environ, "AZUREML_MODEL_DIR": str(model_dir)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(script)], env=env, check=True)
    return time.perf_counter() - started


def spec_of(path: Path, name: str) -> dict[str, object]:
    data = load_spec(path).spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["name"] = name
    return data


def save_to_served(bench: Bench, project_root: Path, runtime: str) -> float:
    """Seconds from writing a changed score.py to the first answer from the new code."""
    project = make_sample_project(project_root, endpoint="edit-ep")
    score = project.code_dir(1) / "score.py"
    score.write_text(TRIVIAL)
    spec = spec_of(project.blue_yml, f"edit-{runtime}")
    epdev(bench.home, "online-endpoint", "create", "-f", str(project.endpoint_yml))
    bench.ready_time("edit-ep", spec, runtime, watch=True)
    key = json.loads(epdev(bench.home, "online-endpoint", "get-credentials", "-n", "edit-ep"))
    uri = json.loads(epdev(bench.home, "online-endpoint", "show", "-n", "edit-ep"))["scoring_uri"]
    headers = {
        "Authorization": f"Bearer {key['primaryKey']}",
        "azureml-model-deployment": str(spec["name"]),
    }
    time.sleep(0.5)  # let the watcher settle on the folder
    saved = time.perf_counter()
    score.write_text(TRIVIAL.replace("VERSION = 1", "VERSION = 2"))
    with httpx.Client(timeout=30) as client:
        while client.post(uri, json={}, headers=headers).json().get("version") != 2:
            time.sleep(0.01)
    served = time.perf_counter() - saved
    epdev(bench.home, "online-endpoint", "delete", "-n", "edit-ep", "--yes")
    return served


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runtimes", default="process,venv,docker")
    args = parser.parse_args()
    runtimes = [r for r in args.runtimes.split(",") if r]
    if "docker" in runtimes and not docker_answers():
        print("no Docker engine answers: skipping the docker runtime")
        runtimes.remove("docker")
    rows: list[tuple[str, float, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        project = make_sample_project(tmpdir / "sample")
        baseline = own_time(project.code_dir(1) / "score.py", project.root / "model-1")
        bench = Bench(tmpdir / "home")
        try:
            epdev(bench.home, "online-endpoint", "create", "-f", str(project.endpoint_yml))
            for runtime in runtimes:
                cold = bench.ready_time(
                    "my-endpoint", spec_of(project.blue_yml, f"{runtime}-cold"), runtime
                )
                cached = bench.ready_time(
                    "my-endpoint", spec_of(project.blue_yml, f"{runtime}-warm"), runtime
                )
                for suffix in ("cold", "warm"):
                    bench.delete("my-endpoint", f"{runtime}-{suffix}")
                edit = (
                    save_to_served(bench, tmpdir / f"edit-{runtime}", runtime)
                    if runtime != "venv"
                    else None
                )
                rows.append((runtime, cold, cached, edit))
        finally:
            bench.close()
            shutil.rmtree(tmpdir / "home", ignore_errors=True)
    print(f"\nbaseline: the sample's own import + init() in a fresh interpreter: {baseline:.2f} s")
    header = ("runtime", "cold s", "cached s", "cached - baseline", "save->served s")
    print(f"{header[0]:8} {header[1]:>8} {header[2]:>9} {header[3]:>18} {header[4]:>15}")
    for runtime, cold, cached, edit in rows:
        shown = "-" if edit is None else f"{edit:.2f}"
        print(f"{runtime:8} {cold:8.2f} {cached:9.2f} {cached - baseline:18.2f} {shown:>15}")
    targets = {"venv": 1.5, "docker": 3.0, "process": 1.0}
    edits = {"process": 1.0, "docker": 4.0}
    for runtime, _cold, cached, edit in rows:
        verdict = "met" if cached - baseline <= targets[runtime] else "MISSED"
        print(f"{runtime}: cached ready within {targets[runtime]:g} s + init: {verdict}", end="")
        if edit is not None and runtime in edits:
            met = "met" if edit <= edits[runtime] else "MISSED"
            print(f"; save->served within {edits[runtime]:g} s: {met}")
        else:
            print()


if __name__ == "__main__":
    main()
