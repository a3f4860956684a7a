"""`epdev online-endpoint ...`, after `az ml online-endpoint ...`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from epdev.devserver.applying import payload
from epdev.devserver.cli.azstyle import AzGroup, default_output
from epdev.devserver.cli.common import (
    Failure,
    az_compat,
    client,
    deployment_option,
    fails_cleanly,
    load_file,
    parse_set,
    spec_from_fields,
    studio_flags,
)
from epdev.devserver.cli.output import emit, settings
from epdev.specs.traffic import parse_traffic


@click.group("online-endpoint", cls=AzGroup)
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
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Endpoint YAML.")
@click.option("-n", "--name", help="Endpoint name (overrides the file's; enough on its own).")
@click.option(
    "--auth-mode", type=click.Choice(["key", "aml_token"]), help="Overrides the file's auth_mode."
)
@click.option("--set", "sets", multiple=True, help="Override a field: --set description=text.")
@click.option(
    "--local",
    is_flag=True,
    help="As az's local endpoints: calls from this machine need no key (others still do).",
)
@click.option("--no-wait", is_flag=True, hidden=True, help="Accepted for az compatibility.")
@studio_flags
@fails_cleanly
def create(
    file: str | None,
    name: str | None,
    auth_mode: str | None,
    sets: tuple[str, ...],
    local: bool,
    no_wait: bool,
) -> None:
    """Create an endpoint from a YAML file, or with only --name (key auth), as az does."""
    overrides = parse_set(sets)
    if name:
        overrides["name"] = name
    if auth_mode:
        overrides["auth_mode"] = auth_mode
    if file:
        spec, source = (
            payload(load_file(file, "online-endpoint", overrides)),
            str(Path(file).resolve()),
        )
    elif name:
        base = {"name": name, "auth_mode": "key"}
        spec, source = (
            payload(spec_from_fields("online-endpoint", base, overrides)),
            None,
        )
    else:
        raise Failure("give the endpoint's --name, or a --file that describes it")
    with client() as api:
        emit(api.create_endpoint(spec, source, local=local), kind="endpoint")


@online_endpoint.command("update")
@click.option("-n", "--name", help="Endpoint name.")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Endpoint YAML.")
@click.option("-t", "--traffic", help="Traffic split: blue=90 green=10 (quoted or not).")
@click.option("--mirror-traffic", help='Mirror split: green=10 ("green=0" turns it off).')
@click.option("--set", "sets", multiple=True, help="Override a field of the file.")
@click.option("--no-wait", is_flag=True, hidden=True)
@az_compat
@studio_flags
@fails_cleanly
def update(
    name: str | None,
    file: str | None,
    traffic: str | None,
    mirror_traffic: str | None,
    sets: tuple[str, ...],
    no_wait: bool,
) -> None:
    """Update an endpoint: its traffic, mirror traffic, or its whole spec from a file."""
    spec = source = None
    overrides = parse_set(sets)
    # az's generic `--set traffic.blue=90` is a traffic change, not a file edit.
    set_traffic = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("traffic.")}
    overrides = {k: v for k, v in overrides.items() if not k.startswith("traffic.")}
    if file:
        if name:
            overrides["name"] = name
        loaded = load_file(file, "online-endpoint", overrides)
        spec, source = payload(loaded), str(Path(file).resolve())
        name = loaded.name
    elif overrides:
        raise Failure("--set needs --file with online-endpoint update; use --traffic for traffic")
    if not name:
        raise Failure("give the endpoint with --name (or a --file that names it)")
    split = _traffic(traffic, "--traffic")
    if set_traffic:
        split = {**(split or {}), **{k: int(v) for k, v in set_traffic.items()}}
    changes = {
        "spec": spec,
        "source": source,
        "traffic": split,
        "mirror_traffic": _traffic(mirror_traffic, "--mirror-traffic"),
    }
    if all(value is None for value in changes.values()):
        raise Failure("nothing to update: give --traffic, --mirror-traffic or --file")
    with client() as api:
        emit(api.update_endpoint(name, **changes), kind="endpoint")


@online_endpoint.command("show")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@az_compat
@studio_flags
@fails_cleanly
def show(name: str) -> None:
    """Show an endpoint, with its scoring URI, traffic and provisioning state."""
    with client() as api:
        emit(api.get_endpoint(name), kind="endpoint")


@online_endpoint.command("list")
@az_compat
@fails_cleanly
def list_() -> None:
    """List endpoints."""
    with client() as api:
        emit(api.list_endpoints(), kind="endpoint")


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
@az_compat
@fails_cleanly
def mirror_report(name: str) -> None:
    """How often the mirror deployment answered differently from the live one, with examples."""
    with client() as api:
        emit(api.mirror_report(name))


@online_endpoint.command("get-credentials")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@az_compat
@fails_cleanly
def get_credentials(name: str) -> None:
    """Show the endpoint's keys (primaryKey, secondaryKey)."""
    with client() as api:
        emit(api.get_credentials(name))


@online_endpoint.command("regenerate-keys")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option(
    "--key-type",
    type=click.Choice(["primary", "secondary"], case_sensitive=False),
    default="primary",
    show_default=True,
)
@az_compat
@fails_cleanly
def regenerate_keys(name: str, key_type: str) -> None:
    """Replace one of the endpoint's keys; the old one stops working at once."""
    with client() as api:
        emit(api.regenerate_keys(name, key_type.lower()))


@online_endpoint.command("invoke")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option("-r", "--request-file", required=True, type=click.Path(dir_okay=False, exists=True))
@deployment_option("Send to this deployment, whatever its traffic.")
@az_compat
@studio_flags
@fails_cleanly
def invoke(name: str, request_file: str, deployment_name: str | None) -> None:
    """Score the request file on the endpoint and print the answer (shaped by -o and --query)."""
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
    # az prints the scoring answer as its result: JSON as JSON, anything else as a string.
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    emit(answer)


@online_endpoint.command("metrics")
@click.option("-n", "--name", required=True, help="Endpoint name.")
@click.option("--window", default="5m", show_default=True, help="How far back: 90s, 15m, 1h.")
@click.option("--step", help="Width of one point of the series (default: window / 60).")
@click.option("--chart/--no-chart", default=True, show_default=True, help="Draw the charts.")
@default_output("table")
@az_compat
@fails_cleanly
def metrics(name: str, window: str, step: str | None, chart: bool) -> None:
    """Requests, errors, latency, CPU, memory and cost of an endpoint and its deployments.

    `-o table` (the default): figures and charts; other formats: the series as the API
    returns them."""
    figures = settings().format == "table" and not settings().query_active
    with client() as api:
        report = api.endpoint_metrics(name, window, step)
        cost = api.get_endpoint(name).get("cost") if figures else None
    if not figures:
        emit(report)
        return
    # Imported here: plotext is only needed by this command.
    from epdev.devserver.cli.charts import charts, summary_table

    click.echo(summary_table(report, cost))
    if chart:
        width = min(shutil.get_terminal_size((80, 24)).columns, 100)
        click.echo()
        click.echo(charts(report, width, color=sys.stdout.isatty()))
