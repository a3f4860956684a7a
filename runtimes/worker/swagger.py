"""The documents a script publishes at ``/swagger.json``, made once as azmlinfsrv makes them.

Versions 2 (alias 2.0), 3 (alias 3.0) and 3.1. For each, a file in the app root wins
(``swagger.json`` then ``swagger2.json`` for 2, ``swagger3.json``, ``swagger3.1.json``), sent as
it is; else the document is generated: a Swagger 2 / OpenAPI 3 description of the server's routes
whose ``ServiceInput`` and ``ServiceOutput`` are inference-schema's schemas of run() when it is
decorated (and empty objects when not), for the versions inference-schema says its parameter
types support. ``SERVICE_NAME``, ``SERVICE_VERSION`` and ``SERVICE_PATH_PREFIX`` fill in the
title, version and paths, as in Azure's server. inference-schema is used only when the script
imported it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALL_VERSIONS = ("2.0", "3.0", "3.1")


@dataclass(frozen=True)
class _Builder:
    version: str
    aliases: frozenset[str]
    files: tuple[str, ...]


BUILDERS = (
    _Builder("2", frozenset({"2", "2.0"}), ("swagger.json", "swagger2.json")),
    _Builder("3", frozenset({"3", "3.0"}), ("swagger3.json",)),
    _Builder("3.1", frozenset({"3.1"}), ("swagger3.1.json",)),
)
VALID = frozenset().union(*(builder.aliases for builder in BUILDERS))


class SwaggerFileError(Exception):
    """A swagger file in the app root cannot be read as JSON."""


class SwaggerDocuments:
    """Each version's document, encoded once; `get` answers a `?version=` query."""

    def __init__(self, documents: dict[str, bytes], supported: list[str]) -> None:
        self.documents = documents
        self.supported = supported

    def get(self, version: str | None) -> tuple[int, bytes | str]:
        """(200, the document) or (404, the reason), in azmlinfsrv's words."""
        version = "2" if version is None else version
        listed = ", ".join(self.supported)
        if version not in VALID:
            return 404, f"Swagger version [{version}] is not valid. Supported versions: [{listed}]."
        document = self.documents.get(version)
        if document is None:
            return 404, (
                f"Swagger version [{version}] is not supported for the scoring script."
                f" Supported swagger versions: [{listed}]."
            )
        return 200, document


def build(app_root: Path, run: Callable[..., Any]) -> SwaggerDocuments:
    """The documents for `run`, the user's run() (raises SwaggerFileError)."""
    schema_util = sys.modules.get("inference_schema.schema_util")
    decorated = schema_util is not None and bool(schema_util.is_schema_decorated(run))
    if schema_util is not None:
        versions = list(schema_util.get_supported_versions(run))
    else:
        versions = list(ALL_VERSIONS)
    if decorated:
        assert schema_util is not None
        service_input = schema_util.get_input_schema(run)
        service_output = schema_util.get_output_schema(run)
    else:
        service_input = service_output = {"type": "object", "example": {}}
    documents: dict[str, bytes] = {}
    supported: list[str] = []
    for builder in BUILDERS:
        document = _user_file(app_root, builder.files)
        if not document:
            if not any(alias in versions for alias in builder.aliases):
                continue
            document = _generated(builder.version, service_input, service_output)
        encoded = json.dumps(document).encode()
        for alias in builder.aliases:
            documents[alias] = encoded
        supported.append(builder.version)
    return SwaggerDocuments(documents, sorted(supported))


def _user_file(app_root: Path, names: tuple[str, ...]) -> Any:
    for name in names:
        path = app_root / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise SwaggerFileError(f"{path} cannot be read: {exc}") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise SwaggerFileError(f"{path} is not valid JSON: {exc}") from None
        if document:
            return document
    return None


def _generated(version: str, service_input: Any, service_output: Any) -> dict[str, Any]:
    name = os.environ.get("SERVICE_NAME", "ML service")
    info = {
        "title": name,
        "description": f"API specification for the Azure Machine Learning service {name}",
        "version": os.environ.get("SERVICE_VERSION", "1.0"),
    }
    prefix = os.environ.get("SERVICE_PATH_PREFIX", "").strip("/")
    root = f"/{prefix}" if prefix else ""
    if version == "2":
        return _swagger2(info, root, service_input, service_output)
    document = _openapi3(info, root, service_input, service_output)
    if version == "3.1":
        document["openapi"] = "3.1.0"
    return document


# The documents' fixed parts, field for field as Azure's server publishes them, so that clients
# generated from one work against the other.
_HEALTH = "Simple health check endpoint to ensure the service is up at any given point."
_HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
_FAILED = "The service failed to execute due to an error."
_RUN = "Run web service's model and get the prediction output"
_PAYLOAD = "The input payload for executing the real-time machine learning service."
_RESULT = (
    "The service processed the input correctly and provided a result prediction, if applicable."
)
_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}
_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}


def _swagger2(info: dict[str, str], root: str, inp: Any, out: Any) -> dict[str, Any]:
    error = {"description": _FAILED, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    return {
        "swagger": "2.0",
        "info": info,
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": dict(_BEARER)},
        "paths": {
            f"{root}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH,
                    "responses": {
                        "200": {
                            "description": _HEALTHY,
                            "schema": {"type": "string"},
                            "examples": {"application/json": "Healthy"},
                        },
                        "default": error,
                    },
                }
            },
            f"{root}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": _RUN,
                    "security": [{"Bearer": []}],
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "description": _PAYLOAD,
                            "schema": {"$ref": "#/definitions/ServiceInput"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": _RESULT,
                            "schema": {"$ref": "#/definitions/ServiceOutput"},
                        },
                        "default": error,
                    },
                }
            },
            f"{root}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "type": "integer",
                            "enum": [2, 3],
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The Swagger specification.",
                            "schema": {"type": "string"},
                        },
                        "default": error,
                    },
                }
            },
        },
        "definitions": {"ServiceInput": inp, "ServiceOutput": out, "ErrorResponse": _ERROR},
    }


def _openapi3(info: dict[str, str], root: str, inp: Any, out: Any) -> dict[str, Any]:
    def as_json(ref: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}

    error = {"description": _FAILED, "content": as_json("ErrorResponse")}
    return {
        "openapi": "3.0.3",
        "info": info,
        "security": [{"Bearer": []}],
        "paths": {
            f"{root}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH,
                    "responses": {
                        "200": {
                            "description": _HEALTHY,
                            "content": {
                                "text/plain": {"schema": {"type": "string", "example": "Healthy"}}
                            },
                        },
                        "default": error,
                    },
                }
            },
            f"{root}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": _RUN,
                    "security": [{"Bearer": []}],
                    "requestBody": {"description": _PAYLOAD, "content": as_json("ServiceInput")},
                    "responses": {
                        "200": {"description": _RESULT, "content": as_json("ServiceOutput")},
                        "default": error,
                    },
                }
            },
            f"{root}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "enum": [2, 3]},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The Swagger specification.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "default": error,
                    },
                }
            },
        },
        "components": {
            "schemas": {"ServiceInput": inp, "ServiceOutput": out, "ErrorResponse": _ERROR},
            "securitySchemes": {"Bearer": dict(_BEARER)},
        },
    }
