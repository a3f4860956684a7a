"""The control plane's OpenAPI document as the API answers: 400 (never FastAPI's 422) for a
request that is not valid, 401 without the admin token, 404 and 409 where a route can say so,
all with epdev's error body; and 405 with every method a path allows."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

ERROR_REF = "#/components/schemas/Error"


class ErrorDetail(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    """Every error the control plane answers: a code and one line a user can act on."""

    error: ErrorDetail


_DESCRIPTIONS = {
    "400": "A parameter, name or body that is not valid; nothing was changed",
    "401": "No admin token, or not this devserver's",
    "404": "A named endpoint, deployment, job or asset that does not exist",
    "409": "Conflicts with what exists (already there, still in use, already finished)",
    "507": "The devserver's disk is full; nothing was changed",
}
# Routes without a name in their path that can still answer 404: a filter naming an endpoint,
# a spec naming a registered model or an endpoint.
_MAY_NOT_FIND = {("get", "/api/v1/jobs"), ("post", "/api/v1/validate")}
# POST routes that change nothing and so conflict with nothing.
_NO_CONFLICT = {"/api/v1/validate", "/api/v1/online-endpoints/{name}/list-keys"}


def install(app: FastAPI) -> None:
    """Give `app` the corrected schema and a 405 that lists every allowed method."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; a path served by
            # several routes (GET, PATCH, DELETE) allows all their methods.
            headers["Allow"] = ", ".join(_allowed(app, request))
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
            code = "MethodNotAllowed"
        else:
            message, code = str(exc.detail), "NotFound" if exc.status_code == 404 else "Error"
        body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, exc.status_code, headers=headers)


def _allowed(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorDetail"] = ErrorDetail.model_json_schema()
    schemas["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Error"].pop("$defs", None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _declare(path, method, operation)
    return document


def _declare(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    if path == "/api/v1/health" or not path.startswith("/api/v1/"):
        return
    statuses = ["400"]
    if operation.get("security"):
        statuses.append("401")
    if "{" in path or (method, path) in _MAY_NOT_FIND:
        statuses.append("404")
    if method in ("post", "patch", "delete") and path not in _NO_CONFLICT:
        statuses += ["409", "507"]
    for status in statuses:
        responses.setdefault(
            status,
            {
                "description": _DESCRIPTIONS[status],
                "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
            },
        )
