"""The data and model registry: named, versioned paths that specs and invocations refer to as
`azureml:NAME:VERSION` or `azureml:NAME@latest`. Batch jobs read data and models from it; online
and batch deployments resolve their `model: azureml:...` references through it."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.store import Store
from epdev.specs.tilde import expand_user

AssetKind = Literal["data", "model"]
TYPES: dict[AssetKind, tuple[str, ...]] = {
    "data": ("uri_folder", "uri_file"),
    "model": ("custom_model", "mlflow_model"),
}
REFERENCE_PREFIX = "azureml:"


@dataclass(frozen=True)
class Asset:
    kind: AssetKind
    name: str
    version: str
    type: str
    path: Path
    description: str | None
    created_at: float
    tags: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def is_mlflow(self) -> bool:
        """Registered as an MLflow model, or a folder holding MLmodel."""
        return self.type == "mlflow_model" or (self.path / "MLmodel").is_file()

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "path": str(self.path),
            "description": self.description,
            "tags": self.tags,
            "properties": self.properties,
            "id": f"{REFERENCE_PREFIX}{self.name}:{self.version}",
            "created_at": dt.datetime.fromtimestamp(self.created_at, dt.UTC).isoformat(
                timespec="seconds"
            ),
        }


def is_reference(text: str) -> bool:
    return text.startswith(REFERENCE_PREFIX)


def parse_reference(text: str) -> tuple[str, str | None]:
    """`azureml:N:V` -> (N, V); `azureml:N@latest` and `azureml:N` -> (N, None)."""
    body = text.removeprefix(REFERENCE_PREFIX)
    if body.startswith("//"):
        raise BadRequest(
            f"{text!r}: long-form azureml:// references point into a workspace; locally use "
            "azureml:NAME:VERSION or azureml:NAME@latest"
        )
    if "@" in body:
        name, _, label = body.partition("@")
        if label != "latest":
            raise BadRequest(f"{text!r}: the only label is @latest")
        return name, None
    name, _, version = body.partition(":")
    return name, version or None


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        kind: AssetKind,
        name: str,
        version: str | None,
        path: str,
        type_: str | None,
        description: str | None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        types = TYPES[kind]
        type_ = type_ or types[0]
        if type_ not in types:
            raise BadRequest(f"type {type_!r} is not one of {', '.join(types)}")
        try:
            where = expand_user(Path(path))
        except ValueError as exc:
            raise BadRequest(f"path {exc}") from None
        if not where.is_absolute():
            raise BadRequest(f"path {path!r} must be absolute (the CLI resolves it)")
        if not where.exists():
            raise BadRequest(f"path {path} does not exist")
        if type_ == "uri_file" and not where.is_file():
            raise BadRequest(f"type uri_file needs a file, and {path} is a folder")
        if type_ == "uri_folder" and not where.is_dir():
            raise BadRequest(f"type uri_folder needs a folder, and {path} is a file")
        versions = [a.version for a in self.versions(kind, name)]
        if version is None:
            numbers = [int(v) for v in versions if v.isdigit()]
            version = str(max(numbers, default=0) + 1)
        if version in versions:
            raise Conflict(f"{kind} {name}:{version} already exists; versions never change")
        self.store.execute(
            "INSERT INTO assets (kind, name, version, type, path, description, created_at, tags, "
            "properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                name,
                version,
                type_,
                str(where.resolve()),
                description,
                time.time(),
                json.dumps(tags or {}),
                json.dumps(properties or {}),
            ),
        )
        return self.get(kind, name, version).view()

    def versions(self, kind: AssetKind, name: str) -> list[Asset]:
        rows = self.store.query(
            "SELECT * FROM assets WHERE kind = ? AND name = ? ORDER BY created_at", (kind, name)
        )
        return [_asset(row) for row in rows]

    def all(self, kind: AssetKind, name: str | None = None) -> list[Asset]:
        if name is not None:
            return self.versions(kind, name)
        rows = self.store.query(
            "SELECT * FROM assets WHERE kind = ? ORDER BY name, created_at", (kind,)
        )
        return [_asset(row) for row in rows]

    def get(self, kind: AssetKind, name: str, version: str | None) -> Asset:
        """One version, or the latest (the most recently created) when `version` is None."""
        found = self.versions(kind, name)
        if not found:
            raise NotFound(f"{kind} asset {name!r} does not exist (`epdev {kind} create`)")
        if version is None:
            return found[-1]
        for asset in found:
            if asset.version == version:
                return asset
        known = ", ".join(a.version for a in found)
        raise NotFound(f"{kind} asset {name!r} has no version {version!r} (it has {known})")

    def resolve(self, kind: AssetKind, reference: str) -> Asset:
        name, version = parse_reference(reference)
        return self.get(kind, name, version)

    def model(self, reference: str, without_code: bool = False) -> Asset:
        """A deployment's `model: azureml:...`; a 400 naming the reference when it is not one,
        names nothing registered, or (`without_code`) is not an MLflow model, which is the only
        kind that runs without a scoring script."""
        if not is_reference(reference):
            raise BadRequest(
                f"model: {reference!r} is neither azureml:NAME:VERSION, azureml:NAME@latest nor "
                "a mapping with the model's path"
            )
        try:
            asset = self.resolve("model", reference)
        except NotFound as exc:
            raise BadRequest(f"model: {reference!r}: {exc}") from None
        if without_code and not asset.is_mlflow:
            raise BadRequest(
                f"model: {reference!r} is {asset.name}:{asset.version}, a {asset.type} without "
                "an MLmodel file, so it needs a code_configuration with a scoring script (only "
                "MLflow models run without one: `epdev model create ... --type mlflow_model`)"
            )
        return asset


def _asset(row: Any) -> Asset:
    return Asset(
        kind=row["kind"],
        name=row["name"],
        version=row["version"],
        type=row["type"],
        path=Path(row["path"]),
        description=row["description"],
        created_at=row["created_at"],
        tags=json.loads(row["tags"] or "{}"),
        properties=json.loads(row["properties"] or "{}"),
    )
