"""`epdev online-deployment ...`, after `az ml online-deployment ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from epdev.devserver.applying import ApplyError, payload, wait_ready
from epdev.devserver.cli.azstyle import AzGroup
from epdev.devserver.cli.common import (
    Failure,
    az_compat,
    client,
    endpoint_option,
    fails_cleanly,
    load_file,
    parse_set,
    progress,
    runtime_option,
    studio_flags,
)
from epdev.devserver.cli.output import emit
from epdev.devserver.cli.provisioning import ProvisioningProgress, utc_stamp
from epdev.devserver.client import Client

CONTAINERS = ("inference-server", "storage-initializer")


@click.group("online-deployment", cls=AzGroup)
def online_deployment() -> None:
    """Manage online deployments."""


def wait_for(api: Client, endpoint: str, name: str, since: str) -> dict[str, Any]:
    """Wait until the deployment leaves Creating/Updating, showing its provisioning and build
    lines written since `since`; fail with its error if it failed."""
    progress(f"waiting for deployment {name}\n")
    shown = ProvisioningProgress(api, endpoint, name, since)
    try:
        view = wait_ready(api, endpoint, name, tick=shown.tick)
    except ApplyError as exc:
        shown.finish()
        raise Failure(
            f"{exc} (see `epdev online-deployment get-logs --name {name} --endpoint-name "
            f"{endpoint}`)"
        ) from None
    shown.finish()
    return view


def _load(
    file: str, name: str | None, endpoint: str | None, sets: tuple[str, ...]
) -> tuple[str, Any]:
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if endpoint:
        overrides["endpoint_name"] = endpoint
    loaded = load_file(file, "online-deployment", overrides)
    endpoint_name = getattr(loaded.spec, "endpoint_name", None)
    if not endpoint_name:
        raise Failure(f"{file}: endpoint_name is not set; give --endpoint-name")
    return str(endpoint_name), loaded


@online_deployment.command("create")
@click.option("-f", "--file", "file", required=True, type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Deployment name (overrides the file's).")
@endpoint_option(help="Endpoint name (overrides the file's).")
@click.option(
    "--all-traffic", is_flag=True, help="Give this deployment 100% of the traffic once ready."
)
@click.option(
    "--no-wait", is_flag=True, help="Return at once instead of waiting until it is ready."
)
@click.option("--set", "sets", multiple=True, help="Override a field: --set instance_count=2.")
@runtime_option
@click.option("--watch", is_flag=True, help="Restart the instances whenever the code changes.")
@az_compat
@studio_flags
@fails_cleanly
def create(
    file: str,
    name: str | None,
    endpoint_name: str | None,
    all_traffic: bool,
    no_wait: bool,
    sets: tuple[str, ...],
    runtime: str | None,
    watch: bool,
) -> None:
    """Create a deployment from a YAML file and wait until it serves."""
    endpoint, loaded = _load(file, name, endpoint_name, sets)
    since = utc_stamp()
    with client() as api:
        view = api.create_deployment(
            endpoint, payload(loaded), str(Path(file).resolve()), all_traffic, runtime, watch
        )
        if not no_wait:
            view = wait_for(api, endpoint, loaded.name, since)
    emit(view, kind="deployment")


@online_deployment.command("update")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Deployment name.")
@endpoint_option()
@click.option("--set", "sets", multiple=True, help="Override a field: --set instance_count=3.")
@click.option("--no-wait", is_flag=True)
@runtime_option
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Restart the instances whenever the code changes (or stop doing so).",
)
@az_compat
@studio_flags
@fails_cleanly
def update(
    file: str | None,
    name: str | None,
    endpoint_name: str | None,
    sets: tuple[str, ...],
    no_wait: bool,
    runtime: str | None,
    watch: bool | None,
) -> None:
    """Update a deployment from a file, or change fields of the stored one with --set."""
    since = utc_stamp()
    with client() as api:
        if file:
            endpoint, loaded = _load(file, name, endpoint_name, sets)
            deployment = loaded.name
            view = api.update_deployment(
                endpoint,
                deployment,
                spec=payload(loaded),
                source=str(Path(file).resolve()),
                runtime=runtime,
                watch=watch,
            )
        else:
            if not (name and endpoint_name and (sets or runtime or watch is not None)):
                raise Failure(
                    "give --file, or --name, --endpoint-name and a --set, --runtime or --watch"
                )
            endpoint, deployment = endpoint_name, name
            view = api.update_deployment(
                endpoint, deployment, overrides=parse_set(sets), runtime=runtime, watch=watch
            )
        if not no_wait:
            view = wait_for(api, endpoint, deployment, since)
    emit(view, kind="deployment")


@online_deployment.command("show")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@az_compat
@studio_flags
@fails_cleanly
def show(name: str, endpoint_name: str) -> None:
    """Show a deployment and its provisioning state."""
    with client() as api:
        emit(api.get_deployment(endpoint_name, name), kind="deployment")


@online_deployment.command("list")
@endpoint_option(required=True)
@az_compat
@fails_cleanly
def list_(endpoint_name: str) -> None:
    """List an endpoint's deployments."""
    with client() as api:
        emit(api.list_deployments(endpoint_name), kind="deployment")


@online_deployment.command("delete")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def delete(name: str, endpoint_name: str, yes: bool, no_wait: bool) -> None:
    """Delete a deployment (it must have no traffic)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete deployment {name!r} of endpoint {endpoint_name!r}?", abort=True)
    with client() as api:
        api.delete_deployment(endpoint_name, name)


@online_deployment.command("get-logs")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@click.option("-l", "--lines", type=click.IntRange(min=1), help="Only the last N lines.")
@click.option("--instance", help="Only the lines of this instance, e.g. blue-0.")
@click.option("--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option(
    "-c",
    "--container",
    type=click.Choice(CONTAINERS),
    help="As az: inference-server (the scoring script's output) or storage-initializer "
    "(model and environment preparation). Default: both, with epdev's own notes.",
)
@az_compat
@fails_cleanly
def get_logs(
    name: str,
    endpoint_name: str,
    lines: int | None,
    instance: str | None,
    follow: bool,
    container: str | None,
) -> None:
    """Print the deployment's logs: its instances' output and epdev's own notes."""
    with client() as api:
        if not follow:
            text = api.deployment_logs(endpoint_name, name, None if container else lines, instance)
            if container:
                kept = [
                    line
                    for line in text.splitlines(keepends=True)
                    if container_of(line) == container
                ]
                text = "".join(kept[-lines:] if lines else kept)
            click.echo(text, nl=False)
            return
        pending = ""
        try:
            for chunk in api.follow_logs(endpoint_name, name, lines, instance):
                if container is None:
                    click.echo(chunk, nl=False)
                    continue
                pending += chunk
                *complete, pending = pending.split("\n")
                for line in complete:
                    if container_of(line) == container:
                        click.echo(line)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a follow ends


def container_of(line: str) -> str:
    """Which of az's containers a log line belongs to: epdev's notes and environment builds
    are storage-initializer (preparing the model and environment), the rest inference-server.

    Log lines read `TIME SOURCE STREAM [LEVEL] | text`."""
    head = line.partition(" | ")[0].split()
    source, stream = (head[1], head[2]) if len(head) >= 3 else ("", "")
    preparing = source == "epdev" or stream == "build"
    return CONTAINERS[1] if preparing else CONTAINERS[0]
