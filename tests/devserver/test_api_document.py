"""The control plane's OpenAPI document describes every answer, declares the admin token as a
bearer scheme on the operations it guards, and `/docs` needs nothing from the internet."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from swagger_ui_bundle import swagger_ui_path

from epdev.devserver.api.auth import SCHEME
from epdev.devserver.app import DevserverApp
from epdev.devserver.endpoints import Control
from epdev.devserver.home import Home
from epdev.runtimes.catalog import Runtimes

TOKEN = "the-admin-token"
# Answered without the admin token: the devserver's liveness, and Prometheus' scrape (free from
# loopback, so declaring the scheme there would be wrong for most callers).
UNGUARDED = {("get", "/api/v1/health"), ("get", "/metrics")}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    control = Control(Home(tmp_path / "home").ensure(), Runtimes(), "https://127.0.0.1:1")
    yield DevserverApp(control, TOKEN).api
    control.store.close()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _described(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A named view with properties, a list or union of them, or text: never `{}` or an object
    of anything."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        return bool(target.get("properties"))
    if schema.get("type") == "array":
        return _described(schema["items"], components)
    if "anyOf" in schema:
        return all(_described(s, components) for s in schema["anyOf"])
    return schema.get("type") == "string"


def _get(app: FastAPI, *paths: str, token: str | None = TOKEN) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://devserver") as client:
            return [await client.get(path, headers=headers) for path in paths]

    return asyncio.run(fetch())


def test_every_operation_has_a_success_answer_with_a_schema(app: FastAPI) -> None:
    document = app.openapi()
    components = document["components"]["schemas"]
    operations = list(_operations(document))
    assert len(operations) > 40
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert success, where
        for status, response in success.items():
            if status == "204":
                assert "content" not in response, where  # no body to describe
                continue
            content = response.get("content")
            assert content, f"{where} {status}"
            for media, body in content.items():
                assert _described(body.get("schema", {}), components), (where, media, body)


def test_the_views_name_the_fields_clients_read(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    endpoint = schemas["EndpointView"]
    assert {"name", "auth_mode", "scoring_uri", "traffic", "deployments"} <= set(
        endpoint["required"]
    )
    deployment = schemas["DeploymentView"]
    assert {"provisioning_state", "health", "ready_instances", "endpoint_name"} <= set(
        deployment["required"]
    )
    # Keys an answer can leave out are not required.
    assert "model" not in deployment["required"]
    assert "instances" not in schemas["CallFigures"]["required"]
    assert schemas["JobView"]["properties"]["progress"] == {
        "$ref": "#/components/schemas/JobProgress"
    }


def test_the_admin_token_is_a_declared_bearer_scheme(app: FastAPI) -> None:
    document = app.openapi()
    scheme = document["components"]["securitySchemes"][SCHEME]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    guarded = 0
    for method, path, operation in _operations(document):
        if (method, path) in UNGUARDED:
            assert "security" not in operation, path
            continue
        assert operation["security"] == [{SCHEME: []}], f"{method.upper()} {path}"
        assert "401" in operation["responses"], path
        guarded += 1
    assert guarded > 40
    # What the document says is what the routes do.
    (anonymous,) = _get(app, "/api/v1/online-endpoints", token=None)
    assert anonymous.status_code == 401
    assert "admin token" in anonymous.json()["error"]["message"]
    (wrong,) = _get(app, "/api/v1/online-endpoints", token="not-it")
    assert wrong.status_code == 401
    health, endpoints = _get(app, "/api/v1/health", "/api/v1/online-endpoints")
    assert health.status_code == endpoints.status_code == 200


def test_docs_page_loads_only_local_assets(app: FastAPI) -> None:
    (page,) = _get(app, "/docs", token=None)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?:", page.text), "the page names a URL off this devserver"
    urls = re.findall(r"""(?:href|src|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "openapi.json",
    }
    for url, answer in zip(urls, _get(app, *urls, token=None), strict=True):
        assert url.startswith("/") and not url.startswith("//"), url
        assert answer.status_code == 200, url
        assert answer.content, url
    # Swagger UI 5 or later: 4 cannot render the OpenAPI 3.1 document that FastAPI writes.
    assert app.openapi()["openapi"].startswith("3.1")
    version = swagger_ui_path.name.removeprefix("swagger-ui-")
    assert int(version.split(".")[0]) >= 5, version
