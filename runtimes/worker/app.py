"""The worker's HTTP API as a raw ASGI app, answering as Azure's inference server (azmlinfsrv).

``GET /`` is the liveness probe ("Healthy"); ``GET /swagger.json?version=2|3|3.1`` the script's
API document (epdev.runtimes.worker.swagger). On ``/score``, for an undecorated run(), ``POST``
passes the body, decoded as UTF-8, and ``GET`` the query parameters (values JSON-decoded,
repeated keys as lists) as a JSON string. For a run() decorated with inference-schema, the JSON
object of the body (or the query parameters) gives run() its keyword arguments. With
``@rawhttp``, run() gets an ``AMLRequest`` for any method. The return value is JSON-encoded, or
passed through when it is an ``AMLResponse`` or a flask ``Response``. As in azmlinfsrv, other
response objects (a bare werkzeug Response, say) are not passed through: they fail to encode.
"""

from __future__ import annotations

import inspect
import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from epdev.runtimes.asgi import JSON, Headers, Receive, Scope, Send, header_map, read_body, respond
from epdev.runtimes.worker import handoff
from epdev.runtimes.worker.aml_response import AMLResponse
from epdev.runtimes.worker.datastructures import Headers as DictHeaders
from epdev.runtimes.worker.logs import access, logger
from epdev.runtimes.worker.responses import (
    FALSE,
    HTML,
    INTERNAL_ERROR,
    RUN_FAILED,
    RUN_FAILED_HEADER,
    TRUE,
    Outcome,
    error,
    ran,
    run_time,
)
from epdev.runtimes.worker.script import RAW, SCHEMA, UserScript, describe, format_traceback
from epdev.runtimes.worker.swagger import SwaggerDocuments

HEADER_LIMIT = 100
NOT_FOUND = (
    "The requested URL was not found on the server. "
    "If you entered the URL manually please check your spelling and try again."
)
NOT_ALLOWED = "The method is not allowed for the requested URL."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Headers a passed-through response may not set: the server frames the body itself.
FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def parse_query(query: bytes) -> dict[str, Any]:
    """Query parameters as azmlinfsrv parses them: JSON values, repeated keys as a list."""
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return {
        key: _json_or_text(found[0]) if len(found) == 1 else [_json_or_text(v) for v in found]
        for key, found in values.items()
    }


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_headers(headers: dict[bytes, bytes]) -> dict[str, str]:
    """The request headers as run(request_headers=...) gets them behind gunicorn and flask:
    title-cased names, repeats joined with commas, names with underscores dropped."""
    return {
        name.decode("latin-1").title(): value.decode("latin-1")
        for name, value in headers.items()
        if b"_" not in name
    }


def request_ids(headers: dict[bytes, bytes]) -> tuple[Headers, str | None]:
    """The id headers to echo, or the 431 message when an id is too long."""
    raw_id = headers.get(b"x-request-id")
    request_id = str(uuid.uuid4()) if raw_id is None else raw_id.decode("latin-1")
    if len(request_id) > HEADER_LIMIT:
        return [], f"x-request-id must not exceed {HEADER_LIMIT} characters"
    echoed: Headers = [(b"x-request-id", request_id.encode("latin-1"))] if request_id else []
    legacy = headers.get(b"x-ms-request-id", b"").decode("latin-1")
    client = headers.get(b"x-ms-client-request-id", b"").decode("latin-1")
    if legacy:
        logger.warning(
            "x-ms-request-id is deprecated as the client's request id; send"
            " x-ms-client-request-id instead"
        )
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        return echoed, (
            f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"
        )
    if legacy:
        echoed.append((b"x-ms-request-id", legacy.encode("latin-1")))
    if client:
        echoed.append((b"x-ms-client-request-id", client.encode("latin-1")))
    trace = headers.get(b"traceid")
    if trace is not None:
        echoed.append((b"TraceId", trace))
    return echoed, None


class ScoringApp:
    """Serves one loaded scoring script; run() executes on `executor` so the loop stays free.

    How a request becomes run()'s arguments (the script's mode) is decided once, here.
    """

    def __init__(
        self, script: UserScript, executor: Executor, swagger: SwaggerDocuments | None = None
    ) -> None:
        self.script = script
        self.executor = executor
        self.swagger = swagger
        version = os.environ.get("HTTP_X_MS_SERVER_VERSION", "")
        self.extra: Headers = [(b"x-ms-server-version", version.encode())] if version else []
        self.raw = script.mode == RAW
        self.schema = script.mode == SCHEMA
        if self.raw:
            # Imported by the script already (its @rawhttp); other scripts never need it.
            from epdev.runtimes.worker.aml_request import AMLRequest

            self.request_class = AMLRequest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/score":
            await self.score(scope, receive, send)
        elif path == "/":
            await self.health(scope, send)
        elif path == "/swagger.json" and self.swagger is not None:
            await self.swagger_document(scope, send)
        else:
            out = error(404, NOT_FOUND)
            await respond(send, out.status, out.body, out.headers)

    async def health(self, scope: Scope, send: Send) -> None:
        await self.read_only(scope, send, _healthy)

    async def swagger_document(self, scope: Scope, send: Send) -> None:
        """GET /swagger.json?version=2|3|3.1: the document made at load, or 404 saying why."""
        started = time.perf_counter()
        out = await self.read_only(scope, send, self.swagger_outcome)
        if out is not None:
            _log_call(scope["method"], "/swagger.json", scope["query_string"], out, started)

    def swagger_outcome(self, scope: Scope) -> Outcome:
        assert self.swagger is not None
        query = scope["query_string"].decode("latin-1")
        found = parse_qs(query, keep_blank_values=True).get("version")
        status, document = self.swagger.get(None if found is None else found[0])
        if isinstance(document, bytes):
            return Outcome(status, document, [(b"content-type", JSON), (RUN_FAILED_HEADER, FALSE)])
        return error(status, document)

    async def read_only(
        self, scope: Scope, send: Send, get: Callable[[Scope], Outcome]
    ) -> Outcome | None:
        """A path that takes GET, HEAD and OPTIONS, `get` answering the first two; the outcome
        sent, or None for another method (refused, as azmlinfsrv does, with no ids)."""
        method = scope["method"]
        if method not in ("GET", "HEAD", "OPTIONS"):
            out = error(405, NOT_ALLOWED)
            await respond(send, out.status, out.body, out.headers)
            return None
        ids, too_long = request_ids(header_map(scope["headers"]))
        if too_long is not None:
            out = error(431, too_long)
        elif method == "OPTIONS":
            out = Outcome(200, b"", [(b"content-type", HTML), (b"allow", b"OPTIONS, GET, HEAD")])
        else:
            out = get(scope)
        await respond(send, out.status, out.body, [*out.headers, *self.extra, *ids])
        return out

    async def score(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        if method not in ("GET", "POST", "OPTIONS", "HEAD"):
            out = error(405, NOT_ALLOWED)
            await respond(send, out.status, out.body, out.headers)
            return
        headers = header_map(scope["headers"])
        ids, too_long = request_ids(headers)
        if too_long is not None:
            out = error(431, too_long)
        elif self.raw:
            out = await self.raw_call(scope, headers, await read_body(receive))
        elif method == "POST":
            body = await read_body(receive)
            if self.schema:
                out = await self.post_schema(headers, body)
            else:
                out = await self.post(headers, body)
        elif method == "GET":
            query = parse_query(scope["query_string"])
            if self.schema:
                out = await self.invoke_schema(query, headers)
            else:
                out = await self.invoke(json.dumps(query), headers)
        elif method == "OPTIONS":
            out = Outcome(200, b"", [(b"content-type", HTML), (RUN_FAILED_HEADER, FALSE)])
        else:
            out = error(405, "Method not allowed")
        response_headers = out.headers
        response_headers += self.extra
        response_headers += ids
        await respond(send, out.status, out.body, response_headers)
        _log_call(method, "/score", scope["query_string"], out, started)

    async def post(self, headers: dict[bytes, bytes], body: bytes) -> Outcome:
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.split(";", 1)[0].strip().lower() in FORM_TYPES:
            # Flask parses form bodies into request.form, so azmlinfsrv hands run() "" here.
            if body:
                logger.warning(
                    "The request body was ignored because its Content-Type is %s: Azure's"
                    " inference server parses it as a form and passes an empty string to run()."
                    " Send Content-Type: application/json instead.",
                    content_type,
                )
            return await self.invoke("", headers)
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error(400, f"Input cannot be decoded as UTF-8: {exc}")
        return await self.invoke(data, headers)

    async def post_schema(self, headers: dict[bytes, bytes], body: bytes) -> Outcome:
        """A decorated run(): the body must be a JSON object holding run()'s arguments."""
        mimetype = headers.get(b"content-type", b"").decode("latin-1")
        mimetype = mimetype.split(";", 1)[0].strip().lower()
        if not (
            mimetype == "application/json"
            or (mimetype.startswith("application/") and mimetype.endswith("+json"))
        ):
            return error(415, "Expects Content-Type to be application/json")
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            if body:
                return error(400, f"POST body could not be decoded as JSON: {exc}")
            return error(400, "POST body is empty. Expecting a JSON dictionary.")
        except ValueError as exc:  # bytes that are no Unicode text at all
            logger.error("the request body cannot be decoded: %s", describe(exc))
            return error(500, INTERNAL_ERROR)
        if not isinstance(value, dict):
            return error(400, "POST body should be a JSON dictionary.")
        return await self.invoke_schema(value, headers)

    async def invoke_schema(self, values: dict[str, Any], headers: dict[bytes, bytes]) -> Outcome:
        arguments: dict[str, Any] = {}
        for name, default in self.script.params:
            value = values.get(name, default)
            if value is inspect.Parameter.empty:
                return error(400, f"A value is not provided for the {name!r} parameter.")
            arguments[name] = value
        passed = run_headers(headers) if self.script.wants_headers else None
        return await handoff.call(
            self.executor, self.call, self.script.call_run_with, arguments, passed
        )

    async def raw_call(self, scope: Scope, headers: dict[bytes, bytes], body: bytes) -> Outcome:
        """@rawhttp: run() gets the request itself, whatever its method and body."""
        named = run_headers(headers)
        client = scope.get("client")
        request = self.request_class(
            scope["method"],
            scope["path"],
            scope["query_string"],
            DictHeaders(named.items()),
            body,
            scheme=scope.get("scheme", "http"),
            remote_addr=client[0] if client else None,
        )
        passed = named if self.script.wants_headers else None
        return await handoff.call(self.executor, self.call, self.script.call_run, request, passed)

    async def invoke(self, data: str, headers: dict[bytes, bytes]) -> Outcome:
        passed = run_headers(headers) if self.script.wants_headers else None
        return await handoff.call(self.executor, self.call, self.script.call_run, data, passed)

    def call(
        self, run: Callable[[Any, dict[str, str] | None], Any], data: Any, headers: Any
    ) -> Outcome:
        """Run the user's run() and encode its result; runs on an executor thread."""
        started = time.perf_counter()
        try:
            result = run(data, headers)
        except BaseException as exc:
            logger.error("run() raised:\n%s", format_traceback(exc))
            return error(500, RUN_FAILED, run_failed=True)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        try:
            if isinstance(result, AMLResponse) or is_flask_response(result):
                logger.info("run() returned an HTTP response; passing it through")
                out = passthrough(result)
                out.headers.append(run_time(elapsed_ms))
            else:
                out = ran(b"{}" if result is None else json.dumps(result).encode(), elapsed_ms)
        except Exception as exc:
            kind = type(result)
            hint = (
                "azmlinfsrv passes through only flask.Response objects (such as AMLResponse)"
                if hasattr(result, "status_code")
                else "return plain Python values (dict, list, str, numbers, None); call .tolist()"
                " on a NumPy array or pandas object first"
            )
            logger.error(
                "run() returned a %s.%s, which cannot be encoded as JSON (%s): %s.\n%s",
                kind.__module__,
                kind.__qualname__,
                exc,
                hint,
                format_traceback(exc),
            )
            return error(500, INTERNAL_ERROR)
        return out


def _healthy(scope: Scope) -> Outcome:
    return Outcome(200, b"Healthy", [(b"content-type", HTML)])


def _log_call(method: str, path: str, query: bytes, out: Outcome, started: float) -> None:
    target = f"{path}?{query.decode('latin-1')}" if query else path
    duration = (time.perf_counter() - started) * 1e3
    access.line(f"{method} {target} {out.status} {duration:.3f}ms {len(out.body)}")


def is_flask_response(value: object) -> bool:
    """Whether `value` is a flask Response, which azmlinfsrv sends as it is (no flask import)."""
    return any(
        kind.__name__ == "Response" and kind.__module__.partition(".")[0] == "flask"
        for kind in type(value).__mro__
    )


def passthrough(response: Any) -> Outcome:
    """A flask Response returned by run(), sent as it is."""
    status = int(response.status_code)
    body = response.get_data()
    if isinstance(body, str):
        body = body.encode()
    raw = response.headers
    pairs = raw.items() if hasattr(raw, "items") else raw
    headers: Headers = []
    for name, value in pairs:
        lower = str(name).lower()
        if lower in FRAMING or (status >= 500 and lower == RUN_FAILED_HEADER.decode()):
            continue
        headers.append((str(name).encode("latin-1"), str(value).encode("latin-1")))
    if status >= 500:
        headers.append((RUN_FAILED_HEADER, TRUE))
    return Outcome(status, bytes(body), headers)
