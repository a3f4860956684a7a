"""The devserver's ASGI application: the REST control plane and the scoring data plane."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from epdev.devserver import names
from epdev.devserver.api import docs, openapi
from epdev.devserver.api.batch_routes import batch_router
from epdev.devserver.api.environments import environments_router
from epdev.devserver.api.metrics import metrics_router, prometheus_router
from epdev.devserver.api.routes import public, router
from epdev.devserver.batch.control import DASK_SCHEDULER_ENV, BatchControl
from epdev.devserver.causes import out_of_space, startup_cause
from epdev.devserver.endpoints import Control
from epdev.devserver.errors import ApiError
from epdev.devserver.routing import PREFIX, ScoringRouter
from epdev.runtimes.asgi import (
    BodyTooLarge,
    Disconnected,
    Message,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_json,
)

log = logging.getLogger("epdev.devserver")

API_PREFIX = "/api/"
# The control plane takes specs (files under 1 MiB, epdev.specs.limits) and small requests; a
# larger body is refused before it is read whole, so no request makes the devserver hold
# hundreds of MiB of JSON.
MAX_API_BODY = 8 * 1024 * 1024


def _version() -> str:
    try:
        return version("epdev")
    except PackageNotFoundError:
        return "0+unknown"


class DevserverApp:
    """Sends `/endpoints/...` to the scoring router and everything else to the REST API."""

    def __init__(self, control: Control, admin_token: str, on_ready: Any = None) -> None:
        self.control = control
        self.scoring = ScoringRouter(control.routes, control.observability.recorder)
        self.api = _rest_api(control, admin_token, self.scoring, on_ready)

    @property
    def startup_error(self) -> str | None:
        """Why the start-up (restoring the stored endpoints and jobs) failed, if it did."""
        found: str | None = getattr(self.api.state, "startup_error", None)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.scoring(scope, receive, send)
        elif scope["type"] == "http" and _encoded_slash(scope):
            await _refuse(
                send, 400, "the path holds an encoded '/' (%2F); names cannot contain '/'"
            )
        elif scope["type"] == "http" and _declared_length(scope) > MAX_API_BODY:
            await _refuse(send, 413, _too_large())
        elif scope["type"] == "http" and _declared_length(scope) < 0:
            # No declared length (chunked): read it here, as FastAPI would turn a failure
            # while it reads the body into a bare 400.
            replay = await _read_bounded(receive)
            if replay is None:
                await _refuse(send, 413, _too_large())
            else:
                await self.api(scope, replay, send)
        else:
            await self.api(scope, receive, send)


def _encoded_slash(scope: Scope) -> bool:
    # The path is matched after percent-decoding, so `a%2Fdeployments%2Fb` as one name would
    # route as three segments; no name may hold a '/', so such a path is refused as a whole.
    raw = scope.get("raw_path") or b""
    return scope["path"].startswith(API_PREFIX) and b"%2f" in raw.lower()


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length, or -1 when it declares none (the server has checked
    that a declared length is a number)."""
    value = header(scope["headers"], b"content-length")
    if value is None:
        return -1
    return int(value) if value.isdecimal() else 0  # in latin-1, only 0-9 are decimal


def _too_large() -> str:
    return f"the request body is larger than the control plane takes ({MAX_API_BODY} bytes)"


async def _read_bounded(receive: Receive) -> Receive | None:
    """Reads a body of no declared length up to MAX_API_BODY; `receive` replaying it, or None
    once it grows past the limit."""
    messages: list[Message]
    try:
        body = await read_body(receive, MAX_API_BODY, whole=True)
    except BodyTooLarge:
        return None
    except Disconnected:
        messages = [{"type": "http.disconnect"}]  # FastAPI learns it as it reads
    else:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


async def _refuse(send: Send, status: int, message: str) -> None:
    code = "BadRequest" if status == 400 else "PayloadTooLarge"
    await send_json(send, status, {"error": {"code": code, "message": message}})


def _rest_api(control: Control, admin_token: str, scoring: ScoringRouter, on_ready: Any) -> FastAPI:
    batch = BatchControl(
        control.home,
        control.store,
        os.environ.get(DASK_SCHEDULER_ENV) or None,
        control.runtimes,
    )
    batch.base_url = control.base_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await control.restore()
            await batch.restore()
        except Exception as exc:
            # uvicorn only says "Application startup failed"; whoever started us says why.
            app.state.startup_error = startup_cause(exc, control.home.root)
            log.error("the devserver cannot start: %s", app.state.startup_error)
            raise
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await scoring.close()
            await batch.shutdown()
            await control.shutdown()

    app = FastAPI(
        title="epdev devserver",
        version=_version(),
        description="Control plane of the local twin of managed online endpoints.",
        lifespan=lifespan,
        docs_url=None,  # served from local files by docs.install
    )
    openapi.install(app)
    docs.install(app)
    app.state.control = control
    app.state.admin_token = admin_token
    app.state.batch = batch
    app.include_router(public)
    app.include_router(router)
    app.include_router(metrics_router)
    app.include_router(prometheus_router)
    app.include_router(batch_router)
    app.include_router(environments_router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(err) for err in exc.errors())
        return JSONResponse({"error": {"code": "BadRequest", "message": problems}}, 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if out_of_space(exc):
            # Nothing was changed (SQLite rolled the write back); the user can free space.
            message = f"the devserver is out of disk space: {startup_cause(exc, control.home.root)}"
            log.error("%s %s: %s", request.method, request.url.path, message)
            return JSONResponse({"error": {"code": "InsufficientStorage", "message": message}}, 507)
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        message = f"internal error in the devserver: {type(exc).__name__}: {exc}"
        return JSONResponse({"error": {"code": "InternalError", "message": message}}, 500)

    return app


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    if err.get("type") == "string_pattern_mismatch":
        # A name in the path, query or body: say what it was and what a name may hold.
        hint = names.hint(err["ctx"]["pattern"])
        if hint is not None:
            return f"{where}: {err['input']!r} is not a valid name: {hint}"
    return f"{where}: {err['msg']}"
