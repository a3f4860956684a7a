"""MLflow models deployed with no scoring script, against `mlflow models serve` itself.

One devserver (plain HTTP, key auth) serves an sklearn model and a custom pyfunc with params;
the same requests go to `mlflow models serve --env-manager local` on the same model folders,
and status codes, content types and bodies must match byte for byte.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.devserver import RunningServer, running_server
from support.mlflow_models import (
    FEATURES,
    mlflow_serve,
    save_params_model,
    save_sklearn_model,
    save_tensor_model,
)

pytestmark = pytest.mark.slow

ENDPOINT = "mlflow-ep"


@dataclass
class Served:
    server: RunningServer
    models: dict[str, Path]
    uri: str
    key: str

    def post(self, deployment: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            self.uri,
            content=content,
            headers={
                **headers,
                "Authorization": f"Bearer {self.key}",
                "azureml-model-deployment": deployment,
            },
            timeout=60,
        )


def _deployment_yml(folder: Path, name: str, model: str, extra: str = "") -> Path:
    path = folder / f"{name}.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
            name: {name}
            endpoint_name: {ENDPOINT}
            model:
              path: {model}
            instance_count: 1
            """
        )
        + extra
    )
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("mlflow")
    models = {
        "iris": save_sklearn_model(root / "iris-model"),
        "scaler": save_params_model(root / "scaler-model"),
        "tensors": save_tensor_model(root / "tensors-model"),
    }
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\nauth_mode: key\n")
    _deployment_yml(root, "iris", "./iris-model")
    _deployment_yml(root, "scaler", "./scaler-model")
    _deployment_yml(root, "tensors", "./tensors-model")
    with pytest.MonkeyPatch.context() as env:
        # Some of MLflow's messages print a set, whose order follows the hash seed: every
        # process compared here (devserver, workers, mlflow models serve) gets the same one.
        env.setenv("PYTHONHASHSEED", "0")
        with running_server(tmp_path_factory.mktemp("home"), "--insecure-http") as server:
            yield from _deploy(server, root, models)


def _deploy(server: RunningServer, root: Path, models: dict[str, Path]) -> Iterator[Served]:
    server.cli("apply", "-f", str(root), timeout=600)
    for name in models:
        state = server.cli_json("online-deployment", "show", "-n", name, "-e", ENDPOINT)
        assert state["provisioning_state"] == "Succeeded", state
    uri = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", ENDPOINT)["primaryKey"]
    yield Served(server, models, uri, key)


JSON = {"Content-Type": "application/json"}
ROW = [5.0, 3.4, 1.5, 0.2]
ROW2 = [6.5, 3.0, 5.5, 1.8]


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def _parquet() -> bytes:
    import pandas as pd

    out = io.BytesIO()
    pd.DataFrame([ROW, ROW2], columns=FEATURES).to_parquet(out)
    return out.getvalue()


IRIS_REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    ("split", _json({"dataframe_split": {"columns": FEATURES, "data": [ROW, ROW2]}}), JSON),
    (
        "split-index",
        _json({"dataframe_split": {"index": [7, 9], "columns": FEATURES, "data": [ROW, ROW2]}}),
        JSON,
    ),
    ("records", _json({"dataframe_records": [dict(zip(FEATURES, ROW, strict=True))]}), JSON),
    ("instances", _json({"instances": [dict(zip(FEATURES, ROW2, strict=True))]}), JSON),
    ("inputs", _json({"inputs": {f: [v] for f, v in zip(FEATURES, ROW, strict=True)}}), JSON),
    (
        "params-ignored",
        _json({"dataframe_split": {"columns": FEATURES, "data": [ROW]}, "params": {"a": 1}}),
        JSON,
    ),
    ("csv", f"{','.join(FEATURES)}\n5.0,3.4,1.5,0.2\n".encode(), {"Content-Type": "text/csv"}),
    ("csv-charset", b"sepal_length\n1\n", {"Content-Type": "text/csv; charset=utf-8"}),
    ("parquet", _parquet(), {"Content-Type": "application/vnd.apache.parquet"}),
    (
        "missing-column",
        _json({"dataframe_split": {"columns": FEATURES[:3], "data": [ROW[:3]]}}),
        JSON,
    ),
    (
        "wrong-type",
        _json(
            {"dataframe_records": [{**dict(zip(FEATURES, ROW, strict=True)), "petal_width": "x"}]}
        ),
        JSON,
    ),
    ("not-json", b"{nope", JSON),
    ("a-list", _json([ROW]), JSON),
    ("two-formats", _json({"dataframe_records": [], "instances": []}), JSON),
    ("no-format", _json({"data": [ROW]}), JSON),
    ("ragged", _json({"dataframe_split": {"columns": FEATURES, "data": [ROW[:2]]}}), JSON),
    ("text-plain", b"hello", {"Content-Type": "text/plain"}),
    ("latin-1", b"{}", {"Content-Type": "application/json; charset=latin-1"}),
    ("odd-parameter", b"{}", {"Content-Type": "application/json; format=pandas-split"}),
    ("empty-csv", b"", {"Content-Type": "text/csv"}),
    ("no-content-type", b"{}", {}),
]

# Requests whose answer names the fields they sent, where MLflow's says it received none.
WRONG_FIELDS = {
    "two-formats": "Received the fields 'dataframe_records', 'instances' together.",
    "no-format": "Received the fields 'data'.",
}

SCALER_REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    (
        "params",
        _json(
            {
                "dataframe_split": {"columns": ["id", "x"], "data": [[1, 1.5]]},
                "params": {"scale": 2.0},
            }
        ),
        JSON,
    ),
    ("default-params", _json({"dataframe_records": [{"id": 3, "x": 0.5}]}), JSON),
    (
        "bad-param-type",
        _json({"dataframe_records": [{"id": 3, "x": 0.5}], "params": {"scale": "big"}}),
        JSON,
    ),
    (
        "model-raises",
        _json({"dataframe_records": [{"id": 3, "x": 0.5}], "params": {"fail": True}}),
        JSON,
    ),
    ("missing-x", _json({"dataframe_records": [{"id": 3}]}), JSON),
]


@pytest.mark.parametrize(
    ("deployment", "request_"),
    [("iris", r) for r in IRIS_REQUESTS] + [("scaler", r) for r in SCALER_REQUESTS],
    ids=[f"iris-{r[0]}" for r in IRIS_REQUESTS] + [f"scaler-{r[0]}" for r in SCALER_REQUESTS],
)
def test_answers_as_mlflow_models_serve(
    served: Served,
    reference: dict[str, str],
    deployment: str,
    request_: tuple[str, bytes, dict[str, str]],
) -> None:
    name, content, headers = request_
    expected = httpx.post(
        f"{reference[deployment]}/invocations", content=content, headers=headers, timeout=60
    )
    got = served.post(deployment, content, headers)
    if name in WRONG_FIELDS:
        # MLflow's message lists the fields received as none; ours names them, and Azure's
        # input_data among the accepted ones. Same status and error code.
        assert (got.status_code, expected.status_code) == (400, 400)
        assert got.json()["error_code"] == expected.json()["error_code"] == "BAD_REQUEST"
        assert got.json()["message"].endswith(WRONG_FIELDS[name]), got.text
    else:
        assert (got.status_code, got.text) == (expected.status_code, expected.text)
    assert got.headers["content-type"] == expected.headers["content-type"]
    assert got.headers["azureml-model-deployment"] == deployment


@pytest.fixture(scope="module")
def reference(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("mlflow-serve")
    with (
        mlflow_serve(served.models["iris"], logs / "iris.log") as iris,
        mlflow_serve(served.models["scaler"], logs / "scaler.log") as scaler,
    ):
        yield {"iris": iris, "scaler": scaler}


def _predictions(response: httpx.Response) -> object:
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_a_registry_uri_with_an_alias_deploys_the_version_it_names(
    served: Served, tmp_path: Path
) -> None:
    from support.mlflow_models import register_model

    tracking = f"sqlite:///{tmp_path / 'registry.db'}"
    assert register_model(served.models["iris"], tracking, "iris", "champion") == "1"
    yml = _deployment_yml(
        tmp_path,
        "registered",
        "models:/iris@champion",
        f"environment_variables:\n  MLFLOW_TRACKING_URI: {tracking}\n",
    )
    served.server.cli("online-deployment", "create", "-f", str(yml), timeout=600)
    try:
        shown = served.server.cli_json(
            "online-deployment", "show", "-n", "registered", "-e", ENDPOINT
        )
        assert shown["provisioning_state"] == "Succeeded", shown
        body = _json({"dataframe_split": {"columns": FEATURES, "data": [ROW, ROW2]}})
        assert _predictions(served.post("registered", body, JSON)) == _predictions(
            served.post("iris", body, JSON)
        )
        logs = served.server.cli(
            "online-deployment", "get-logs", "-n", "registered", "-e", ENDPOINT
        )
        assert "models:/iris@champion is version 1" in logs.stdout
    finally:
        served.server.cli("online-deployment", "delete", "-n", "registered", "-e", ENDPOINT)


def test_an_unknown_registered_model_fails_the_deployment_with_the_reason(
    served: Served, tmp_path: Path
) -> None:
    tracking = f"sqlite:///{tmp_path / 'empty.db'}"
    yml = _deployment_yml(
        tmp_path,
        "missing",
        "models:/nosuch/3",
        f"environment_variables:\n  MLFLOW_TRACKING_URI: {tracking}\n",
    )
    result = served.server.cli(
        "online-deployment", "create", "-f", str(yml), check=False, timeout=600
    )
    try:
        assert result.returncode != 0
        assert "models:/nosuch/3" in result.stderr and "not found" in result.stderr
    finally:
        served.server.cli(
            "online-deployment", "delete", "-n", "missing", "-e", ENDPOINT, check=False
        )


def test_concurrent_callers_are_batched_and_each_gets_its_own_rows(served: Served) -> None:
    # A wide latency budget lets callers that come together merge on a slow machine.
    deployment = "batched"
    yml = _deployment_yml(
        served.models["scaler"].parent,
        deployment,
        "./scaler-model",
        'environment_variables:\n  EPDEV_MAX_LATENCY_MS: "300"\n',
    )
    served.server.cli("online-deployment", "create", "-f", str(yml), timeout=600)
    callers = 12

    def burst() -> list[int]:
        """12 callers at once; how many requests each one's predict call served."""
        together = threading.Barrier(callers)

        def call(caller: int) -> httpx.Response:
            x: object = "not a number" if caller == 5 else float(caller)
            rows = [[caller * 10 + i, x] for i in range(caller % 3 + 1)]
            body = {
                "dataframe_split": {"columns": ["id", "x"], "data": rows},
                "params": {"scale": 3.0},
            }
            together.wait()
            return served.post(deployment, _json(body), JSON)

        with concurrent.futures.ThreadPoolExecutor(callers) as pool:
            answers = list(pool.map(call, range(callers)))
        assert answers[5].status_code == 400
        assert "x" in answers[5].json()["message"]
        merged = []
        for caller, answer in enumerate(answers):
            if caller == 5:
                continue
            expected = [{"id": caller * 10 + i, "y": caller * 3.0} for i in range(caller % 3 + 1)]
            assert _predictions(answer) == expected
            merged.append(int(answer.headers["x-epdev-batch-requests"]))
        return merged

    try:
        # A lone caller is never held back, so on a loaded machine callers released together
        # may still reach the model one by one: a few bursts, of which one must merge.
        bursts = [burst() for _ in range(3)]
        assert any(max(merged) > 1 for merged in bursts), bursts
    finally:
        served.server.cli("online-deployment", "delete", "-n", deployment, "-e", ENDPOINT)


def test_batching_can_be_turned_off(served: Served) -> None:
    deployment = "unbatched"
    yml = _deployment_yml(
        served.models["iris"].parent,
        deployment,
        "./iris-model",
        'environment_variables:\n  EPDEV_ADAPTIVE_BATCHING: "false"\n',
    )
    served.server.cli("online-deployment", "create", "-f", str(yml), timeout=600)
    try:
        body = _json({"dataframe_records": [dict(zip(FEATURES, ROW, strict=True))]})
        answer = served.post(deployment, body, JSON)
        assert _predictions(answer) == _predictions(served.post("iris", body, JSON))
        assert "x-epdev-batch-requests" not in answer.headers
    finally:
        served.server.cli("online-deployment", "delete", "-n", deployment, "-e", ENDPOINT)


# The inference response's shape in the Open Inference Protocol's REST spec.
INFERENCE_RESPONSE = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"type": "string"},
                    "parameters": {"type": "object"},
                    "data": {"type": "array"},
                },
            },
        },
    },
}


def _v2(
    served: Served, path: str, body: object | None = None, key: str | None = None
) -> httpx.Response:
    url = served.uri.removesuffix("/score") + "/v2" + path
    headers = {"Authorization": f"Bearer {key or served.key}"}
    if body is None:
        return httpx.get(url, headers=headers, timeout=60)
    return httpx.post(url, json=body, headers=headers, timeout=60)


def test_v2_health_and_metadata_come_from_the_signature(served: Served) -> None:
    assert _v2(served, "/health/live").json() == {"live": True}
    assert _v2(served, "/health/ready").json() == {"ready": True}
    assert _v2(served, "/models/iris/ready").json() == {"name": "iris", "ready": True}
    meta = _v2(served, "/models/iris").json()
    assert meta["name"] == "iris" and meta["platform"] == "mlflow"
    assert meta["inputs"] == [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES]
    assert meta["outputs"] == [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]


def test_v2_infer_answers_in_the_spec_shape_and_echoes_the_id(served: Served) -> None:
    import jsonschema

    request = {
        "id": "42",
        "inputs": [
            {"name": f, "shape": [2], "datatype": "FP64", "data": [ROW[i], ROW2[i]]}
            for i, f in enumerate(FEATURES)
        ],
        "outputs": [{"name": "output-0"}],
    }
    answer = _v2(served, "/models/iris/infer", request)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), INFERENCE_RESPONSE)
    body = answer.json()
    assert (body["model_name"], body["id"]) == ("iris", "42")
    expected = _predictions(
        served.post(
            "iris", _json({"dataframe_split": {"columns": FEATURES, "data": [ROW, ROW2]}}), JSON
        )
    )
    assert body["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "INT64", "data": expected}
    ]


def test_v2_parameters_reach_predict_and_columns_become_outputs(served: Served) -> None:
    request = {
        "inputs": [
            {"name": "id", "shape": [2, 1], "datatype": "INT64", "data": [[7], [8]]},
            {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
        ],
        "parameters": {"scale": 10.0},
    }
    body = _v2(served, "/models/scaler/infer", request).json()
    assert "id" not in body
    assert body["outputs"] == [
        {"name": "id", "shape": [2], "datatype": "INT64", "data": [7, 8]},
        {"name": "y", "shape": [2], "datatype": "FP64", "data": [10.0, 20.0]},
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/models/nosuch/infer", {"inputs": []}, 404, "not a deployment"),
        ("/models/iris/infer", {"inputs": []}, 400, "at least one tensor"),
        (
            "/models/iris/infer",
            {"inputs": [{"name": "sepal_length", "shape": [3], "datatype": "FP64", "data": [1]}]},
            400,
            "holds 3 values",
        ),
        (
            "/models/iris/infer",
            {"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1]}]},
            400,
            "missing inputs",
        ),
        (
            "/models/iris/infer",
            {"inputs": [{"name": "a", "shape": [1], "datatype": "F", "data": [1]}]},
            400,
            "datatype",
        ),
        ("/models/iris/versions/2/infer", {"inputs": []}, 404, "one version"),
    ],
)
def test_v2_errors_say_what_is_wrong(
    served: Served, path: str, body: object, status: int, words: str
) -> None:
    answer = _v2(served, path, body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_v2_is_behind_the_endpoint_key(served: Served) -> None:
    answer = _v2(served, "/models/iris", key="wrong")
    assert answer.status_code == 401
    assert "key" in answer.json()["error"]


def test_v2_the_specs_own_inference_example(served: Served) -> None:
    """The request and response of the protocol's inference example, on a tensor model."""
    meta = _v2(served, "/models/tensors").json()
    assert meta["inputs"] == [
        {"name": "input0", "datatype": "UINT32", "shape": [-1, 2]},
        {"name": "input1", "datatype": "BOOL", "shape": [-1]},
    ]
    assert meta["outputs"] == [{"name": "output0", "datatype": "FP32", "shape": [-1, 2]}]
    request = {
        "id": "42",
        "inputs": [
            {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
            {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True, False, True]},
        ],
        "outputs": [{"name": "output0"}],
    }
    answer = _v2(served, "/models/tensors/infer", request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["id"], body["model_name"]) == ("42", "tensors")
    [output] = body["outputs"]
    assert (output["name"], output["shape"], output["datatype"]) == ("output0", [3, 2], "FP32")
    assert output["data"] == pytest.approx([1.0, 1.1, 2.0, 2.1, 3.0, 3.1], rel=1e-6)
    wrong_type = {**request, "inputs": [{**request["inputs"][0], "datatype": "FP64"}]}
    error = _v2(served, "/models/tensors/infer", wrong_type)
    assert error.status_code == 400 and "error" in error.json()
