"""The worker's HTTP API for an MLflow model: MLflow's scoring protocol on ``POST /score``.

``/score`` answers as ``mlflow models serve`` answers ``/invocations``, by running MLflow's own
request handling (``mlflow.pyfunc.scoring_server.invocations``): JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (and ``params``),
``text/csv`` or Parquet; ``{"predictions": ...}``; MLflow's error bodies and status codes.

With adaptive batching on, a request is parsed by that same code, which is stopped just before
it would predict; the parsed data then join a batch (epdev.runtimes.worker.batching). A request
whose prediction fails is answered by MLflow's code from the start, so its error is MLflow's to
the letter. ``/v2/...`` is the Open Inference Protocol (epdev.runtimes.worker.openinference).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from epdev.runtimes.worker.app import Headers, Receive, Scope, Send, read_body, respond
from epdev.runtimes.worker.batching import Batcher
from epdev.runtimes.worker.logs import logger
from epdev.runtimes.worker.openinference import OpenInference
from epdev.runtimes.worker.script import format_traceback

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
NOT_FOUND = b'{"detail":"Not Found"}'
NOT_ALLOWED = b'{"detail":"Method Not Allowed"}'


BATCH_HEADER = b"x-epdev-batch-requests"
"""How many requests shared the predict call that answered this one (adaptive batching)."""


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    content_type: bytes = JSON
    merged: int = 0


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


class MLflowModel:
    """A loaded pyfunc model and MLflow's own scoring-server functions that serve it."""

    def __init__(self, model: Any) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        self.model = model
        self.server: Any = scoring_server  # untyped: called as MLflow calls it
        # What MLflow's scoring server sets once its model is loaded (changes type checks).
        serving = getattr(scoring_server, "_MLFLOW_IS_IN_SERVING_ENVIRONMENT", None)
        if serving is not None:
            os.environ[serving.name] = "true"
        self.exception_type: type[Exception] = MlflowException
        self.input_schema = model.metadata.get_input_schema()
        self._interceptor = _Interceptor(model.metadata)
        self._takes_params = "params" in inspect.signature(model.predict).parameters

    def invoke(self, body: bytes, content_type: str | None) -> Answer:
        """MLflow's /invocations, from the raw body to the answer."""
        try:
            if content_type is None:
                raise TypeError("the request has no Content-Type")
            result = self.server.invocations(body, content_type, self.model, self.input_schema)
        except self.exception_type as exc:
            return _mlflow_error(exc)
        except Exception as exc:
            return _internal_error(exc)
        return Answer(result.status, result.response.encode(), _media(result.mimetype))

    def parse(self, body: bytes, content_type: str | None) -> Answer | _Parsed:
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
            return _mlflow_error(exc)
        except Exception as exc:
            return _internal_error(exc)
        return Answer(result.status, result.response.encode(), _media(result.mimetype))

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Call the model as MLflow's handler does (params only where predict takes them)."""
        if self._takes_params:
            return self.model.predict(data, params=params)
        self.server._log_warning_if_params_not_in_predict_signature(logger, params)
        return self.model.predict(data)

    def encode(self, predictions: Any) -> Answer:
        out = io.StringIO()
        self.server.predictions_to_json(predictions, out)
        return Answer(200, out.getvalue().encode())


def _media(mimetype: str) -> bytes:
    return TEXT if mimetype == "text/plain" else mimetype.encode()


def _mlflow_error(exc: Any) -> Answer:
    return Answer(int(exc.get_http_status_code()), str(exc.serialize_as_json()).encode())


def _internal_error(exc: Exception) -> Answer:
    # As behind MLflow's FastAPI app: an unexpected exception is a bare 500.
    logger.error("scoring failed:\n%s", format_traceback(exc))
    return Answer(500, b"Internal Server Error", TEXT)


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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.model.predict, data, params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/score":
            await self.score(scope, receive, send)
        elif path == "/":
            # The runtimes' liveness probe, as for a scoring script.
            await respond(send, 200, b"Healthy", [(b"content-type", b"text/html; charset=utf-8")])
        elif path == "/v2" or path.startswith("/v2/"):
            await self.v2(scope, receive, send)
        else:
            await respond(send, 404, NOT_FOUND, [(b"content-type", JSON)])

    async def score(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            await respond(send, 405, NOT_ALLOWED, [(b"content-type", JSON), (b"allow", b"POST")])
            return
        content_type = _content_type(scope["headers"])
        body = await read_body(receive)
        answer = await self.answer(body, content_type)
        ids: Headers = [(k, v) for k, v in scope["headers"] if k == b"x-request-id"]
        headers: Headers = [(b"content-type", answer.content_type)]
        if answer.merged:
            headers.append((BATCH_HEADER, str(answer.merged).encode()))
        await respond(send, answer.status, answer.body, headers)
        duration = (time.perf_counter() - started) * 1e3
        request_id = ids[0][1].decode("latin-1") if ids else "-"
        logger.info(
            "POST /score %d %.3fms %d %s", answer.status, duration, len(answer.body), request_id
        )

    async def answer(self, body: bytes, content_type: str | None) -> Answer:
        loop = asyncio.get_running_loop()
        if self.batcher is None:
            return await loop.run_in_executor(self.executor, self.model.invoke, body, content_type)
        parsed = self.model.parse(body, content_type)
        if isinstance(parsed, Answer):
            return parsed
        try:
            predictions, merged = await self.batcher.predict(parsed.data, parsed.params)
        except Exception:
            # MLflow's handler, from the start, words the error exactly as MLflow does.
            return await loop.run_in_executor(self.executor, self.model.invoke, body, content_type)
        answer = self.model.encode(predictions)
        answer.merged = merged
        return answer


def _content_type(headers: Headers) -> str | None:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1")
    return None
