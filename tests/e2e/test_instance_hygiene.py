"""What an instance leaves behind: the descriptors it inherits, the processes its script starts,
requests that never return, and counts the machine cannot take (issue 19)."""

from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.devserver import RunningServer, running_server, start_server, wait_until

from epdev.devserver.limits import start_parallelism

pytestmark = pytest.mark.slow

ENDPOINT = "hygiene"
LIMIT = start_parallelism() + 2

SCORE_PY = textwrap.dedent(
    """\
    import json
    import os
    import subprocess
    import time

    PID_DIR = os.environ.get("PID_DIR")


    def init():
        if PID_DIR:
            # A child in the worker's group, and a grandchild in a session of its own; both
            # inherit whatever the worker has open that is inheritable.
            child = subprocess.Popen(["sleep", "3600"], close_fds=False)
            started = subprocess.run(
                ["sh", "-c", "setsid sleep 3601 >/dev/null 2>&1 & echo $!"],
                capture_output=True, text=True, close_fds=False, check=True,
            )
            grandchild = int(started.stdout.strip())
            with open(os.path.join(PID_DIR, f"{os.getpid()}.json"), "w") as f:
                json.dump({"worker": os.getpid(), "child": child.pid, "grandchild": grandchild}, f)
        if os.environ.get("SLOW_AFTER_FIRST"):
            # The first instance is ready at once, the others take a minute.
            try:
                os.close(os.open(os.path.join(PID_DIR, "first"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                time.sleep(60)
        delay = float(os.environ.get("INIT_SECONDS", "0"))
        if delay:
            began = time.time()
            time.sleep(delay)
            with open(os.path.join(os.environ["TIMES_DIR"], f"{os.getpid()}"), "w") as f:
                f.write(f"{began} {time.time()}")


    def run(raw_data):
        if json.loads(raw_data) == "hang":
            time.sleep(3600)
        return {"pid": os.getpid()}
    """
)


def write_project(root: Path) -> Path:
    code = root / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "score.py").write_text(SCORE_PY)
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\nauth_mode: key\n")
    return root


def deployment_yaml(root: Path, name: str, *, count: int = 1, **extra: Any) -> Path:
    env = extra.pop("env", {})
    lines = [
        f"name: {name}",
        f"endpoint_name: {ENDPOINT}",
        "code_configuration:",
        "  code: code",
        "  scoring_script: score.py",
        f"instance_count: {count}",
    ]
    if env:
        lines.append("environment_variables:")
        lines += [f"  {k}: {json.dumps(str(v))}" for k, v in env.items()]
    for key, value in extra.items():
        lines.append(f"{key}: {json.dumps(value)}")
    path = root / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("hygiene-project"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[RunningServer]:
    # A small limit, so that a regression starts a few instances too many, not thousands.
    home = tmp_path_factory.mktemp("hygiene-home")
    with running_server(home, "--max-instances", str(LIMIT)) as running:
        running.cli("online-endpoint", "create", "-f", str(project / "endpoint.yml"))
        yield running


def deployment(server: RunningServer, name: str) -> dict[str, Any]:
    with server.api() as api:
        response = api.get(f"/api/v1/online-endpoints/{ENDPOINT}/deployments/{name}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def worker_pids(server: RunningServer, name: str) -> list[int]:
    health = deployment(server, name)["health"]
    return [i["pid"] for i in health["instances"] if i["pid"]]


def links(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found[int(entry.name)] = os.readlink(entry)
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pid: int) -> bool:
    """Dead and reaped: no process, not even a zombie, has the pid."""
    return not psutil.pid_exists(pid)


def script_pids(pid_dir: Path) -> dict[int, dict[str, int]]:
    return {
        int(p.stem): json.loads(p.read_text()) for p in pid_dir.glob("*.json") if p.stat().st_size
    }


def invoke(server: RunningServer, body: Any, deployment_name: str) -> tuple[int, str]:
    keys = server.cli_json("online-endpoint", "get-credentials", "-n", ENDPOINT)
    with server.api() as api:
        response = api.post(
            f"/endpoints/{ENDPOINT}/score",
            json=body,
            headers={
                "Authorization": f"Bearer {keys['primaryKey']}",
                "azureml-model-deployment": deployment_name,
            },
            timeout=60,
        )
    return response.status_code, response.text


def test_an_instance_and_its_script_inherit_nothing_of_the_devserver(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = deployment_yaml(project, "fds", env={"PID_DIR": pid_dir})
    server.cli("online-deployment", "create", "-f", str(spec))
    [worker] = worker_pids(server, "fds")
    [started] = script_pids(pid_dir).values()
    ours = {
        target
        for target in links(server.pid).values()
        if target.startswith(("socket:", "pipe:", "/"))
    } - {"/dev/null"}
    for pid in (worker, started["child"], started["grandchild"]):
        shared = {fd: t for fd, t in links(pid).items() if t in ours}
        assert shared == {}, f"pid {pid} holds the devserver's descriptors {shared}"
    # The script's children hold no more than stdio and the worker's own listening socket.
    assert len(links(started["child"])) <= 4, links(started["child"])


def test_processes_a_script_starts_end_with_every_instance_end(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = deployment_yaml(project, "orphans", env={"PID_DIR": pid_dir})
    server.cli("online-deployment", "create", "-f", str(spec))
    seen: set[int] = set()

    def current() -> dict[str, int]:
        [pid] = worker_pids(server, "orphans")
        return wait_until(lambda: script_pids(pid_dir).get(pid), timeout=30)

    def all_gone(started: dict[str, int]) -> None:
        wait_until(lambda: all(gone(p) for p in started.values()), timeout=15)

    # The worker crashes (kill -9): its child and its setsid'd grandchild go with it.
    first = current()
    assert alive(first["child"]) and alive(first["grandchild"])
    os.kill(first["worker"], signal.SIGKILL)
    all_gone(first)
    seen.add(first["worker"])
    wait_until(lambda: set(worker_pids(server, "orphans")) - seen, timeout=60)
    # A restart (the same spec again) replaces the instance.
    second = current()
    server.cli("online-deployment", "update", "-f", str(spec))
    all_gone(second)
    seen.add(second["worker"])
    wait_until(lambda: set(worker_pids(server, "orphans")) - seen, timeout=60)
    third = current()
    log = server.cli("online-deployment", "get-logs", "-e", ENDPOINT, "-n", "orphans").stdout
    assert f"sleep (pid {first['grandchild']}, own session)" in log
    # Deleting the deployment ends the last ones too.
    server.cli("online-deployment", "delete", "-e", ENDPOINT, "-n", "orphans", "--yes")
    all_gone(third)
    leftovers = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "ppid"])
        if p.info["ppid"] == server.pid and p.status() == psutil.STATUS_ZOMBIE
    ]
    assert leftovers == []


def test_a_request_that_never_returns_frees_its_slot_and_recycles_the_instance(
    server: RunningServer, project: Path
) -> None:
    spec = deployment_yaml(
        project,
        "stuck",
        env={"WORKER_TIMEOUT": 8},
        request_settings={"request_timeout_ms": 1000},
    )
    server.cli("online-deployment", "create", "-f", str(spec))
    [before] = worker_pids(server, "stuck")
    status, _ = invoke(server, "hang", "stuck")
    assert status == 408
    health = deployment(server, "stuck")["health"]
    assert health["state"] != "Healthy"
    assert health["instances"][0]["state"] == "Unresponsive"

    def answers() -> bool:
        return invoke(server, {"x": 1}, "stuck")[0] == 200

    wait_until(answers, timeout=60, interval=0.5)
    assert worker_pids(server, "stuck") != [before]
    log = server.cli("online-deployment", "get-logs", "-e", ENDPOINT, "-n", "stuck").stdout
    assert "was recycled: a request ran longer than WORKER_TIMEOUT (8 s)" in log
    assert deployment(server, "stuck")["health"]["state"] == "Healthy"


def test_an_instance_count_the_machine_cannot_take_is_refused(
    server: RunningServer, project: Path
) -> None:
    spec = deployment_yaml(project, "huge", count=LIMIT + 1)
    result = server.cli("online-deployment", "create", "-f", str(spec), check=False)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"instance_count: {LIMIT + 1} is more than this devserver runs" in message
    assert f"EPDEV_MAX_INSTANCES={LIMIT}" in message
    with server.api() as api:
        assert api.get("/api/v1/health").status_code == 200


def test_many_instances_start_a_few_at_a_time(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    times = tmp_path / "times"
    times.mkdir()
    count = LIMIT
    spec = deployment_yaml(
        project, "many", count=count, env={"INIT_SECONDS": 1.5, "TIMES_DIR": times}
    )
    server.cli("online-deployment", "create", "-f", str(spec), "--no-wait")
    with server.api() as api:
        while len(list(times.iterdir())) < count:
            assert api.get("/api/v1/health", timeout=10).status_code == 200
            time.sleep(0.2)
    spans = [tuple(map(float, p.read_text().split())) for p in times.iterdir()]
    most = max(sum(1 for b, e in spans if b <= t < e) for t, _ in spans)
    assert most <= start_parallelism()
    server.cli("online-deployment", "delete", "-e", ENDPOINT, "-n", "many", "--yes")


def test_after_stop_the_port_is_refused_and_serve_takes_it_again(
    tmp_path: Path, project: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    home = tmp_path / "home"
    first = start_server(home)
    try:
        first.cli("online-endpoint", "create", "-f", str(project / "endpoint.yml"))
        spec = deployment_yaml(project, "port", env={"PID_DIR": pid_dir})
        first.cli("online-deployment", "create", "-f", str(spec))
    finally:
        first.cli("stop", check=False)
    port = int(first.url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    for started in script_pids(pid_dir).values():
        assert all(gone(p) or not alive(p) for p in started.values())
    second = start_server(home, "--port", str(port))
    try:
        assert second.url.endswith(f":{port}")
    finally:
        second.cli("stop", check=False)


def test_what_a_killed_devservers_instances_left_ends_at_the_next_start(
    tmp_path: Path, project: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    home = tmp_path / "home"
    first = start_server(home)
    try:
        first.cli("online-endpoint", "create", "-f", str(project / "endpoint.yml"))
        spec = deployment_yaml(project, "afterkill", env={"PID_DIR": pid_dir})
        first.cli("online-deployment", "create", "-f", str(spec))
        [started] = script_pids(pid_dir).values()
    finally:
        first.kill()
    # The workers leave once their devserver is gone; what their scripts started stays.
    wait_until(lambda: not alive(started["worker"]), timeout=15)
    assert alive(started["child"]) and alive(started["grandchild"])
    second = start_server(home)
    try:
        wait_until(lambda: not (alive(started["child"]) or alive(started["grandchild"])), 15)
    finally:
        second.cli("stop", check=False)


def test_a_delete_returns_once_every_instance_is_gone(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = deployment_yaml(
        project, "cutshort", count=2, env={"PID_DIR": pid_dir, "SLOW_AFTER_FIRST": 1}
    )
    server.cli("online-deployment", "create", "-f", str(spec), "--no-wait")

    # One instance is ready, the other still in init(): the deployment is still Creating.
    def one_ready() -> bool:
        states = [i["state"] for i in deployment(server, "cutshort")["health"]["instances"]]
        return states.count("Ready") == 1

    wait_until(one_ready, timeout=60)
    assert deployment(server, "cutshort")["provisioning_state"] == "Creating"
    started = [pid for pids in script_pids(pid_dir).values() for pid in pids.values()]
    assert len(started) == 6
    server.cli("online-deployment", "delete", "-e", ENDPOINT, "-n", "cutshort", "--yes")
    assert [pid for pid in started if alive(pid)] == []


def test_scaling_in_ends_what_the_leaving_instance_started(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = deployment_yaml(project, "scalein", count=2, env={"PID_DIR": pid_dir})
    server.cli("online-deployment", "create", "-f", str(spec))
    instances = deployment(server, "scalein")["health"]["instances"]
    leaving = next(i["pid"] for i in instances if i["name"] == "scalein-1")
    staying = next(i["pid"] for i in instances if i["name"] == "scalein-0")
    started = script_pids(pid_dir)
    server.cli(
        "online-deployment", "update", "-e", ENDPOINT, "-n", "scalein", "--set", "instance_count=1"
    )
    assert not any(alive(pid) for pid in started[leaving].values())
    assert all(alive(pid) for pid in started[staying].values())
    server.cli("online-deployment", "delete", "-e", ENDPOINT, "-n", "scalein", "--yes")
