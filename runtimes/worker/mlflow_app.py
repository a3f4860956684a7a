"""The worker's HTTP API for an MLflow model: MLflow's scoring protocol on ``POST /score``.

``/score`` answers as ``mlflow models serve`` answers ``/invocations``, by running MLflow's own
request handling (``mlflow.pyfunc.scoring_server.invocations``): JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (and ``params``),
``text/csv`` or Parquet; ``{"predictions": ...}``; MLflow's error bodies and status codes.
Beside them, Azure ML's own no-code format, ``{"input_data": ...}``, is answered as Azure answers
it (epdev.runtimes.worker.azure_input). A JSON object with none or several of these fields is
told which it sent and which are accepted.

With adaptive batching on, a request is parsed by that same code, which is stopped just before
it would predict; the parsed data then join a batch (epdev.runtimes.worker.adaptive_batching).
A request whose prediction fails is answered by MLflow's code from the start, so its error is
MLflow's to the letter. ``/v2/...`` is the Open Inference Protocol
(epdev.runtimes.worker.openinference).
"""

from __future__ import annotations

import inspect
import io
import json
import os
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from epdev.runtimes.asgi import JSON, Receive, Scope, Send, header, read_body, respond
from epdev.runtimes.worker import azure_input, handoff
from epdev.runtimes.worker.adaptive_batching import Batcher, concat_frames
from epdev.runtimes.worker.logs import access, logger
from epdev.runtimes.worker.openinference import OpenInference
from epdev.runtimes.worker.responses import HTML, RUN_FAILED, TEXT, Outcome, error, ran
from epdev.runtimes.worker.script import format_traceback

PLAIN_KINDS = frozenset("biufU")
"""NumPy dtype kinds whose tolist() holds only bool, int, float and str, which json.dumps
writes byte for byte as MLflow's predictions_to_json (tolist(), then its NumpyEncoder) does."""
NOT_FOUND = b'{"detail":"Not Found"}'
NOT_ALLOWED = b'{"detail":"Method Not Allowed"}'


BATCH_HEADER = b"x-epdev-batch-requests"
"""How many requests shared the predict call that answered this one (adaptive batching)."""


class _Parsed(BaseException):
    """Raised by _Interceptor.predict to carry MLflow's parsed request out of its handler.

    A BaseException, so that the handler's `except Exception` does not turn it into an error.
    """

    def __init__(self, data: Any, params: dict[str, Any] | None) -> None:
        super().__init__()
        self.data = data
        self.params = params


class _Interceptor:
    """Stands in for the model in MLflow's request handling, which parses and checks the
    request exactly as it would for the model, then stops where it would predict."""

    def __init__(self, metadata: Any) -> None:
        self.metadata = metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        raise _Parsed(data, params)


@dataclass(frozen=True, slots=True)
class JsonRows:
    """The rows of a `dataframe_split` or `dataframe_records` request, not yet a DataFrame:
    requests with the same columns merge by joining their rows, and MLflow's parser then
    builds one DataFrame for all of them."""

    orient: str  # "split" or "records"
    columns: tuple[str, ...]
    rows: list[Any]

    def parsed_json(self) -> dict[str, Any]:
        """The request's data as MLflow's parser takes them."""
        if self.orient == "split":
            return {"dataframe_split": {"columns": list(self.columns), "data": self.rows}}
        return {"dataframe_records": self.rows}


def merge_data(datas: list[Any]) -> Any:
    """The data of several requests as one (they share a merge key, so one kind)."""
    first = datas[0]
    if isinstance(first, JsonRows):
        return JsonRows(first.orient, first.columns, [row for d in datas for row in d.rows])
    return concat_frames(datas)


class MLflowModel:
    """A loaded pyfunc model and MLflow's own scoring-server functions that serve it."""

    def __init__(self, model: Any) -> None:
        import numpy
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        self.model = model
        self._ndarray: Any = numpy.ndarray
        self.server: Any = scoring_server  # untyped: called as MLflow calls it
        # What MLflow's scoring server sets once its model is loaded (changes type checks).
        serving = getattr(scoring_server, "_MLFLOW_IS_IN_SERVING_ENVIRONMENT", None)
        if serving is not None:
            os.environ[serving.name] = "true"
        self.exception_type: type[Exception] = MlflowException
        self.input_schema = model.metadata.get_input_schema()
        self._interceptor = _Interceptor(model.metadata)
        self._takes_params = "params" in inspect.signature(model.predict).parameters
        # JSON rows may skip MLflow's per-request parse only where MLflow would build a
        # DataFrame typed by a column signature (not for type-hint signatures or tensors).
        schema = self.input_schema
        from_hints = getattr(model.metadata, "_is_signature_from_type_hint", lambda: False)
        self.rows_fast = (
            schema is not None
            and not schema.is_tensor_spec()
            and schema.has_input_names()
            and not from_hints()
            and hasattr(scoring_server, "infer_and_parse_data")
        )

    def json_rows(
        self, body: bytes, content_type: str | None
    ) -> tuple[JsonRows, dict[str, Any] | None] | None:
        """A plain `dataframe_split` or `dataframe_records` request as rows and params, read
        with nothing but json.loads; None for anything else (MLflow's parser then decides)."""
        if not self.rows_fast or content_type is None:
            return None
        mime, *options = (part.strip() for part in content_type.split(";"))
        if mime != "application/json" or any(
            option.partition("=")[0] != "charset" or option.partition("=")[2].lower() != "utf-8"
            for option in options
        ):
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        params = payload.get("params")
        formats = [key for key in payload if key != "params"]
        if len(formats) != 1 or not (params is None or isinstance(params, dict)):
            return None
        rows = _rows_of(formats[0], payload[formats[0]])
        return None if rows is None else (rows, params)

    def frame(self, data: Any) -> Any:
        """The model's input: JSON rows through MLflow's own parser, anything else as it is."""
        if isinstance(data, JsonRows):
            return self.server.infer_and_parse_data(data.parsed_json(), self.input_schema)
        return data

    def invoke(self, body: bytes, content_type: str | None) -> Outcome:
        """MLflow's /invocations, from the raw body to the answer."""
        try:
            if content_type is None:
                raise TypeError("the request has no Content-Type")
            result = self.server.invocations(body, content_type, self.model, self.input_schema)
        except self.exception_type as exc:
            return _explained(_mlflow_error(exc), body)
        except Exception as exc:
            return _internal_error(exc)
        return _explained(_answered(result), body)

    def azure(self, request: azure_input.AzureRequest) -> Outcome:
        """An `input_data` request, answered as Azure's MLflow scoring script under azmlinfsrv
        answers it: the predictions as a bare JSON value."""
        started = time.perf_counter()
        try:
            data = azure_input.model_input(request.input_data, self.input_schema)
            predictions = self.predict(data, request.params)
            body = json.dumps(azure_input.jsonable(predictions)).encode()
        except Exception as exc:
            logger.error("scoring failed:\n%s", format_traceback(exc))
            return error(500, RUN_FAILED, run_failed=True)
        return ran(body, (time.perf_counter() - started) * 1e3)

    def parse(self, body: bytes, content_type: str | None) -> Outcome | _Parsed:
        """The request as MLflow would hand it to the model, or MLflow's answer to it."""
        try:
            if content_type is None:
                raise TypeError("the request has no Content-Type")
            result = self.server.invocations(
                body, content_type, self._interceptor, self.input_schema
            )
        except _Parsed as parsed:
            return parsed
        except self.exception_type as exc:
            return _explained(_mlflow_error(exc), body)
        except Exception as exc:
            return _internal_error(exc)
        return _explained(_answered(result), body)

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Call the model as MLflow's handler does (params only where predict takes them)."""
        data = self.frame(data)
        if self._takes_params:
            return self.model.predict(data, params=params)
        if params:
            logger.warning(
                "The underlying model does not support passing additional parameters to the"
                " predict function. `params` %s will be ignored.",
                params,
            )
        return self.model.predict(data)

    def encode(self, predictions: Any) -> Outcome:
        if type(predictions) is self._ndarray and predictions.dtype.kind in PLAIN_KINDS:
            # What predictions_to_json writes (it too calls tolist()), at a tenth of its cost.
            body = json.dumps({"predictions": predictions.tolist()}).encode()
            return Outcome(200, body, [(b"content-type", JSON)])
        out = io.StringIO()
        self.server.predictions_to_json(predictions, out)
        return Outcome(200, out.getvalue().encode(), [(b"content-type", JSON)])


def _rows_of(key: str, value: Any) -> JsonRows | None:
    """Rows that can join other requests' rows with no change to any request's DataFrame."""
    if key == "dataframe_split":
        if not isinstance(value, dict) or set(value) != {"columns", "data"}:
            return None  # an index, or something for MLflow's parser to refuse
        columns, rows = value["columns"], value["data"]
        if (
            not isinstance(columns, list)
            or not all(isinstance(c, str) for c in columns)
            or not isinstance(rows, list)
            or not rows
            or not all(isinstance(row, list) for row in rows)
        ):
            return None
        return JsonRows("split", tuple(columns), rows)
    if key == "dataframe_records":
        if not isinstance(value, list) or not value or not isinstance(value[0], dict):
            return None
        columns = tuple(value[0])
        # Records with other keys would gain empty columns from their neighbours' keys.
        if not all(isinstance(record, dict) and tuple(record) == columns for record in value):
            return None
        return JsonRows("records", columns, value)
    return None


def _answered(result: Any) -> Outcome:
    """The answer of MLflow's own handler."""
    media = _media(result.mimetype)
    return Outcome(result.status, result.response.encode(), [(b"content-type", media)])


def _explained(answer: Outcome, body: bytes) -> Outcome:
    """MLflow's 400 for a JSON object without exactly one of its fields lists the fields it
    received as none (it keeps only the ones it knows); say which came and which are taken."""
    if answer.status != 400:
        return answer
    problem = azure_input.fields_problem(azure_input.read_payload(body))
    return answer if problem is None else _bad_request(problem)


def _bad_request(problem: str) -> Outcome:
    body = json.dumps({"error_code": "BAD_REQUEST", "message": problem}).encode()
    return Outcome(400, body, [(b"content-type", JSON)])


def _media(mimetype: str) -> bytes:
    return TEXT if mimetype == "text/plain" else mimetype.encode()


def _mlflow_error(exc: Any) -> Outcome:
    body = str(exc.serialize_as_json()).encode()
    return Outcome(int(exc.get_http_status_code()), body, [(b"content-type", JSON)])


def _internal_error(exc: Exception) -> Outcome:
    # As behind MLflow's FastAPI app: an unexpected exception is a bare 500.
    logger.error("scoring failed:\n%s", format_traceback(exc))
    return Outcome(500, b"Internal Server Error", [(b"content-type", TEXT)])


class MLflowApp:
    """Serves one MLflow model; predictions run on `executor`, batched when `batcher` is set."""

    def __init__(self, model: MLflowModel, executor: Executor, batcher: Batcher | None) -> None:
        self.model = model
        self.executor = executor
        self.batcher = batcher
        self.v2 = OpenInference(model.model.metadata, self.predict)

    async def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """The model's predictions for `data`, batched with other callers' when batching is on."""
        if self.batcher is not None:
            predictions, _ = await self.batcher.predict(data, params)
            return predictions
        return await handoff.call(self.executor, self.model.predict, data, params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/score":
            await self.score(scope, receive, send)
        elif path == "/":
            # The runtimes' liveness probe, as for a scoring script.
            await respond(send, 200, b"Healthy", [(b"content-type", HTML)])
        elif path == "/v2" or path.startswith("/v2/"):
            await self.v2(scope, receive, send)
        else:
            await respond(send, 404, NOT_FOUND, [(b"content-type", JSON)])

    async def score(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            await respond(send, 405, NOT_ALLOWED, [(b"content-type", JSON), (b"allow", b"POST")])
            return
        content_type = header(scope["headers"], b"content-type")
        body = await read_body(receive)
        answer = await self.answer(body, content_type)
        await respond(send, answer.status, answer.body, answer.headers)
        duration = (time.perf_counter() - started) * 1e3
        request_id = header(scope["headers"], b"x-request-id")
        if request_id is None:
            request_id = "-"
        access.line(f"POST /score {answer.status} {duration:.3f}ms {len(answer.body)} {request_id}")

    async def answer(self, body: bytes, content_type: str | None) -> Outcome:
        # Only bodies that mention it pay for a second JSON parse.
        if azure_input.INPUT_DATA.encode() in body and azure_input.is_json(content_type):
            payload = azure_input.read_payload(body)
            problem = azure_input.fields_problem(payload)
            if problem is not None:
                return _bad_request(problem)
            request = azure_input.azure_request(payload)
            if request is not None:
                return await handoff.call(self.executor, self.model.azure, request)
        if self.batcher is None:
            return await handoff.call(self.executor, self.model.invoke, body, content_type)
        rows = self.model.json_rows(body, content_type)
        try:
            if rows is not None:
                data, params = rows
                shape = (("json", data.orient, data.columns), len(data.rows))
                predictions, merged = await self.batcher.predict(data, params, shape)
            else:
                parsed = self.model.parse(body, content_type)
                if isinstance(parsed, Outcome):
                    return parsed
                predictions, merged = await self.batcher.predict(parsed.data, parsed.params)
        except Exception:
            # MLflow's handler, from the start, words the error exactly as MLflow does.
            return await handoff.call(self.executor, self.model.invoke, body, content_type)
        answer = self.model.encode(predictions)
        if merged:
            answer.headers.append((BATCH_HEADER, str(merged).encode()))
        return answer
