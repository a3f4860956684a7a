"""Environments: registered ones (`epdev environment create|list|show|archive`, as az ml has
them), Azure's curated ones, and a deployment's environment as the runtimes build it.

A registered version is a snapshot: its conda file is copied into the home folder
(`environments/NAME/VERSION/`), so editing the original later changes no version, as in the
cloud. Deployments refer to one as `azureml:NAME:VERSION` or `azureml:NAME@latest` (the newest
version not archived).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from epdev.devserver.assets import REFERENCE_PREFIX, parse_reference
from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.store import Store
from epdev.runtimes.curated import curated_environment, curated_name
from epdev.runtimes.environment import RuntimeEnvironment, snapshot_conda_file
from epdev.runtimes.environment import resolve as resolve_environment
from epdev.runtimes.instance import InstanceFailed
from epdev.specs import Environment

KIND = "environment"
SPEC_FILE = "environment.json"
ARCHIVED_FILE = "archived"


@dataclass(frozen=True)
class RegisteredEnvironment:
    name: str
    version: str
    spec: Environment
    folder: Path
    created_at: float

    @property
    def archived(self) -> bool:
        return (self.folder / ARCHIVED_FILE).exists()

    def view(self) -> dict[str, Any]:
        spec = self.spec
        view: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "id": f"{REFERENCE_PREFIX}{self.name}:{self.version}",
            "description": spec.description,
            "tags": dict(spec.tags),
            "image": spec.image,
            "conda_file": str(spec.conda_file) if spec.conda_file else None,
            "build": (
                {"path": str(spec.build.path), "dockerfile_path": spec.build.dockerfile_path}
                if spec.build
                else None
            ),
            "os_type": spec.os_type,
            "archived": self.archived,
            "created_at": dt.datetime.fromtimestamp(self.created_at, dt.UTC).isoformat(
                timespec="seconds"
            ),
        }
        return {key: value for key, value in view.items() if value is not None}


class Environments:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a version from an environment spec whose paths are absolute (the CLI
        resolves them against the YAML file)."""
        try:
            spec = Environment.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "environment"
            raise BadRequest(f"{where}: {first['msg']}") from None
        if not spec.name:
            raise BadRequest("name: an environment to register needs a name")
        if not (spec.image or spec.build):
            raise BadRequest("an environment needs an image (with an optional conda_file) or build")
        if curated_name(spec.name) is not None:
            raise BadRequest(
                f"name {spec.name!r}: names starting with AzureML- are Azure's curated environments"
            )
        versions = [e.version for e in self.versions(spec.name, archived=True)]
        version = str(spec.version) if spec.version is not None else None
        if version is None:
            numbers = [int(v) for v in versions if v.isdigit()]
            version = str(max(numbers, default=0) + 1)
        if version in versions:
            raise Conflict(
                f"environment {spec.name}:{version} already exists; versions never change"
            )
        folder = self.root / spec.name / version
        if folder.exists():  # left by a create that failed before its row was written
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        update: dict[str, Any] = {"version": version}
        if spec.conda_file is not None:
            copy = folder / "conda.yaml"
            try:
                snapshot_conda_file(spec.conda_file, copy)
            except InstanceFailed as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise BadRequest(str(exc)) from None
            update["conda_file"] = copy
        snapshot = spec.model_copy(update=update)
        (folder / SPEC_FILE).write_text(
            snapshot.model_dump_json(by_alias=True, exclude_none=True), encoding="utf-8"
        )
        self.store.execute(
            "INSERT INTO assets (kind, name, version, type, path, description, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (KIND, spec.name, version, KIND, str(folder), spec.description, time.time()),
        )
        return self.get(spec.name, version).view()

    def versions(self, name: str, *, archived: bool = False) -> list[RegisteredEnvironment]:
        rows = self.store.query(
            "SELECT * FROM assets WHERE kind = ? AND name = ? ORDER BY created_at", (KIND, name)
        )
        found = [_environment(row) for row in rows]
        return [e for e in found if archived or not e.archived]

    def all(
        self, name: str | None = None, *, archived: bool = False
    ) -> list[RegisteredEnvironment]:
        if name is not None:
            return self.versions(name, archived=archived)
        rows = self.store.query(
            "SELECT * FROM assets WHERE kind = ? ORDER BY name, created_at", (KIND,)
        )
        found = [_environment(row) for row in rows]
        return [e for e in found if archived or not e.archived]

    def get(self, name: str, version: str | None) -> RegisteredEnvironment:
        """One version (archived ones too, as az shows them), or the newest not archived."""
        found = self.versions(name, archived=True)
        if not found:
            raise NotFound(f"environment {name!r} does not exist (`epdev environment create`)")
        if version is None:
            live = [e for e in found if not e.archived]
            if not live:
                raise NotFound(f"every version of environment {name!r} is archived")
            return live[-1]
        for env in found:
            if env.version == version:
                return env
        known = ", ".join(e.version for e in found)
        raise NotFound(f"environment {name!r} has no version {version!r} (it has {known})")

    def archive(self, name: str, version: str | None) -> None:
        """Archive one version, or (without `version`) every version of `name`, as az does."""
        targets = [self.get(name, version)] if version else self.versions(name, archived=True)
        if not targets:
            raise NotFound(f"environment {name!r} does not exist")
        for env in targets:
            (env.folder / ARCHIVED_FILE).touch()

    def runtime_environment(
        self,
        environment: str | Environment | None,
        *,
        code_dir: Path | None,
        model_path: Path | None,
        serves_mlflow: bool,
    ) -> RuntimeEnvironment:
        """What a runtime builds for a deployment's `environment:` (inline, registered or
        curated); a 400 naming the reference when it names nothing known."""
        if isinstance(environment, str):
            try:
                curated = curated_environment(environment)
            except InstanceFailed as exc:
                raise BadRequest(str(exc)) from None
            if curated is not None:
                return RuntimeEnvironment(curated)
            if not environment.startswith(REFERENCE_PREFIX):
                raise BadRequest(
                    f"environment: {environment!r} is neither azureml:NAME:VERSION, "
                    "azureml:NAME@latest, a curated Azure environment nor a mapping"
                )
            name, version = parse_reference(environment)
            try:
                registered = self.get(name, version)
            except NotFound as exc:
                raise BadRequest(f"environment: {environment!r}: {exc}") from None
            environment = registered.spec
        try:
            return resolve_environment(
                conda_file=environment.conda_file if environment else None,
                code_dir=code_dir,
                model_path=model_path,
                serves_mlflow=serves_mlflow,
                image=environment.image if environment else None,
                build_context=environment.build.path if environment and environment.build else None,
                dockerfile=(
                    environment.build.dockerfile_path
                    if environment and environment.build
                    else "Dockerfile"
                ),
            )
        except InstanceFailed as exc:
            raise BadRequest(str(exc)) from None


def _environment(row: Any) -> RegisteredEnvironment:
    folder = Path(row["path"])
    try:
        data = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        spec = Environment.model_validate(data, context={"check_files": False})
    except (OSError, ValueError) as exc:
        raise NotFound(
            f"environment {row['name']}:{row['version']}: its snapshot in {folder} is unreadable "
            f"({exc})"
        ) from None
    return RegisteredEnvironment(row["name"], row["version"], spec, folder, row["created_at"])
