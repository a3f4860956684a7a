"""`epdev data ...` and `epdev model ...`: the local registry, after `az ml data|model`."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import click
import yaml

from epdev.devserver.cli.azstyle import AzGroup, add_cloud_only
from epdev.devserver.cli.common import Failure, az_compat, client, fails_cleanly, parse_set
from epdev.devserver.cli.output import emit

# The fields of az's model and data YAML (`az ml model|data create -f`).
_FIELDS = ("$schema", "name", "version", "path", "type", "description", "tags", "properties")
# Fields az takes that mean nothing in a local registry: accepted, noted once.
_CLOUD_FIELDS = ("stage", "datastore", "flavors", "job_name", "intellectual_property")

# az ml model|data commands that act on a workspace's storage or other registries.
_CLOUD_VERBS = {
    "model": ("archive", "restore", "update", "download", "package", "share"),
    "data": (
        "archive",
        "restore",
        "update",
        "import",
        "mount",
        "share",
        "list-materialization-status",
    ),
}


def read_asset_file(file: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """An asset YAML file with `--set` applied, its path made absolute (relative to the file)."""
    where = Path(file)
    try:
        loaded = yaml.safe_load(where.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise Failure(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise Failure(f"{file}: expected a mapping of fields (name, version, path, ...)")
    # Here rather than at the top: commands that load no file skip the pydantic models.
    from epdev.specs.overrides import apply_overrides

    data = apply_overrides(loaded, overrides)
    for key in data:
        if key in _FIELDS or key in _CLOUD_FIELDS:
            continue
        hint = difflib.get_close_matches(key, _FIELDS + _CLOUD_FIELDS, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise Failure(f"{file}: {key}: unknown key{suggestion}")
    cloud = [key for key in _CLOUD_FIELDS if key in data]
    if cloud:
        click.echo(f"note: {file}: {', '.join(cloud)}: not applicable locally", err=True)
    path = data.get("path")
    if isinstance(path, str) and "://" not in path and not path.startswith("azureml:"):
        data["path"] = str((where.resolve().parent / path).resolve())
    return data


def parse_tags(values: tuple[str, ...]) -> dict[str, Any]:
    """az's `--tags key=value ...` (values read as YAML, so numbers and booleans stay so)."""
    return parse_set(values)


def _group(name: str, route: str, types: tuple[str, ...], what: str) -> click.Group:
    @click.group(
        name, cls=AzGroup, help=f"Register {what} that specs and jobs refer to as azureml:NAME:V."
    )
    def group() -> None:
        pass

    @group.command("create")
    @click.option(
        "-f",
        "--file",
        "file",
        type=click.Path(dir_okay=False, exists=True),
        help=f"az's {name} YAML: name, version, path, type, description, tags.",
    )
    @click.option("-n", "--name", help="Overrides the file's name.")
    @click.option("-v", "--version", help="Default: one more than the highest number so far.")
    @click.option("-p", "--path", help="A file or folder (relative to here).")
    @click.option("-t", "--type", "type_", type=click.Choice(types))
    @click.option("-d", "--description")
    @click.option("--tags", multiple=True, help="key=value ... (several words, as az).")
    @click.option("--set", "sets", multiple=True, help="Override a field of the file: version=3.")
    @click.option("--stage", hidden=True, help="Accepted for az compatibility.")
    @click.option("--datastore", hidden=True, help="Accepted for az compatibility.")
    @az_compat
    @fails_cleanly
    def create(
        file: str | None,
        name: str | None,
        version: str | None,
        path: str | None,
        type_: str | None,
        description: str | None,
        tags: tuple[str, ...],
        sets: tuple[str, ...],
        stage: str | None,
        datastore: str | None,
    ) -> None:
        """Register a version, from az's YAML file or from the options."""
        overrides = parse_set(sets)
        if file:
            data = read_asset_file(file, overrides)
        elif overrides:
            raise Failure("--set changes the fields of a --file; give one, or use the options")
        else:
            data = {}
        given = {
            "name": name,
            "version": version,
            "path": str(Path(path).resolve()) if path and "://" not in path else path,
            "type": type_,
            "description": description,
        }
        data.update({k: v for k, v in given.items() if v is not None})
        if tags:
            data["tags"] = {**(data.get("tags") or {}), **parse_tags(tags)}
        for required in ("name", "path"):
            if not data.get(required):
                raise Failure(f"give the {name}'s --{required} (or a --file that sets it)")
        if data.get("type") not in (None, *types):
            raise Failure(f"type {data['type']!r}: epdev registers {' or '.join(types)}")
        version_value = data.get("version")
        with client() as api:
            view = api.create_asset(
                route,
                name=str(data["name"]),
                version=None if version_value is None else str(version_value),
                path=str(data["path"]),
                type=data.get("type") or types[0],
                description=data.get("description"),
                tags=data.get("tags") or None,
                properties=data.get("properties") or None,
            )
        emit(view)

    @group.command("list")
    @click.option("-n", "--name", help="The versions of this one only.")
    @az_compat
    @fails_cleanly
    def list_(name: str | None) -> None:
        """List what is registered."""
        with client() as api:
            emit(api.list_assets(route, name), kind="asset")

    @group.command("show")
    @click.option("-n", "--name", required=True)
    @click.option("-v", "--version")
    @click.option("-l", "--label", type=click.Choice(["latest"]), help="latest: the newest.")
    @az_compat
    @fails_cleanly
    def show(name: str, version: str | None, label: str | None) -> None:
        """Show one version (the latest without --version)."""
        with client() as api:
            emit(api.get_asset(route, name, version))

    add_cloud_only(group, name, _CLOUD_VERBS[name])
    return group


data = _group("data", "data", ("uri_folder", "uri_file"), "data (files or folders)")
model = _group("model", "models", ("custom_model", "mlflow_model"), "models")
