"""`--watch`: saving a change to the code serves it, without failing a request on the way."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from support.devserver import RunningServer, wait_until
from support.sample_project import make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

SCRIPT = """\
import json


def init():
    pass


def run(raw_data):
    return {"version": VERSION, "echo": json.loads(raw_data)}


VERSION = 1
"""


def test_watch_restarts_on_save_with_no_failed_request(
    epdev_server: EpdevServer, tmp_path: Path
) -> None:
    server = RunningServer.of(epdev_server)
    project = make_sample_project(tmp_path / "p", endpoint="watch-ep", instances=2)
    score = project.code_dir(1) / "score.py"
    score.write_text(SCRIPT)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    view = server.cli_json(
        "online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic", "--watch"
    )
    assert view["watch"] is True
    uri = server.cli_json("online-endpoint", "show", "-n", "watch-ep")["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "watch-ep")["primaryKey"]

    statuses: list[int] = []
    versions: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                r = session.post(
                    uri,
                    json={"x": 1},
                    headers={"Authorization": f"Bearer {key}"},
                    verify=server.ca_bundle,
                    timeout=30,
                )
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.append(r.json()["version"])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_until(lambda: len(versions) > 20, timeout=20)
        saved = time.monotonic()
        score.write_text(SCRIPT.replace("VERSION = 1", "VERSION = 2"))
        wait_until(lambda: versions and versions[-1] == 2, timeout=30, interval=0.02)
        served_after = time.monotonic() - saved
        count_before = len(statuses)
        wait_until(lambda: len(statuses) > count_before + 20, timeout=20)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert set(statuses) == {200}, sorted(set(statuses))
    assert versions[-1] == 2
    assert served_after < 15

    def logs_now() -> str:
        return server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "watch-ep").stdout

    # The note comes once the old instances have drained, which may be after the new code
    # has already answered the calls above.
    wait_until(lambda: "now serving the changed code" in logs_now(), timeout=30)
    logs = logs_now()
    assert "code changed (score.py)" in logs
    assert "now serving the changed code" in logs

    # Code that does not start leaves the working code serving.
    score.write_text("def init(:\n")
    wait_until(
        lambda: (
            "the changed code does not start"
            in server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "watch-ep").stdout
        ),
        timeout=30,
    )
    r = requests.post(
        uri,
        json={},
        headers={"Authorization": f"Bearer {key}"},
        verify=server.ca_bundle,
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["version"] == 2

    off = server.cli_json(
        "online-deployment", "update", "-n", "blue", "-e", "watch-ep", "--no-watch"
    )
    assert off["watch"] is False
    server.cli("online-endpoint", "delete", "-n", "watch-ep", "--yes")
