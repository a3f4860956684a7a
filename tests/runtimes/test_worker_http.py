"""The worker's HTTP API, against one running instance of a probe script (real process)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from probe_script import SCRIPT
from runtime_helpers import LoopThread, Sink, create, make_spec, write_script

from epdev.runtimes import InstanceState
from epdev.runtimes.process import ProcessInstance

RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."


@dataclass
class Probe:
    instance: ProcessInstance
    sink: Sink
    client: httpx.Client
    code_dir: Path


@pytest.fixture(scope="module")
def probe(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    tmp_path = tmp_path_factory.mktemp("probe")
    code_dir = write_script(tmp_path / "code", SCRIPT)
    spec = make_spec(tmp_path, code_dir, environment_variables={"PROBE_VAR": "probe-value"})
    sink = Sink()
    instance = create(spec, sink)
    loop_thread.run(instance.start(20))
    with httpx.Client(base_url=instance.url, timeout=10) as client:
        yield Probe(instance, sink, client, code_dir)
    loop_thread.run(instance.stop())
    assert instance.state == InstanceState.STOPPED


def score(probe: Probe, body: str | bytes, **headers: str) -> httpx.Response:
    merged = {"content-type": "application/json", **headers}
    return probe.client.post("/score", content=body, headers=merged)


def test_health_probe(probe: Probe) -> None:
    response = probe.client.get("/")
    assert response.status_code == 200
    assert response.text == "Healthy"


def test_body_reaches_run_as_text_and_the_result_comes_back_as_json(probe: Probe) -> None:
    response = score(probe, "héllo")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"echo": "héllo"}
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0


def test_get_score_passes_the_query_as_json(probe: Probe) -> None:
    response = probe.client.get("/score?a=1&b=[1,2]&a=x&c=%C3%A9&d&e=null")
    assert response.status_code == 200
    sent = response.json()["echo"]
    assert sent == json.dumps({"a": [1, "x"], "b": [1, 2], "c": "é", "d": "", "e": None})


def test_request_headers_are_passed_when_run_declares_them(probe: Probe) -> None:
    response = score(probe, "headers", **{"x-custom-thing": "v1", "x_dropped": "no"})
    headers = response.json()
    assert headers["X-Custom-Thing"] == "v1"
    assert headers["Content-Type"] == "application/json"
    assert not any("_" in name for name in headers)


def test_request_id_is_echoed_or_generated(probe: Probe) -> None:
    echoed = score(probe, "x", **{"x-request-id": "my-id-123"})
    assert echoed.headers["x-request-id"] == "my-id-123"
    assert echoed.headers["x-ms-request-id"] == "my-id-123"
    generated = score(probe, "x")
    assert uuid.UUID(generated.headers["x-request-id"])
    client_id = score(probe, "x", **{"x-ms-client-request-id": "client-1"})
    assert client_id.headers["x-ms-client-request-id"] == "client-1"


def test_a_request_id_over_100_characters_is_refused(probe: Probe) -> None:
    response = score(probe, "x", **{"x-request-id": "a" * 101})
    assert response.status_code == 431
    assert response.json() == {"message": "x-request-id must not exceed 100 characters"}


def test_run_raising_gives_500_and_logs_the_traceback(probe: Probe) -> None:
    response = score(probe, "raise")
    assert response.status_code == 500
    assert response.json() == {"message": RUN_FAILED}
    assert response.headers["x-ms-run-function-failed"] == "True"
    probe.sink.wait_for("run() raised:", stream="stderr")
    probe.sink.wait_for("ValueError: run-failed-marker", stream="stderr")
    probe.sink.wait_for('score.py", line', stream="stderr")


def test_none_is_an_empty_json_object(probe: Probe) -> None:
    response = score(probe, "none")
    assert response.status_code == 200
    assert response.text == "{}"


def test_a_result_json_cannot_encode_gives_500_and_says_why(probe: Probe) -> None:
    response = score(probe, "set")
    assert response.status_code == 500
    assert "message" in response.json()
    line = probe.sink.wait_for("cannot be encoded as JSON", stream="stderr")
    assert "builtins.set" in line
    assert ".tolist()" in line


def test_a_flask_response_passes_through(probe: Probe) -> None:
    pytest.importorskip("flask")
    response = score(probe, "flask")
    assert response.status_code == 201
    assert response.text == "from flask"
    assert response.headers["x-lib"] == "flask"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "x-ms-run-fn-exec-ms" in response.headers
    failed = score(probe, "flask-503")
    assert failed.status_code == 503
    assert failed.headers["x-ms-run-function-failed"] == "True"


def test_other_response_objects_fail_as_in_azure(probe: Probe) -> None:
    # azmlinfsrv passes through flask.Response only; anything else goes to json.dumps.
    response = score(probe, "teapot")
    assert response.status_code == 500
    assert response.headers["x-ms-run-function-failed"] == "False"
    line = probe.sink.wait_for("entry_module.Teapot", stream="stderr")
    assert "only flask.Response objects" in line


def test_a_body_that_is_not_utf8_is_refused(probe: Probe) -> None:
    response = score(probe, b"\xff\xfe")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff"
        " in position 0: invalid start byte"
    }


def test_a_form_body_reaches_run_empty_as_in_azure(probe: Probe) -> None:
    response = score(probe, "data=1", **{"content-type": "application/x-www-form-urlencoded"})
    assert response.json() == {"echo": ""}
    probe.sink.wait_for("Send Content-Type: application/json", stream="stderr")


def test_methods_and_paths(probe: Probe) -> None:
    options = probe.client.options("/score")
    assert (options.status_code, options.content) == (200, b"")
    put = probe.client.put("/score", content="x")
    assert put.status_code == 405
    assert put.json() == {"message": "The method is not allowed for the requested URL."}
    head = probe.client.head("/score")
    assert head.status_code == 405
    missing = probe.client.get("/nowhere")
    assert missing.status_code == 404
    assert "not found" in missing.json()["message"]
    assert probe.client.post("/score/", content="x").status_code == 404


def test_print_and_logging_reach_the_sink(probe: Probe) -> None:
    assert probe.sink.wait_for("init-print-marker") == "init-print-marker"
    assert ("stdout", "init-print-marker") in probe.sink.lines
    assert " INFO " in probe.sink.wait_for("init-log-marker", stream="stderr")
    assert score(probe, "print").json() == "printed"
    probe.sink.wait_for("run-print-marker", stream="stdout")
    assert " WARNING " in probe.sink.wait_for("run-log-marker", stream="stderr")
    probe.sink.wait_for("POST /score 200", stream="stderr")


def test_the_script_sees_azure_variables_and_its_own(probe: Probe) -> None:
    env = score(probe, "env").json()
    code_dir = str(probe.code_dir)
    assert env["AML_APP_ROOT"] == code_dir
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert env["PROBE_VAR"] == "probe-value"
    assert env["cwd"] == code_dir
    assert code_dir in env["sys_path"]
    assert env["module"] == "entry_module"
    assert os.path.isdir(env["AZUREML_MODEL_DIR"])
    assert os.listdir(env["AZUREML_MODEL_DIR"]) == []


def test_health_answers_while_run_is_busy(probe: Probe) -> None:
    slow = threading.Thread(target=score, args=(probe, json.dumps({"op": "sleep", "seconds": 1})))
    slow.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        assert probe.client.get("/").status_code == 200
        assert time.perf_counter() - started < 0.5
    finally:
        slow.join()


def test_the_worker_stays_lean(probe: Probe) -> None:
    assert score(probe, "modules").json() == []
