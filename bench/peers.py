"""epdev's scoring path against its peers, same model, same load, alternating rounds, one run.

    python3 bench/peers.py [--rounds 3] [--seconds 10] [--clients 1,16] [--only NAME,...]

Script workload: a 4-feature scikit-learn classifier scored by the same predict everywhere:
- epdev: the full path (devserver over plain HTTP, key auth, two process-runtime deployments of
  the same score.py at 50/50);
- epdev https: the same over the devserver's own TLS;
- azmlinfsrv: Azure's inference server serving the same score.py directly;
- kserve: KServe's Python ModelServer, a Model subclass doing the same predict (V1 protocol);
- mlserver: MLServer with its scikit-learn runtime (V2 protocol).
MLflow workload: the same kind of classifier saved with mlflow.sklearn:
- epdev mlflow: epdev's no-code MLflow deployment (key auth, one instance, defaults);
- mlflow serve: `mlflow models serve --env-manager local`.

Each peer runs in its own venv made with uv under ~/.cache/epdev-bench/peers/<name> (built once,
reused while its requirements are unchanged); each trains its own copy of the model there, so no
pickle crosses scikit-learn versions. epdev runs from this interpreter. A peer whose venv cannot
be built or which does not start is reported as skipped with the reason.

Every round measures each target at each client count, in an order rotated round by round. Load
comes from wrk (-t1) where installed, else from Python clients in threads (much costlier, on
the same cores). Printed: medians over the rounds of req/s, p50, p99 and the server's CPU seconds
per 1,000 calls (psutil, over the server's whole process tree: epdev's router and instances
together), and each one's ratio to epdev on the same workload.
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
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import Result, run_python, run_wrk, wait_http  # noqa: E402
from mlflow_throughput import ROW  # noqa: E402
from mlflow_throughput import deploy as deploy_mlflow  # noqa: E402
from pyspy import ensure_py_spy, parse, recording, top  # noqa: E402
from scoring_throughput import EPDEV, epdev  # noqa: E402
from support.mlflow_models import (  # noqa: E402
    FEATURES,
    free_port,
    mlflow_serve,
    save_sklearn_model,
    stop_group,
)

PEERS_HOME = Path.home() / ".cache" / "epdev-bench" / "peers"

# Each peer's venv: what it installs. mlflow is pinned to this interpreter's versions, as
# epdev's side saves the MLflow model that both serve.
REQUIREMENTS: dict[str, list[str]] = {
    "azmlinfsrv": ["azureml-inference-server-http", "scikit-learn", "joblib"],
    "kserve": ["kserve", "scikit-learn", "joblib"],
    # MLServer 1.7's inference workers call asyncio.get_event_loop() with no loop set, which
    # uvloop 0.22 turned into an error: every worker dies on start.
    "mlserver": ["mlserver", "mlserver-sklearn", "uvloop<0.22"],
    "mlflow": [f"mlflow=={version('mlflow')}", f"scikit-learn=={version('scikit-learn')}"],
}

ROWS = [
    [5.1, 3.5, 1.4, 0.2, 0],
    [4.9, 3.0, 1.4, 0.2, 0],
    [6.2, 2.9, 4.3, 1.3, 1],
    [5.9, 3.0, 4.2, 1.5, 1],
    [6.3, 3.3, 6.0, 2.5, 2],
    [7.1, 3.0, 5.9, 2.1, 2],
]
# Run by each venv's own interpreter: the model file that interpreter's scikit-learn loads.
TRAIN_PY = textwrap.dedent(
    f"""\
    import sys

    import joblib
    from sklearn.linear_model import LogisticRegression

    rows = {ROWS!r}
    model = LogisticRegression(max_iter=500).fit([r[:4] for r in rows], [r[4] for r in rows])
    joblib.dump(model, sys.argv[1])
    """
)
SCORE_PY = textwrap.dedent(
    """\
    import json
    import os

    import joblib
    import numpy


    def init():
        global model
        model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model/model.joblib"))


    def run(raw_data):
        return model.predict(numpy.array(json.loads(raw_data)["data"])).tolist()
    """
)
KSERVE_PY = textwrap.dedent(
    """\
    import os

    import joblib
    import numpy
    from kserve import Model, ModelServer


    class Scorer(Model):
        def __init__(self):
            super().__init__("model")
            self.model = joblib.load(os.environ["MODEL_FILE"])
            self.ready = True

        def predict(self, payload, headers=None):
            return {"predictions": self.model.predict(numpy.array(payload["data"])).tolist()}


    if __name__ == "__main__":
        ModelServer().start([Scorer()])
    """
)
ENDPOINT_YML = "name: peers-ep\nauth_mode: key\ntraffic:\n  blue: 50\n  green: 50\n"
DEPLOYMENT_YML = textwrap.dedent(
    """\
    name: {name}
    endpoint_name: peers-ep
    code_configuration:
      code: code/
      scoring_script: score.py
    model:
      path: model/
    instance_count: 1
    """
)
SCRIPT_BODY = json.dumps({"data": [ROWS[0][:4]]})
V2_BODY = json.dumps(
    {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0][:4]}]}
)
MLFLOW_BODY = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
JSON = {"Content-Type": "application/json"}


class Skip(Exception):
    """A peer that cannot be measured here; the message says why."""


@dataclass
class Target:
    name: str
    workload: str
    url: str
    headers: dict[str, str]
    body: str
    pids: list[int]
    results: dict[int, list[Result]] = field(default_factory=dict)
    verify: str | bool = True
    """The CA bundle that verifies the target's certificate (epdev over HTTPS)."""


def uv_bin() -> str:
    try:
        import uv
    except ImportError:
        found = shutil.which("uv")
        if not found:
            raise Skip("uv is needed to build the peers' venvs") from None
        return found
    return str(uv.find_uv_bin())


def ensure_venv(name: str) -> Path:
    """The peer's venv interpreter, building the venv first unless it is there already."""
    folder = PEERS_HOME / name
    python = folder / "bin" / "python"
    marker = folder / ".epdev-bench-requirements"
    wanted = "\n".join(REQUIREMENTS[name])
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    print(f"building {folder} (once): {' '.join(REQUIREMENTS[name])}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    uv = uv_bin()
    for step in (
        [uv, "venv", "-q", "--python", sys.executable, str(folder)],
        [uv, "pip", "install", "-q", "--python", str(python), *REQUIREMENTS[name]],
    ):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise Skip(f"its venv could not be built ({' '.join(step[:3])}): {last}")
    marker.write_text(wanted)
    return python


def train(python: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(python), "-c", TRAIN_PY, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise Skip(f"training the model failed: {done.stderr.strip().splitlines()[-1]}")
    return path


def last_error(log: Path) -> str:
    """The log's last line naming an error, else its last line."""
    lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines)[-1].strip()


@contextmanager
def server(argv: list[str], log: Path, ready: str, **popen: object) -> Iterator[int]:
    """A peer's server in its own session, waited for until `ready` answers; yields its pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,  # type: ignore[call-overload]
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise Skip(f"it exited on start: {last_error(log)}")
            try:
                wait_http(ready, timeout=1)
                break
            except SystemExit:
                if time.monotonic() > deadline:
                    raise Skip(f"it did not answer {ready} within 120 s ({log})") from None
        yield proc.pid
    finally:
        stop_group(proc)


def start_epdev(stack: ExitStack, work: Path, https: bool = False) -> Target:
    label = "epdev https" if https else "epdev"
    root = work / label.replace(" ", "-")
    train(Path(sys.executable), root / "model" / "model.joblib")
    (root / "code").mkdir(parents=True)
    (root / "code" / "score.py").write_text(SCORE_PY)
    (root / "endpoint.yml").write_text(ENDPOINT_YML)
    for name in ("blue", "green"):
        (root / f"{name}.yml").write_text(DEPLOYMENT_YML.format(name=name))
    home = work / f"{root.name}-home"
    stack.callback(subprocess.run, [*EPDEV, "stop"], env={**os.environ, "EPDEV_HOME": str(home)})
    epdev(home, "serve", "--detach", *([] if https else ["--insecure-http"]))
    epdev(home, "apply", "-f", str(root))
    view = json.loads(epdev(home, "online-endpoint", "show", "-n", "peers-ep"))
    key = json.loads(epdev(home, "online-endpoint", "get-credentials", "-n", "peers-ep"))
    info = json.loads((home / "server.json").read_text())
    headers = {**JSON, "Authorization": f"Bearer {key['primaryKey']}"}
    target = Target(label, "script", view["scoring_uri"], headers, SCRIPT_BODY, [info["pid"]])
    if https:
        target.verify = info["ca_bundle"]
    return target


def start_azmlinfsrv(stack: ExitStack, work: Path) -> Target:
    python = ensure_venv("azmlinfsrv")
    root = work / "azmlinfsrv"
    train(python, root / "model" / "model.joblib")
    (root / "score.py").write_text(SCORE_PY)
    port = free_port()
    env = {**os.environ, "AZUREML_MODEL_DIR": str(root)}
    argv = [str(python.parent / "azmlinfsrv"), "--entry_script", "score.py", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    pid = stack.enter_context(server(argv, work / "azmlinfsrv.log", f"{url}/", cwd=root, env=env))
    return Target("azmlinfsrv", "script", f"{url}/score", JSON, SCRIPT_BODY, [pid])


def start_kserve(stack: ExitStack, work: Path) -> Target:
    python = ensure_venv("kserve")
    root = work / "kserve"
    model = train(python, root / "model.joblib")
    (root / "model_server.py").write_text(KSERVE_PY)
    port = free_port()
    argv = [str(python), "model_server.py", "--http_port", str(port)]
    argv += ["--grpc_port", str(free_port())]
    env = {**os.environ, "MODEL_FILE": str(model)}
    url = f"http://127.0.0.1:{port}/v1/models/model"
    pid = stack.enter_context(server(argv, work / "kserve.log", url, cwd=root, env=env))
    return Target("kserve", "script", f"{url}:predict", JSON, SCRIPT_BODY, [pid])


def start_mlserver(stack: ExitStack, work: Path) -> Target:
    python = ensure_venv("mlserver")
    root = work / "mlserver"
    train(python, root / "model.joblib")
    port = free_port()
    settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port()}
    (root / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": "model",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (root / "model-settings.json").write_text(json.dumps(model_settings))
    argv = [str(python.parent / "mlserver"), "start", str(root)]
    url = f"http://127.0.0.1:{port}/v2/models/model"
    pid = stack.enter_context(server(argv, work / "mlserver.log", f"{url}/ready", cwd=root))
    return Target("mlserver", "script", f"{url}/infer", JSON, V2_BODY, [pid])


def start_epdev_mlflow(stack: ExitStack, work: Path) -> Target:
    root = work / "epdev-mlflow"
    root.mkdir()
    save_sklearn_model(root / "model")
    home = work / "epdev-mlflow-home"
    stack.callback(subprocess.run, [*EPDEV, "stop"], env={**os.environ, "EPDEV_HOME": str(home)})
    uri, key = deploy_mlflow(home, root, batching=True)
    pid = json.loads((home / "server.json").read_text())["pid"]
    headers = {**JSON, "Authorization": f"Bearer {key}"}
    return Target("epdev mlflow", "mlflow", uri, headers, MLFLOW_BODY, [pid])


def start_mlflow_serve(stack: ExitStack, work: Path) -> Target:
    python = ensure_venv("mlflow")
    model = work / "epdev-mlflow" / "model"
    if not model.exists():
        model.parent.mkdir(parents=True)
        save_sklearn_model(model)
    try:
        url = stack.enter_context(
            mlflow_serve(model, work / "mlflow-serve.log", python=str(python))
        )
    except AssertionError as exc:
        raise Skip(str(exc).splitlines()[0]) from None
    # mlflow_serve runs the CLI as this process's child; its port tells it from the others.
    port = url.rsplit(":", 1)[1]
    pids = [p.pid for p in psutil.Process().children() if port in p.cmdline()]
    return Target("mlflow serve", "mlflow", f"{url}/invocations", JSON, MLFLOW_BODY, pids)


STARTERS: dict[str, Callable[[ExitStack, Path], Target]] = {
    "epdev": start_epdev,
    # The same full path over the devserver's own TLS (wrk does not verify the certificate).
    "epdev https": lambda stack, work: start_epdev(stack, work, https=True),
    "azmlinfsrv": start_azmlinfsrv,
    "kserve": start_kserve,
    "mlserver": start_mlserver,
    "epdev mlflow": start_epdev_mlflow,
    "mlflow serve": start_mlflow_serve,
}
BASELINE = {"script": "epdev", "mlflow": "epdev mlflow"}


def check_answer(target: Target) -> None:
    """One call must succeed before a target is measured: a fast error is no throughput."""
    response = httpx.post(
        target.url, content=target.body, headers=target.headers, timeout=30, verify=target.verify
    )
    if response.status_code != 200:
        raise Skip(f"a scoring call answered {response.status_code}: {response.text[:200]}")


def measure(target: Target, clients: int, seconds: int, warmup: int, wrk: str | None) -> Result:
    ca = target.verify if isinstance(target.verify, str) else None
    if wrk:
        return run_wrk(
            wrk,
            target.name,
            target.url,
            target.headers,
            target.body,
            seconds,
            clients,
            ca=ca,
            warmup=warmup,
            pids=target.pids,
        )
    return run_python(
        target.name,
        target.url,
        target.headers,
        target.body,
        seconds,
        clients,
        ca=ca,
        warmup=warmup,
        pids=target.pids,
    )


def processes(target: Target) -> dict[str, psutil.Process]:
    """The target's processes by a readable label: epdev's router and its instances apart."""
    found: dict[str, psutil.Process] = {}
    for pid in target.pids:
        root = psutil.Process(pid)
        slug = target.name.replace(" ", "-")
        found[f"{slug}-{'router' if slug.startswith('epdev') else 'main'}-{pid}"] = root
        for child in root.children(recursive=True):
            with suppress(psutil.Error):
                line = " ".join(child.cmdline())
                role = "worker" if "worker" in line else "child"
                found[f"{slug}-{role}-{child.pid}"] = child
    return found


def own_cpu(procs: dict[str, psutil.Process]) -> dict[str, tuple[float, float]]:
    """Each process's own user and system CPU seconds so far (its children not included)."""
    spent: dict[str, tuple[float, float]] = {}
    for label, proc in procs.items():
        with suppress(psutil.Error):
            times = proc.cpu_times()
            spent[label] = (times.user, times.system)
    return spent


def profile(
    targets: list[Target], clients: int, seconds: int, folder: Path, wrk: str | None
) -> None:
    """Two more runs of each target under load, the second with py-spy on each of its
    processes; prints each process's CPU per call (from the first, user and kernel), then how
    its user-space time divides, by component and by top frames (self and inclusive), in
    microseconds per call: the share of the user-space samples times the user CPU per call."""
    py_spy = ensure_py_spy()
    lines: list[str] = []
    for target in targets:
        procs = processes(target)
        # CPU per call from a run without py-spy (whose pauses inflate it); py-spy's samples
        # only say how each process's share divides.
        before = own_cpu(procs)
        result = measure(target, clients, seconds, 0, wrk)
        after = own_cpu(procs)
        with recording(py_spy, {k: p.pid for k, p in procs.items()}, seconds, folder):
            sampled = measure(target, clients, seconds, 0, wrk)
        calls = max(result.calls, 1)
        lines.append(
            f"\n== {target.name}, {clients} clients: {result.rps:.0f} req/s, "
            f"{sampled.rps:.0f} under py-spy (raw stacks in {folder})"
        )
        for label in procs:
            user, system = (
                (a - b) / calls * 1e6
                for a, b in zip(after.get(label, (0, 0)), before.get(label, (0, 0)), strict=True)
            )
            us = user + system
            raw = folder / f"{label}.txt"
            if not raw.exists():
                err = (folder / f"{label}.err").read_text(errors="replace").strip()
                lines.append(f"-- {label}: {us:.0f} us CPU per call; py-spy: {err[-200:]}")
                continue
            prof = parse(raw.read_text())
            lines.append(
                f"-- {label}: {us:.0f} us CPU per call to the target (instances serve a share), "
                f"{system:.0f} of it in the kernel "
                f"(psutil); py-spy: {prof.samples} samples in user space, {prof.in_kernel} in "
                f"system calls, {prof.waiting} waiting (left out)"
            )
            if not prof.samples or us < 20:
                continue
            own, within = top(prof)
            groups = (("user space by component", prof.buckets.most_common()), ("top self", own))
            for title, rows in (*groups, ("top inclusive", within)):
                lines.append(f"   {title}:")
                for frame, n in rows:
                    share = n / prof.samples
                    lines.append(f"   {share * user:7.0f} us {share:6.1%}  {frame}")
    text = "\n".join(lines)
    print(text)
    (folder / "summary.txt").write_text(text + "\n")


def report(targets: list[Target], clients: list[int], skipped: dict[str, str]) -> None:
    for workload, baseline in BASELINE.items():
        group = [t for t in targets if t.workload == workload]
        if not group:
            continue
        base = next((t for t in group if t.name == baseline), None)
        for count in clients:
            print(f"\n{workload} workload, {count} client{'s' if count > 1 else ''}")
            print(
                f"{'server':14} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU s/1k':>8} "
                f"{'errors':>6} {'req/s x':>8} {'p50 x':>6} {'p99 x':>6} {'CPU x':>6}  rounds req/s"
            )
            medians: dict[str, tuple[float, float, float, float, int]] = {}
            for t in group:
                runs = t.results.get(count, [])
                medians[t.name] = (
                    statistics.median(r.rps for r in runs),
                    statistics.median(r.p50_ms for r in runs),
                    statistics.median(r.p99_ms for r in runs),
                    statistics.median(r.cpu_per_1000 for r in runs),
                    sum(r.errors for r in runs),
                )
            for t in group:
                rps, p50, p99, cpu, errors = medians[t.name]
                line = f"{t.name:14} {rps:7.0f} {p50:7.2f} {p99:7.2f} {cpu:8.2f} {errors:6d}"
                if base is not None:
                    b = medians[base.name]
                    line += (
                        f" {rps / b[0]:8.2f} {p50 / b[1]:6.2f} {p99 / b[2]:6.2f} {cpu / b[3]:6.2f}"
                    )
                rounds = " ".join(f"{r.rps:.0f}" for r in t.results.get(count, []))
                print(f"{line}  {rounds}")
    if base_note := [n for n in BASELINE.values() if n in skipped]:
        print(f"\nno ratios for a workload whose epdev target was skipped: {', '.join(base_note)}")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per target, client count, round")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before a target's first run")
    parser.add_argument("--clients", default="1,16", help="client counts, comma-separated")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(STARTERS)}"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the rounds, sample each server's processes with py-spy under the largest "
        "client count and write raw stacks and a summary of the top frames into this folder",
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(STARTERS)
    unknown = [n for n in names if n not in STARTERS]
    if unknown:
        sys.exit(f"--only: unknown target(s) {', '.join(unknown)}; known: {', '.join(STARTERS)}")
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk not found: Python clients in threads make the load (apt-get install wrk)")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    targets: list[Target] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        for name in names:
            started = time.monotonic()
            try:
                target = STARTERS[name](stack, work)
                check_answer(target)
            except Skip as exc:
                skipped[name] = str(exc)
                print(f"{name}: skipped: {exc}", flush=True)
                continue
            print(f"{name}: ready in {time.monotonic() - started:.1f} s", flush=True)
            targets.append(target)
        for round_ in range(args.rounds):
            for count in clients:
                shift = round_ % max(len(targets), 1)
                for target in targets[shift:] + targets[:shift]:
                    warmup = args.warmup if round_ == 0 else 0
                    result = measure(target, count, args.seconds, warmup, wrk)
                    target.results.setdefault(count, []).append(result)
                    print(
                        f"round {round_ + 1} c{count:<2} {target.name:14} {result.rps:7.0f} req/s "
                        f"p50 {result.p50_ms:6.2f} p99 {result.p99_ms:7.2f} ms "
                        f"CPU {result.cpu_per_1000:5.2f} s/1k errors {result.errors}",
                        flush=True,
                    )
        if args.profile and targets:
            profile(targets, max(clients), args.seconds, args.profile.resolve(), wrk)
    print(
        f"\npeers: {args.rounds} round(s) of {args.seconds} s per target and client count, "
        f"{'wrk -t1' if wrk else 'Python clients'}, medians; ratios are to epdev's on the "
        "same workload (x < 1 is less: better for latency and CPU, worse for req/s)"
    )
    report(targets, clients, skipped)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
