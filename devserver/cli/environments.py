"""`epdev environment ...`: registered environments, after `az ml environment`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from epdev.devserver.cli.common import (
    Failure,
    az_compat,
    client,
    fails_cleanly,
    output_option,
    parse_set,
)
from epdev.devserver.cli.output import emit


@click.group("environment", help="Register environments that deployments name as azureml:N:V.")
def environment() -> None:
    pass


def _load(file: str, name: str | None, version: str | None, sets: tuple[str, ...]) -> Any:
    """The environment file as JSON-ready data with its paths made absolute, validated here so
    that a mistake names the file."""
    # Here rather than at the top: only create reads a file; the other commands skip pydantic.
    from pydantic import ValidationError

    from epdev.specs.deployment import Environment
    from epdev.specs.overrides import apply_overrides
    from epdev.specs.yamlsource import read_yaml

    path = Path(file)
    data = read_yaml(path).data
    if not isinstance(data, dict):
        raise Failure(f"{file}: an environment file is a mapping (name, image, conda_file, ...)")
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if version:
        overrides["version"] = version
    data = apply_overrides(data, overrides) if overrides else data
    try:
        spec = Environment.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "environment"
        raise Failure(f"{file}: {where}: {first['msg']}") from None
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


@environment.command("create")
@click.option("-f", "--file", "file", required=True, type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Name (overrides the file's).")
@click.option("-v", "--version", help="Version (overrides the file's; default: one more).")
@click.option("--set", "sets", multiple=True, help="Override a field: --set image=python:3.11")
@output_option
@az_compat
@fails_cleanly
def create(
    file: str, name: str | None, version: str | None, sets: tuple[str, ...], output: str
) -> None:
    """Register a version of an environment from its YAML file."""
    spec = _load(file, name, version, sets)
    with client() as api:
        emit(api.create_environment(spec), output)


@environment.command("list")
@click.option("-n", "--name", help="The versions of this one only.")
@click.option("--include-archived", is_flag=True, help="List archived versions too.")
@output_option
@az_compat
@fails_cleanly
def list_(name: str | None, include_archived: bool, output: str) -> None:
    """List registered environments."""
    with client() as api:
        emit(api.list_environments(name, include_archived), output, "asset")


@environment.command("show")
@click.option("-n", "--name", required=True)
@click.option("-v", "--version")
@click.option("-l", "--label", type=click.Choice(["latest"]), help="latest: the newest.")
@output_option
@az_compat
@fails_cleanly
def show(name: str, version: str | None, label: str | None, output: str) -> None:
    """Show one version (the latest without --version)."""
    with client() as api:
        emit(api.get_environment(name, version), output)


@environment.command("archive")
@click.option("-n", "--name", required=True)
@click.option("-v", "--version", help="One version; without it, every version.")
@az_compat
@fails_cleanly
def archive(name: str, version: str | None) -> None:
    """Archive a version (or all): @latest skips it, list hides it."""
    with client() as api:
        api.archive_environment(name, version)
