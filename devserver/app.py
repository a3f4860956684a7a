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

from epdev.devserver.api.batch_routes import batch_router
from epdev.devserver.api.environments import environments_router
from epdev.devserver.api.metrics import metrics_router, prometheus_router
from epdev.devserver.api.routes import public, router
from epdev.devserver.batch.control import DASK_SCHEDULER_ENV, BatchControl
from epdev.devserver.control import Control
from epdev.devserver.errors import ApiError
from epdev.devserver.routing import PREFIX, Receive, Scope, ScoringRouter, Send

log = logging.getLogger("epdev.devserver")


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.scoring(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def _rest_api(control: Control, admin_token: str, scoring: ScoringRouter, on_ready: Any) -> FastAPI:
    batch = BatchControl(
        control.home,
        control.store,
        os.environ.get(DASK_SCHEDULER_ENV) or None,
        default_runtime=control.runtimes.default,
    )
    batch.base_url = control.base_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await control.restore()
        await batch.restore()
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
    )
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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return JSONResponse({"error": {"code": "BadRequest", "message": problems}}, 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        message = f"internal error in the devserver: {type(exc).__name__}: {exc}"
        return JSONResponse({"error": {"code": "InternalError", "message": message}}, 500)

    return app
