"""`epdev batch-endpoint ...` and `epdev batch-deployment ...`, after `az ml`'s."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

import click

from epdev.devserver.applying import payload
from epdev.devserver.cli.azstyle import AzGroup
from epdev.devserver.cli.common import (
    Failure,
    az_compat,
    client,
    deployment_option,
    endpoint_option,
    fails_cleanly,
    load_file,
    parse_set,
    spec_from_fields,
)
from epdev.devserver.cli.output import emit
from epdev.devserver.home import Home
from epdev.specs.tilde import expand_user


@click.group("batch-endpoint", cls=AzGroup)
def batch_endpoint() -> None:
    """Manage batch endpoints and start jobs on them."""


@click.group("batch-deployment", cls=AzGroup)
def batch_deployment() -> None:
    """Manage batch deployments."""


@batch_endpoint.command("create")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Endpoint name (overrides the file's; enough on its own).")
@click.option("--set", "sets", multiple=True, help="Override a field: --set description=text.")
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def create_endpoint(
    file: str | None, name: str | None, sets: tuple[str, ...], no_wait: bool
) -> None:
    """Create a batch endpoint from a YAML file, or with only --name, as az does."""
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if file:
        loaded = load_file(file, "batch-endpoint", overrides)
        spec, source = payload(loaded), str(Path(file).resolve())
    elif name:
        loaded = spec_from_fields("batch-endpoint", {"name": name}, overrides)
        spec, source = payload(loaded), None
    else:
        raise Failure("give the endpoint's --name, or a --file that describes it")
    with client() as api:
        view = api.create_batch_endpoint(spec, source)
    emit(view, kind="endpoint")


@batch_endpoint.command("update")
@click.option("-n", "--name", help="Endpoint name.")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Endpoint YAML.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    help="Override a field; --set defaults.deployment_name=D picks the default deployment.",
)
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def update_endpoint(
    name: str | None, file: str | None, sets: tuple[str, ...], no_wait: bool
) -> None:
    """Update a batch endpoint: its spec from a file, or its default deployment."""
    overrides = parse_set(sets)
    spec = source = default = None
    if file:
        if name:
            overrides["name"] = name
        loaded = load_file(file, "batch-endpoint", overrides)
        spec, source, name = payload(loaded), str(Path(file).resolve()), loaded.name
    else:
        default = overrides.pop("defaults.deployment_name", None)
        if overrides or default is None:
            raise Failure("without --file, only --set defaults.deployment_name=NAME can change")
    if not name:
        raise Failure("give the endpoint with --name (or a --file that names it)")
    with client() as api:
        view = api.update_batch_endpoint(name, spec=spec, source=source, default_deployment=default)
    emit(view, kind="endpoint")


@batch_endpoint.command("show")
@click.option("-n", "--name", required=True)
@az_compat
@fails_cleanly
def show_endpoint(name: str) -> None:
    """Show a batch endpoint, with its default deployment."""
    with client() as api:
        emit(api.get_batch_endpoint(name), kind="endpoint")


@batch_endpoint.command("list")
@az_compat
@fails_cleanly
def list_endpoints() -> None:
    """List batch endpoints."""
    with client() as api:
        emit(api.list_batch_endpoints(), kind="endpoint")


@batch_endpoint.command("delete")
@click.option("-n", "--name", required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def delete_endpoint(name: str, yes: bool, no_wait: bool) -> None:
    """Delete a batch endpoint and its deployments (its finished jobs stay listed)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete batch endpoint {name!r} and its deployments?", abort=True)
    with client() as api:
        api.delete_batch_endpoint(name)


def _input(text: str) -> str:
    """Local paths become absolute (the devserver has its own working folder)."""
    text = _without_kind(text)
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if text.startswith("azureml:") or scheme in ("http", "https", "file"):
        return text
    return _local_path("--input", text)


def _without_kind(text: str) -> str:
    """az's older `folder:URI` / `file:URI` spellings name the kind before the URI."""
    for kind in ("folder:", "file:"):
        rest = text.removeprefix(kind)
        if rest != text and "://" in rest:
            return rest
    return text


def output_folder(text: str) -> str:
    """Where `--output-path` points on this machine. A datastore path
    (`azureml://datastores/NAME/paths/PATH`) lands under `$EPDEV_HOME/datastores/NAME/PATH`,
    epdev's stand-in for the workspace's storage; a local path is made absolute."""
    text = _without_kind(text)
    if text.startswith("azureml://"):
        parts = text.removeprefix("azureml://").strip("/").split("/")
        if len(parts) < 3 or parts[0] != "datastores" or parts[2] != "paths":
            raise Failure(
                f"--output-path {text}: use azureml://datastores/NAME/paths/PATH or a local folder"
            )
        folder = Home().root.joinpath("datastores", parts[1], *parts[3:])
        if ".." in parts[3:]:
            raise Failure(f"--output-path {text}: '..' is not allowed in a datastore path")
        return str(folder)
    return _local_path("--output-path", text)


def _local_path(option: str, text: str) -> str:
    try:
        return str(expand_user(Path(text)).resolve())
    except ValueError as exc:
        raise Failure(f"{option} {exc}") from None


@batch_endpoint.command("invoke")
@click.option("-n", "--name", required=True, help="Batch endpoint name.")
@deployment_option("Run on this deployment (default: the endpoint's default).")
@click.option(
    "--input",
    "input_",
    required=True,
    help="A file or folder: a path, file://..., http(s)://... or azureml:NAME@latest.",
)
@click.option("--input-type", type=click.Choice(["uri_folder", "uri_file"]))
@click.option(
    "--output-path",
    help="Folder for the output file: a local folder or azureml://datastores/NAME/paths/PATH "
    "(default: the job folder).",
)
@click.option("--job-name", help="Name of the job (default: a GUID).")
@click.option("--mini-batch-size", type=click.IntRange(min=1))
@click.option("--instance-count", type=click.IntRange(min=1))
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    help="Where mini-batches run (default: the deployment's, else local).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    help="Override a setting: error_threshold, output_file_name, retry_settings.max_retries...",
)
@az_compat
@fails_cleanly
def invoke(
    name: str,
    deployment_name: str | None,
    input_: str,
    input_type: str | None,
    output_path: str | None,
    job_name: str | None,
    mini_batch_size: int | None,
    instance_count: int | None,
    engine: str | None,
    sets: tuple[str, ...],
) -> None:
    """Start a batch job; prints the job at once (follow it with `epdev job stream`)."""
    request: dict[str, Any] = {
        "input": _input(input_),
        "input_type": input_type,
        "deployment_name": deployment_name,
        "output_path": output_folder(output_path) if output_path else None,
        "job_name": job_name,
        "mini_batch_size": mini_batch_size,
        "instance_count": instance_count,
        "engine": engine,
        "set": parse_set(sets),
    }
    with client() as api:
        emit(api.invoke_batch(name, **request), kind="job")


@batch_endpoint.command("list-jobs")
@click.option("-n", "--name", required=True)
@az_compat
@fails_cleanly
def list_jobs(name: str) -> None:
    """List the endpoint's jobs."""
    with client() as api:
        emit(api.list_jobs(name), kind="job")


def _load_deployment(
    file: str, name: str | None, endpoint: str | None, sets: tuple[str, ...]
) -> tuple[str, Any]:
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if endpoint:
        overrides["endpoint_name"] = endpoint
    loaded = load_file(file, "batch-deployment", overrides)
    endpoint_name = getattr(loaded.spec, "endpoint_name", None)
    if not endpoint_name:
        raise Failure(f"{file}: endpoint_name is not set; give --endpoint-name")
    return str(endpoint_name), loaded


@batch_deployment.command("create")
@click.option("-f", "--file", "file", required=True, type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Deployment name (overrides the file's).")
@endpoint_option(help="Endpoint name (overrides the file's).")
@click.option("--set-default", is_flag=True, help="Make it the endpoint's default deployment.")
@click.option(
    "--set", "sets", multiple=True, help="Override a field: --set settings.mini_batch_size=5."
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "process", "venv", "docker"]),
    help="Where job workers run (default: the devserver's default; docker is refused).",
)
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def create_deployment(
    file: str,
    name: str | None,
    endpoint_name: str | None,
    set_default: bool,
    sets: tuple[str, ...],
    runtime: str | None,
    no_wait: bool,
) -> None:
    """Create a batch deployment from a YAML file."""
    endpoint, loaded = _load_deployment(file, name, endpoint_name, sets)
    with client() as api:
        view = api.create_batch_deployment(
            endpoint, payload(loaded), str(Path(file).resolve()), set_default, runtime
        )
    emit(view, kind="deployment")


@batch_deployment.command("update")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False))
@click.option("-n", "--name", help="Deployment name.")
@endpoint_option()
@click.option("--set-default", is_flag=True, help="Make it the endpoint's default deployment.")
@click.option("--set", "sets", multiple=True, help="Override a field.")
@click.option(
    "--runtime",
    type=click.Choice(["auto", "process", "venv", "docker"]),
    help="Where job workers run (default: the devserver's default; docker is refused).",
)
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def update_deployment(
    file: str | None,
    name: str | None,
    endpoint_name: str | None,
    set_default: bool,
    sets: tuple[str, ...],
    runtime: str | None,
    no_wait: bool,
) -> None:
    """Update a batch deployment from a file, or change fields with --set."""
    with client() as api:
        if file:
            endpoint, loaded = _load_deployment(file, name, endpoint_name, sets)
            view = api.update_batch_deployment(
                endpoint,
                loaded.name,
                spec=payload(loaded),
                source=str(Path(file).resolve()),
                set_default=set_default,
                runtime=runtime,
            )
        else:
            if not (name and endpoint_name):
                raise Failure("give --file, or --name and --endpoint-name with --set")
            view = api.update_batch_deployment(
                endpoint_name, name, set=parse_set(sets), set_default=set_default, runtime=runtime
            )
    emit(view, kind="deployment")


@batch_deployment.command("show")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@az_compat
@fails_cleanly
def show_deployment(name: str, endpoint_name: str) -> None:
    """Show a batch deployment with its effective settings."""
    with client() as api:
        emit(api.get_batch_deployment(endpoint_name, name), kind="deployment")


@batch_deployment.command("list")
@endpoint_option(required=True)
@az_compat
@fails_cleanly
def list_deployments(endpoint_name: str) -> None:
    """List a batch endpoint's deployments."""
    with client() as api:
        emit(api.list_batch_deployments(endpoint_name), kind="deployment")


@batch_deployment.command("delete")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@click.option("-y", "--yes", is_flag=True)
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def delete_deployment(name: str, endpoint_name: str, yes: bool, no_wait: bool) -> None:
    """Delete a batch deployment."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete batch deployment {name!r}?", abort=True)
    with client() as api:
        api.delete_batch_deployment(endpoint_name, name)


@batch_deployment.command("list-jobs")
@click.option("-n", "--name", required=True)
@endpoint_option(required=True)
@az_compat
@fails_cleanly
def list_deployment_jobs(name: str, endpoint_name: str) -> None:
    """List the jobs that ran on one batch deployment."""
    with client() as api:
        api.get_batch_deployment(endpoint_name, name)  # a clear error when there is none
        jobs = [job for job in api.list_jobs(endpoint_name) if job.get("deployment_name") == name]
    emit(jobs, kind="job")
