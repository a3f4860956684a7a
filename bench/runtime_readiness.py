"""Time to ready for each runtime, cold and cached, and time from saving code to serving it;
and the time to build the Azure sample's environment as a venv.

    python3 bench/runtime_readiness.py [--runtimes process,venv,docker] [--build-rounds 3]
                                       [--cli-rounds 5]

Baseline, measured in the same run: the script's own import + init() in a fresh interpreter
(what any runtime must pay). Targets (issue 4): cached venv ready within 1.5 s plus that;
docker with a cached image within 3 s plus that; a saved code change served within 1 s
(process) and 4 s (docker). Through the CLI (issue 22): `epdev online-deployment create -f` on
the process runtime, from the command's start to its return once ready, within 0.5 s of the
baseline, the two alternating round by round (medians of --cli-rounds).

Environment builds (issue 18): the Azure sample's environment (scikit-learn, numpy, scipy,
joblib, plus the worker's packages) built by epdev's venv runtime with a warm package cache,
against `python -m venv` + `pip install` of the same requirements with pip's cache warm, in
the same run, median of --build-rounds (target: at most 0.35x); and epdev's build with an
empty package cache (everything downloaded).
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.sample_project import SampleProject, make_sample_project  # noqa: E402

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


def cli_ready_times(
    bench: Bench, project: SampleProject, rounds: int
) -> tuple[list[float], list[float]]:
    """`epdev online-deployment create -f` to its return once ready (the console script as a
    user runs it: start-up, the file's validation, the wait), process runtime, alternating with
    the script's own import + init(); both lists in seconds."""
    entry = [sys.executable, "-m", "epdev.devserver.cli.entry"]
    env = {**os.environ, "EPDEV_HOME": str(bench.home)}
    theirs: list[float] = []
    ours: list[float] = []
    for i in range(rounds):
        theirs.append(own_time(project.code_dir(1) / "score.py", project.root / "model-1"))
        name = f"cli-{i}"
        argv = [*entry, "online-deployment", "create", "-f", str(project.blue_yml)]
        argv += ["--name", name, "--runtime", "process"]
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        ours.append(time.perf_counter() - started)
        bench.delete("my-endpoint", name)
    return ours, theirs


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


SAMPLE_REQUIREMENTS = ("scikit-learn", "numpy", "scipy", "joblib")


def epdev_build(cache: Path) -> float:
    """Seconds for epdev's venv runtime to build the sample environment into `cache`."""
    code = (
        "import asyncio, sys, time\n"
        "from pathlib import Path\n"
        "from epdev.runtimes.environment import PythonEnvironment\n"
        "from epdev.runtimes.venv import VenvRuntime\n"
        "env = PythonEnvironment(tuple(sys.argv[2:]), source='the Azure sample')\n"
        "t = time.perf_counter()\n"
        "asyncio.run(VenvRuntime().ensure_venv(env, Path(sys.argv[1]), lambda s, l: None))\n"
        "print(time.perf_counter() - t)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(cache), *SAMPLE_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(cache / "venvs", ignore_errors=True)
    return float(result.stdout.strip())


def pip_build(folder: Path, pip_cache: Path) -> float:
    """Seconds for `python -m venv` + `pip install` of the same requirements (the worker's
    pinned packages included, as epdev installs them), with pip's own cache in `pip_cache`."""
    from epdev.runtimes.environment import PythonEnvironment

    worker = PythonEnvironment().worker_requirements
    env = {**os.environ, "PIP_CACHE_DIR": str(pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, env=env)
    subprocess.run(
        [str(folder / "bin" / "pip"), "install", "-q", *SAMPLE_REQUIREMENTS, *worker],
        check=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def build_times(tmpdir: Path, rounds: int) -> None:
    cache = tmpdir / "build-cache"
    load = os.getloadavg()[0]
    empty = epdev_build(cache)  # the first build downloads everything: the empty-cache time
    pip_cache = tmpdir / "pip-cache"
    pip_build(tmpdir / "pip-warmup", pip_cache)  # pip's cache warmed the same way
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(rounds):  # interleaved, so a burst of load hits both alike
        ours.append(epdev_build(cache))
        theirs.append(pip_build(tmpdir / f"pip-{index}", pip_cache))
    ratio = median(ours) / median(theirs)
    print(f"\nenvironment builds ({', '.join(SAMPLE_REQUIREMENTS)} + the worker's packages):")
    verdict = "met" if ratio <= 0.35 else "MISSED"
    print(f"  epdev venv, warm package cache: {' '.join(f'{t:.2f}' for t in ours)} s")
    shown = " ".join(f"{t:.2f}" for t in theirs)
    print(f"  python -m venv + pip install, warm pip cache: {shown} s")
    print(f"  median ratio epdev/pip: {ratio:.3f} (target <= 0.35: {verdict})")
    print(f"  epdev venv, empty package cache: {empty:.2f} s")
    print(f"  load average (1 min) at the start: {load:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runtimes", default="process,venv,docker")
    parser.add_argument(
        "--build-rounds", type=int, default=3, help="Environment builds of each kind (0: none)"
    )
    parser.add_argument(
        "--cli-rounds",
        type=int,
        default=5,
        help="process runtime through the CLI, alternating with the baseline (0: none)",
    )
    args = parser.parse_args()
    runtimes = [r for r in args.runtimes.split(",") if r]
    if "docker" in runtimes and not docker_answers():
        print("no Docker engine answers: skipping the docker runtime")
        runtimes.remove("docker")
    rows: list[tuple[str, float, float, float | None]] = []
    cli: tuple[list[float], list[float]] | None = None
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
            if "process" in runtimes and args.cli_rounds > 0:
                cli = cli_ready_times(bench, project, args.cli_rounds)
        finally:
            bench.close()
            shutil.rmtree(tmpdir / "home", ignore_errors=True)
        if args.build_rounds > 0:
            build_times(tmpdir, args.build_rounds)
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
    if cli is not None:
        ours, theirs = (statistics.median(times) for times in cli)
        verdict = "met" if ours - theirs <= 0.5 else "MISSED"
        print(
            f"process, through the CLI (create -f until it returns ready), {len(cli[0])} rounds "
            f"alternating with the baseline, medians: {ours:.2f} s against {theirs:.2f} s, "
            f"+{ours - theirs:.2f} s (target issue 22: within 0.5 s): {verdict}"
        )
        print(f"  rounds, CLI: {' '.join(f'{t:.2f}' for t in cli[0])}")
        print(f"  rounds, baseline: {' '.join(f'{t:.2f}' for t in cli[1])}")


if __name__ == "__main__":
    main()
