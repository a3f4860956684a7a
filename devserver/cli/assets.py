"""`epdev data ...` and `epdev model ...`: the local registry, after `az ml data|model`."""

from __future__ import annotations

from pathlib import Path

import click

from epdev.devserver.cli.common import az_compat, client, fails_cleanly, output_option
from epdev.devserver.cli.output import emit


def _group(name: str, route: str, types: tuple[str, ...], what: str) -> click.Group:
    @click.group(name, help=f"Register {what} that specs and jobs refer to as azureml:NAME:V.")
    def group() -> None:
        pass

    @group.command("create")
    @click.option("-n", "--name", required=True)
    @click.option("-v", "--version", help="Default: one more than the highest number so far.")
    @click.option("-p", "--path", required=True, type=click.Path(exists=True))
    @click.option("-t", "--type", "type_", type=click.Choice(types), default=types[0])
    @click.option("-d", "--description")
    @output_option
    @az_compat
    @fails_cleanly
    def create(
        name: str,
        version: str | None,
        path: str,
        type_: str,
        description: str | None,
        output: str,
    ) -> None:
        """Register a version."""
        with client() as api:
            view = api.create_asset(
                route,
                name=name,
                version=version,
                path=str(Path(path).resolve()),
                type=type_,
                description=description,
            )
        emit(view, output)

    @group.command("list")
    @click.option("-n", "--name", help="The versions of this one only.")
    @output_option
    @az_compat
    @fails_cleanly
    def list_(name: str | None, output: str) -> None:
        """List what is registered."""
        with client() as api:
            emit(api.list_assets(route, name), output, "asset")

    @group.command("show")
    @click.option("-n", "--name", required=True)
    @click.option("-v", "--version")
    @click.option("-l", "--label", type=click.Choice(["latest"]), help="latest: the newest.")
    @output_option
    @az_compat
    @fails_cleanly
    def show(name: str, version: str | None, label: str | None, output: str) -> None:
        """Show one version (the latest without --version)."""
        with client() as api:
            emit(api.get_asset(route, name, version), output)

    return group


data = _group("data", "data", ("uri_folder", "uri_file"), "data (files or folders)")
model = _group("model", "models", ("custom_model", "mlflow_model"), "models")
