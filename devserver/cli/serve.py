"""`epdev serve` and `epdev stop`: the devserver's life cycle, and CI's one-line set-up."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from epdev.devserver.applying import ApplyError, wait_ready
from epdev.devserver.cli.apply import apply_folder
from epdev.devserver.cli.common import Failure, fails_cleanly
from epdev.devserver.client import Client, Connection
from epdev.devserver.detached import start_detached, stop
from epdev.devserver.home import Home
from epdev.devserver.serveoptions import ServeOptions
from epdev.runtimes.catalog import RUNTIME_NAMES

_DEFAULTS = ServeOptions()


@click.command("serve")
@click.option("--host", default=_DEFAULTS.host, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=_DEFAULTS.port,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one.",
)
@click.option("--detach", is_flag=True, help="Run in the background; return once it answers.")
@click.option("--insecure-http", is_flag=True, help="Serve plain HTTP instead of HTTPS.")
@click.option(
    "--runtime",
    type=click.Choice(RUNTIME_NAMES),
    default=_DEFAULTS.runtime,
    show_default=True,
    help="Runtime for deployments that do not choose one.",
)
@click.option(
    "--base-image",
    default=_DEFAULTS.base_image,
    show_default=True,
    help="Local image that stands in for environment images no registry can serve "
    "(build it with scripts/build-base-image).",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(min=1),
    default=_DEFAULTS.token_lifetime,
    show_default=True,
    help="Seconds an aml_token endpoint's access token stays valid.",
)
@click.option(
    "--max-request-mb",
    type=click.FloatRange(min=0.001),
    default=_DEFAULTS.max_request_mb,
    show_default=True,
    help="Largest request body a scoring call may send; larger ones get 413.",
)
@click.option(
    "--apply",
    "apply_target",
    type=click.Path(exists=True),
    help="With --detach: then apply this spec file or folder (as `epdev apply -f`).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --detach: return only once every deployment is ready; exit 1 with the failing "
    "deployment's logs otherwise.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Seconds --wait waits for the deployments.",
)
@click.option(
    "--dask-scheduler",
    metavar="ADDRESS",
    envvar="EPDEV_DASK_SCHEDULER",
    default=None,
    help="A Dask scheduler (tcp://host:port) for batch jobs with engine dask "
    "(as EPDEV_DASK_SCHEDULER).",
)
@click.option(
    "--max-instances",
    type=click.IntRange(min=1),
    envvar="EPDEV_MAX_INSTANCES",
    default=None,
    help="Most instances one deployment may ask for (instance_count, scale_settings); "
    "default from the cores and memory (as EPDEV_MAX_INSTANCES).",
)
@fails_cleanly
def serve_command(
    host: str,
    port: int,
    detach: bool,
    insecure_http: bool,
    runtime: str,
    base_image: str,
    token_lifetime: int,
    max_request_mb: float,
    apply_target: str | None,
    wait: bool,
    timeout: float,
    dask_scheduler: str | None,
    max_instances: int | None,
) -> None:
    """Run the devserver headless (for CI and scripts)."""
    home = Home()
    if dask_scheduler:
        # The devserver (here or detached, which inherits the environment) reads it from there.
        os.environ["EPDEV_DASK_SCHEDULER"] = dask_scheduler
    if max_instances is not None:
        os.environ["EPDEV_MAX_INSTANCES"] = str(max_instances)
    options = ServeOptions(
        host=host,
        port=port,
        insecure_http=insecure_http,
        runtime=runtime,
        base_image=base_image,
        token_lifetime=token_lifetime,
        max_request_mb=max_request_mb,
    )
    if not detach:
        if apply_target or wait:
            raise Failure("--apply and --wait go with --detach")
        # Here rather than at the top: only a foreground `serve` needs the server's modules
        # (FastAPI, uvicorn, the control plane); `--detach` and every other command stay light.
        from epdev.devserver.server import serve

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        serve(home, options)
        return
    already = home.running_server()
    info = start_detached(home, options)
    state = "already running" if already else "started"
    click.echo(f"epdev devserver {state} at {info.url} (pid {info.pid})")
    if info.ca_bundle:
        click.echo(f"CA bundle: {info.ca_bundle}")
    if not (apply_target or wait):
        return
    with Client(Connection.discover(home)) as api:
        if apply_target:
            apply_folder(api, Path(apply_target), wait=wait, timeout=timeout)
        else:
            _wait_for_everything(api, timeout)


def _wait_for_everything(api: Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for endpoint in api.list_endpoints():
        for name in endpoint["deployments"]:
            try:
                wait_ready(api, endpoint["name"], name, deadline=deadline)
            except ApplyError as exc:
                if exc.logs:
                    click.echo(exc.logs.rstrip("\n"), err=True)
                raise Failure(str(exc)) from None
            click.echo(f"{endpoint['name']}/{name} is ready")


@click.command("stop")
@fails_cleanly
def stop_command() -> None:
    """Stop this home's devserver and its instances (safe when none is running).

    A devserver embedded in a dashboard (`epdev` alone) stops the same way, and that dashboard
    closes.
    """
    info = stop(Home())
    if info is None:
        click.echo("no devserver was running")
    else:
        click.echo(f"stopped the devserver at {info.url} (pid {info.pid})")
