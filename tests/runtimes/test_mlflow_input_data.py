"""The MLflow worker answers Azure ML's no-code `input_data` requests as Azure does, beside
MLflow's own formats, and says which fields a request sent when they are wrong (real worker
processes, with and without adaptive batching)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_helpers import LoopThread, Sink, create
from support.mlflow_models import (
    FEATURES,
    SKLEARN_NEEDS,
    pinned,
    quiet,
    save_params_model,
    save_sklearn_model,
    save_tensor_model,
    training_frame,
)

from epdev.runtimes.instance import InstanceSpec
from epdev.runtimes.worker.app import RUN_FAILED

pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]


@quiet
def save_array_model(path: Path) -> Path:
    """A classifier trained on a NumPy array: its signature is one unnamed tensor."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    features, labels = training_frame()
    array = features.to_numpy()
    model = LogisticRegression(max_iter=500).fit(array, labels)
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(array),
        pip_requirements=pinned(*SKLEARN_NEEDS),
    )
    return path


class Worker:
    """A real worker process serving one saved model."""

    def __init__(self, loop: LoopThread, model: Path, batch_size: int = 1) -> None:
        self.loop = loop
        spec = InstanceSpec(
            endpoint="ep",
            deployment="blue",
            index=0,
            code_dir=model,
            scoring_script="",
            model_path=model,
            work_dir=model.parent / f"work-{model.name}-{batch_size}",
            mlflow=True,
            max_concurrent_requests=batch_size,
            max_batch_size=batch_size,
        )
        self.sink = Sink()
        self.instance = create(spec, self.sink)
        loop.run(self.instance.start(120), timeout=150)
        self.client = httpx.Client(base_url=self.instance.url, timeout=30)

    def post(self, payload: Any, content_type: str = "application/json") -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post("/score", content=body, headers={"content-type": content_type})

    def close(self) -> None:
        self.client.close()
        self.loop.run(self.instance.stop())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "sklearn": save_sklearn_model(root / "sklearn"),
        "params": save_params_model(root / "params"),
        "tensor": save_tensor_model(root / "tensor"),
        "array": save_array_model(root / "array"),
    }


@pytest.fixture(scope="module", params=[1, 8], ids=["plain", "batching"])
def sklearn(
    loop_thread: LoopThread, models: dict[str, Path], request: pytest.FixtureRequest
) -> Iterator[Worker]:
    worker = Worker(loop_thread, models["sklearn"], batch_size=request.param)
    yield worker
    worker.close()


def test_split_orientation_answers_a_bare_list(sklearn: Worker) -> None:
    payload = {"input_data": {"columns": FEATURES, "index": [0, 1], "data": ROWS}}
    response = sklearn.post(payload)
    assert response.status_code == 200, response.text
    assert response.content == b"[0, 2]"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_split_without_index_and_with_columns_in_another_order(sklearn: Worker) -> None:
    columns = list(reversed(FEATURES))
    data = [list(reversed(row)) for row in ROWS]
    response = sklearn.post({"input_data": {"columns": columns, "data": data}})
    assert response.status_code == 200, response.text
    assert response.json() == [0, 2]


def test_mlflow_formats_keep_working(sklearn: Worker) -> None:
    split = {"dataframe_split": {"columns": FEATURES, "data": ROWS}}
    records = {"dataframe_records": [dict(zip(FEATURES, row, strict=True)) for row in ROWS]}
    for payload in (split, records):
        response = sklearn.post(payload)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [0, 2]}


@pytest.mark.parametrize(
    ("payload", "received"),
    [
        ({"data": ROWS}, "Received the fields 'data'."),
        ({}, "Received no fields."),
        (
            {"inputs": ROWS, "input_data": ROWS},
            "Received the fields 'inputs', 'input_data' together.",
        ),
    ],
    ids=["unknown", "empty", "two"],
)
def test_wrong_fields_say_what_came_and_what_is_accepted(
    sklearn: Worker, payload: dict[str, Any], received: str
) -> None:
    response = sklearn.post(payload)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert body["message"] == (
        "The request must be a JSON object with exactly one input field: 'input_data' "
        "(Azure ML) or one of 'dataframe_split', 'dataframe_records', 'instances', 'inputs' "
        f"(MLflow), with an optional 'params'. {received}"
    )


def test_a_failing_input_is_azmlinfsrvs_500(sklearn: Worker) -> None:
    response = sklearn.post({"input_data": "not a frame"})
    assert response.status_code == 500
    assert response.json() == {"message": RUN_FAILED}
    assert response.headers["x-ms-run-function-failed"] == "True"
    sklearn.sink.wait_for("scoring failed:")  # the traceback is in the logs


def test_params_reach_predict(loop_thread: LoopThread, models: dict[str, Path]) -> None:
    worker = Worker(loop_thread, models["params"])
    frame = {"columns": ["id", "x"], "index": [0, 1], "data": [[1, 1.0], [2, 2.0]]}
    response = worker.post({"input_data": frame, "params": {"scale": 3.0, "shift": 1.0}})
    assert response.status_code == 200, response.text
    # A DataFrame comes back as records.
    assert response.json() == [{"id": 1, "y": 4.0}, {"id": 2, "y": 7.0}]
    failed = worker.post({"input_data": frame, "params": {"fail": True}})
    assert failed.status_code == 500
    worker.close()


def test_named_tensors(loop_thread: LoopThread, models: dict[str, Path]) -> None:
    worker = Worker(loop_thread, models["tensor"])
    response = worker.post({"input_data": {"input0": [[1, 2], [3, 4]], "input1": [True] * 3}})
    assert response.status_code == 200, response.text
    output = response.json()["output0"]
    assert [len(row) for row in output] == [2, 2, 2]
    assert [value for row in output for value in row] == pytest.approx([1, 1.1, 2, 2.1, 3, 3.1])
    worker.close()


def test_an_unnamed_tensor_takes_a_list(loop_thread: LoopThread, models: dict[str, Path]) -> None:
    worker = Worker(loop_thread, models["array"])
    response = worker.post({"input_data": ROWS})
    assert response.status_code == 200, response.text
    assert response.json() == [0, 2]
    worker.close()
