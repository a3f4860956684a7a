"""Metrics, Prometheus, logs that follow, access logs and cost, against a real devserver."""

from __future__ import annotations

import json
import math
import queue
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.devserver import RunningServer, running_server, wait_until
from support.sample_project import SampleProject, make_sample_project

from epdev.devserver.metrics import bucket_of

pytestmark = pytest.mark.slow

ENDPOINT = "obs-ep"
SHOW_BLUE = ("online-deployment", "show", "-n", "blue", "-e", ENDPOINT)
LOGS_BLUE = ("online-deployment", "get-logs", "-n", "blue", "-e", ENDPOINT)
# `epdev` as a terminal starts it, whatever started pytest: a background job of a
# non-interactive shell inherits SIGINT ignored, and Python rightly keeps ignoring it then.
EPDEV_AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'epdev'; runpy.run_module('epdev.devserver.cli.main', run_name='__main__')",
]

# Logs a marker per call, and fails on request so that the 500s are ours to count.
SCORE_PY = textwrap.dedent(
    """\
    import json
    import logging


    def init():
        logging.info("init done")


    def run(raw_data):
        data = json.loads(raw_data)
        if data.get("fail"):
            raise ValueError("asked to fail")
        logging.info("marker %s", data.get("marker"))
        return {"echo": data.get("marker")}
    """
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    made = make_sample_project(tmp_path_factory.mktemp("project"), endpoint=ENDPOINT, instances=2)
    (made.code_dir(1) / "score.py").write_text(SCORE_PY)
    return made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("home")) as srv:
        yield srv


@pytest.fixture(scope="module")
def keys(server: RunningServer, project: SampleProject) -> dict[str, str]:
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    found: dict[str, str] = server.cli_json("online-endpoint", "get-credentials", "-n", ENDPOINT)
    return found


@pytest.fixture(scope="module")
def known_calls(server: RunningServer, keys: dict[str, str]) -> None:
    """12 calls by traffic, 3 by header, 4 that fail in run(), 2 with a wrong key."""
    uri = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)["scoring_uri"]
    good = {"Authorization": f"Bearer {keys['primaryKey']}"}
    with requests.Session() as session:

        def call(body: dict[str, Any], headers: dict[str, str], status: int) -> None:
            r = session.post(uri, json=body, headers=headers, verify=server.ca_bundle, timeout=30)
            assert r.status_code == status, r.text

        for i in range(12):
            call({"marker": f"t{i}"}, good, 200)
        for i in range(3):
            call({"marker": f"h{i}"}, {**good, "azureml-model-deployment": "blue"}, 200)
        for _ in range(4):
            call({"fail": True}, {"Authorization": f"Bearer {keys['secondaryKey']}"}, 500)
        for _ in range(2):
            call({"marker": "x"}, {"Authorization": "Bearer not-a-key"}, 401)


def _access_log(server: RunningServer) -> list[dict[str, Any]]:
    path = server.home / "logs" / ENDPOINT / "access.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _scrape(server: RunningServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    verify: Any = ssl.create_default_context(cafile=server.ca_bundle)
    response = httpx.get(f"{server.url}/metrics", verify=verify, timeout=30)  # no token
    assert response.status_code == 200, response.text
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def test_metrics_are_exact_for_a_known_sequence(server: RunningServer, known_calls: None) -> None:
    with server.api() as api:
        response = api.get(f"/api/v1/online-endpoints/{ENDPOINT}/metrics?window=5m&step=10s")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["window_seconds"] == 300 and report["step_seconds"] == 10
    assert len(report["timestamps"]) == 30
    total, blue = report["total"], report["deployments"]["blue"]
    assert total["summary"]["requests"] == 21
    assert total["summary"]["status_classes"] == {"2xx": 15, "4xx": 2, "5xx": 4}
    assert total["summary"]["error_rate"] == pytest.approx(6 / 21, abs=1e-4)
    assert blue["summary"]["requests"] == 19
    assert blue["summary"]["status_classes"] == {"2xx": 15, "5xx": 4}
    assert sum(blue["series"]["rps"]) * 10 == pytest.approx(19)
    for key in ("rps", "error_rate", "p50_ms", "p99_ms", "cpu_percent", "memory_bytes"):
        assert len(blue["series"][key]) == 30

    # The access log has every call, and its durations agree with the percentiles.
    lines = wait_until(lambda: (found := _access_log(server)) and len(found) >= 21 and found)
    assert len(lines) == 21
    assert Counter(line["routed_by"] for line in lines) == {"traffic": 16, "header": 3, None: 2}
    assert {line["instance"] for line in lines if line["deployment"]} <= {"blue-0", "blue-1"}
    durations = [line["duration_ms"] / 1000 for line in lines if line["deployment"] == "blue"]
    for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
        # The log rounds to a microsecond, so a logged 1.000 ms may be 1.0004 ms in the histogram.
        nearest = _nearest_rank(durations, q)
        low, high = bucket_of(nearest - 5e-7)[0], bucket_of(nearest + 5e-7)[1]
        assert low <= blue["summary"][key] / 1000 <= high, (key, blue["summary"][key], low, high)

    samples = _scrape(server)
    calls = samples["epdev_requests_total"]
    by_code = {(dict(k)["deployment"], dict(k)["code"]): v for k, v in calls.items()}
    assert by_code == {("blue", "200"): 15, ("blue", "500"): 4, ("", "401"): 2}
    labels = (("deployment", "blue"), ("endpoint", ENDPOINT))
    assert samples["epdev_request_duration_seconds_count"][labels] == 19


def test_show_has_current_figures_and_cost(server: RunningServer, known_calls: None) -> None:
    def sampled() -> dict[str, Any] | None:
        view: dict[str, Any] = server.cli_json(*SHOW_BLUE)
        cost = view["cost"]
        return view if cost["core_seconds"] and cost["estimated_to_date"] else None

    deployment = wait_until(sampled, timeout=20)
    metrics, cost = deployment["metrics"], deployment["cost"]
    assert metrics["requests"] == 19 and metrics["in_flight"] == 0
    assert {i["name"] for i in metrics["instances"]} == {"blue-0", "blue-1"}
    assert all(i["memory_bytes"] > 0 and i["state"] == "Ready" for i in metrics["instances"])
    # Two Standard_DS3_v2 at about 0.293 an hour each, billed whether busy or idle.
    assert cost["instance_type"] == "Standard_DS3_v2" and cost["instance_count"] == 2
    assert cost["estimated_per_hour"] == pytest.approx(0.586)
    # Both figures are rounded for display, so a young deployment's tiny cost needs an
    # absolute tolerance too.
    assert cost["estimated_to_date"] == pytest.approx(
        cost["instance_hours"] * 0.293, rel=1e-3, abs=1e-5
    )
    assert cost["gib_hours"] > 0

    endpoint = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)
    assert endpoint["metrics"]["requests"] == 21
    assert endpoint["cost"]["estimated_per_hour"] == pytest.approx(0.586)

    samples = _scrape(server)
    instance = (("deployment", "blue"), ("endpoint", ENDPOINT), ("instance", "blue-0"))
    assert samples["epdev_instance_memory_bytes"][instance] > 0
    assert samples["epdev_instance_cpu_seconds_total"][instance] > 0
    assert samples["epdev_instance_restarts_total"][instance] == 0


def test_metrics_command_prints_figures_and_a_chart(
    server: RunningServer, known_calls: None
) -> None:
    out = server.cli("online-endpoint", "metrics", "-n", ENDPOINT, "--window", "5m").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["(endpoint)"][1] == "21" and rows["blue"][1] == "19"
    assert "cost: about 0.586 USD/hour" in out
    assert "requests/s" in out and "seconds ago" in out
    assert "\x1b[" not in out  # no colours when not on a terminal
    as_json = server.cli_json("online-endpoint", "metrics", "-n", ENDPOINT, "--window", "90s")
    assert as_json["window_seconds"] == 90 and as_json["total"]["summary"]["requests"] == 21
    bad = server.cli("online-endpoint", "metrics", "-n", ENDPOINT, "--window", "2d", check=False)
    assert bad.returncode == 1 and "not a duration" in bad.stderr


def test_get_logs_follows_one_instance(
    server: RunningServer, keys: dict[str, str], known_calls: None
) -> None:
    everything = server.cli(*LOGS_BLUE).stdout
    assert "epdev info | all 2 instance(s) ready" in everything
    assert " stderr INFO | " in everything  # the worker's records carry their level
    only = server.cli(*LOGS_BLUE, "--instance", "blue-1").stdout.splitlines()
    assert only and all(line.split()[1] == "blue-1" for line in only)

    follower = subprocess.Popen(
        [*EPDEV_AT_A_TERMINAL, *LOGS_BLUE, "--follow", "--instance", "blue-1", "--lines", "1"],
        env=server.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=30)
        assert first.split()[1] == "blue-1"
        uri = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)["scoring_uri"]
        headers = {"Authorization": f"Bearer {keys['primaryKey']}"}
        with requests.Session() as session:
            for i in range(8):  # both instances get some of these
                session.post(
                    uri, json={"marker": f"follow-{i}"}, headers=headers, verify=server.ca_bundle
                ).raise_for_status()
        followed: list[str] = []
        while not any("marker follow-" in line for line in followed):
            followed.append(lines.get(timeout=30))
        assert all(line.split()[1] == "blue-1" for line in followed)
    finally:
        follower.send_signal(signal.SIGINT)  # as Ctrl-C would
        state = ""
        try:
            code: int | None = follower.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Say what held it (signal masks, kernel wait) and leave no process behind.
            code, state = None, _signal_state(follower.pid)
            follower.kill()
            follower.wait()
        assert follower.stderr is not None
        errors = follower.stderr.read()
        follower.stderr.close()
        reader.join(timeout=10)  # it ends at the closed pipe's end
        stdout.close()
    assert code is not None, f"get-logs --follow still ran 30 s after SIGINT: {state}\n{errors}"
    assert code == 0, errors


def _signal_state(pid: int) -> str:
    proc = Path(f"/proc/{pid}")
    wanted = ("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
    fields = [
        line for line in (proc / "status").read_text().splitlines() if line.split(":")[0] in wanted
    ]
    return "; ".join([*fields, f"wchan: {(proc / 'wchan').read_text()}"])


def test_a_restart_is_counted_and_cpu_keeps_growing(
    server: RunningServer, known_calls: None
) -> None:
    def instance(view: dict[str, Any], name: str) -> dict[str, Any]:
        return next(i for i in view["metrics"]["instances"] if i["name"] == name)

    before = instance(server.cli_json(*SHOW_BLUE), "blue-0")
    psutil.Process(before["pids"][0]).kill()

    def back() -> dict[str, Any] | None:
        view: dict[str, Any] = server.cli_json(*SHOW_BLUE)
        again = instance(view, "blue-0")
        fresh = again["pids"] and again["pids"] != before["pids"] and again["state"] == "Ready"
        return view if fresh and view["ready_instances"] == 2 else None

    after = wait_until(back, timeout=30)
    assert after["metrics"]["restarts"] == 1
    assert instance(after, "blue-0")["restarts"] == 1
    assert instance(after, "blue-0")["cpu_seconds"] >= before["cpu_seconds"]
    samples = _scrape(server)
    labels = (("deployment", "blue"), ("endpoint", ENDPOINT), ("instance", "blue-0"))
    assert samples["epdev_instance_restarts_total"][labels] == 1
    assert samples["epdev_instance_cpu_seconds_total"][labels] >= before["cpu_seconds"]


def test_no_key_ever_reaches_a_log(
    server: RunningServer, keys: dict[str, str], known_calls: None
) -> None:
    logs = [p for p in (server.home / "logs").rglob("*") if p.is_file()]
    logs.append(server.home / "usage.json")
    assert any(p.name == "access.jsonl" for p in logs) and any(p.suffix == ".log" for p in logs)
    for path in logs:
        if path.exists():
            text = path.read_text(errors="replace")
            for which, key in keys.items():
                assert key not in text, f"{which} found in {path}"
            assert "not-a-key" not in text, f"a caller's wrong key found in {path}"
