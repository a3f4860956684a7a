"""`epdev online-endpoint ...`, after `az ml online-endpoint ...`."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

import click

from epdev.devserver.applying import payload
from epdev.devserver.cli.common import (
    Failure,
    az_compat,
    client,
    fails_cleanly,
    load_file,
    output_option,
    parse_set,
)
from epdev.devserver.cli.output import emit
from epdev.specs.traffic import parse_traffic


@click.group("online-endpoint")
def online_endpoint() -> None:
    """Manage online endpoints."""


def _traffic(text: str | None, flag: str) -> dict[str, int] | None:
    if text is None:
        return None
    try:
        return parse_traffic(text)
    except ValueError as exc:
        raise Failure(f"{flag}: {exc}") from None


@online_endpoint.command("create")
@click.option(
    "-f", "--file", "file", required=True, type=click.Path(dir_okay=False), help="Endpoint YAML."
)
@click.option("-n", "--name", help="Endpoint name (overrides the file's).")
@click.option(
    "--auth-mode", type=click.Choice(["key", "aml_token"]), help="Overrides the file's auth_mode."
)
@click.option("--set", "sets", multiple=True, help="Override a field: --set description=text.")
@click.option("--no-wait", is_flag=True, hidden=True, help="Accepted for az compatibility.")
@output_option
@az_compat
@fails_cleanly
def create(
    file: str,
    name: str | None,
    auth_mode: str | None,
    sets: tuple[str, ...],
    no_wait: bool,
    output: str,
) -> None:
    """Create an endpoint from a YAML file."""
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if auth_mode:
        overrides["auth_mode"] = auth_mode
    loaded = load_file(file, "online-endpoint", overrides)
    with client() as api:
        emit(api.create_endpoint(payload(loaded), str(Path(file).resolve())), output, "endpoint")


@online_endpoint.command("update")
@click.option("-n", "--name", help="Endpoint name.")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Endpoint YAML.")
@click.option("--traffic", help='Traffic split, e.g. "blue=90 green=10".')
@click.option("--mirror-traffic", help='Mirror split, e.g. "green=10"; "green=0" turns it off.')
@click.option("--set", "sets", multiple=True, help="Override a field of the file.")
@click.option("--no-wait", is_flag=True, hidden=True)
@output_option
@az_compat
@fails_cleanly
def update(
    name: str | None,
    file: str | None,
    traffic: str | None,
    mirror_traffic: str | None,
    sets: tuple[str, ...],
    no_wait: bool,
    output: str,
) -> None:
    """Update an endpoint: its traffic, mirror traffic, or its whole spec from a file."""
    spec = source = None
    if file:
        overrides = parse_set(sets)
        if name:
            overrides["name"] = name
        loaded = load_file(file, "online-endpoint", overrides)
        spec, source = payload(loaded), str(Path(file).resolve())
        name = loaded.name
    elif sets:
        raise Failure("--set needs --file with online-endpoint update; use --traffic for traffic")
    if not name:
        raise Failure("give the endpoint with --name (or a --file that names it)")
    changes = {
        "spec": spec,
        "source": source,
        "traffic": _traffic(traffic, "--traffic"),
        "mirror_traffic": _traffic(mirror_traffic, "--mirror-traffic"),
    }
    if all(value is None for value in changes.values()):
        raise Failure("nothing to update: give --traffic, --mirror-traffic or --file")
    with client() as api:
        emit(api.update_endpoint(name, **changes), output, "endpoint")


@online_endpoint.command("show")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@output_option
@az_compat
@fails_cleanly
def show(name: str, output: str) -> None:
    """Show an endpoint, with its scoring URI, traffic and provisioning state."""
    with client() as api:
        emit(api.get_endpoint(name), output, "endpoint")


@online_endpoint.command("list")
@output_option
@az_compat
@fails_cleanly
def list_(output: str) -> None:
    """List endpoints."""
    with client() as api:
        emit(api.list_endpoints(), output, "endpoint")


@online_endpoint.command("delete")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@fails_cleanly
def delete(name: str, yes: bool, no_wait: bool) -> None:
    """Delete an endpoint and all its deployments."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete online endpoint {name!r} and all its deployments?", abort=True)
    with client() as api:
        api.delete_endpoint(name)


@online_endpoint.command("mirror-report")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@output_option
@az_compat
@fails_cleanly
def mirror_report(name: str, output: str) -> None:
    """How often the mirror deployment answered differently from the live one, with examples."""
    with client() as api:
        emit(api.mirror_report(name), output)


@online_endpoint.command("get-credentials")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@output_option
@az_compat
@fails_cleanly
def get_credentials(name: str, output: str) -> None:
    """Show the endpoint's keys (primaryKey, secondaryKey)."""
    with client() as api:
        emit(api.get_credentials(name), output)


@online_endpoint.command("regenerate-keys")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option(
    "--key-type",
    type=click.Choice(["primary", "secondary"], case_sensitive=False),
    default="primary",
    show_default=True,
)
@output_option
@az_compat
@fails_cleanly
def regenerate_keys(name: str, key_type: str, output: str) -> None:
    """Replace one of the endpoint's keys; the old one stops working at once."""
    with client() as api:
        emit(api.regenerate_keys(name, key_type.lower()), output)


@online_endpoint.command("invoke")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option("-r", "--request-file", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-d", "--deployment-name", help="Send to this deployment, whatever its traffic.")
@az_compat
@fails_cleanly
def invoke(name: str, request_file: str, deployment_name: str | None) -> None:
    """Score the request file on the endpoint and print the response."""
    body = Path(request_file).read_bytes()
    with client() as api:
        response = api.invoke(name, body, deployment=deployment_name)
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except (ValueError, AttributeError):
            message = response.text
        served = response.headers.get("azureml-model-deployment")
        by = f" (deployment {served})" if served else ""
        raise Failure(f"HTTP {response.status_code}{by}: {message}")
    text = response.text
    # az prints the response JSON; keep it compact and valid so scripts can parse it.
    with contextlib.suppress(ValueError):
        text = json.dumps(response.json())
    click.echo(text)


@online_endpoint.command("metrics")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option("--window", default="5m", show_default=True, help="How far back: 90s, 15m, 1h.")
@click.option("--step", help="Width of one point of the series (default: window / 60).")
@click.option("--chart/--no-chart", default=True, show_default=True, help="Draw the charts.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="table: figures and charts; json or yaml: the series as the API returns them.",
)
@az_compat
@fails_cleanly
def metrics(name: str, window: str, step: str | None, chart: bool, output: str) -> None:
    """Requests, errors, latency, CPU, memory and cost of an endpoint and its deployments."""
    with client() as api:
        report = api.endpoint_metrics(name, window, step)
        cost = api.get_endpoint(name).get("cost") if output == "table" else None
    if output != "table":
        emit(report, output)
        return
    # Imported here: plotext is only needed by this command.
    from epdev.devserver.cli.charts import charts, summary_table

    click.echo(summary_table(report, cost))
    if chart:
        width = min(shutil.get_terminal_size((80, 24)).columns, 100)
        click.echo()
        click.echo(charts(report, width, color=sys.stdout.isatty()))
