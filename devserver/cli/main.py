"""The `epdev` program."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
from typing import Any

import click

from epdev.devserver.cli.apply import apply_command
from epdev.devserver.cli.assets import data, model
from epdev.devserver.cli.azstyle import AzGroup
from epdev.devserver.cli.batch import batch_deployment, batch_endpoint
from epdev.devserver.cli.common import Failure, fails_cleanly
from epdev.devserver.cli.deployments import online_deployment
from epdev.devserver.cli.endpoints import online_endpoint
from epdev.devserver.cli.environments import environment
from epdev.devserver.cli.jobs import job
from epdev.devserver.cli.serve import serve_command, stop_command
from epdev.devserver.cli.workspace import cloud_only_groups, compute, workspace
from epdev.devserver.client import SERVER_ENV, Connection
from epdev.devserver.home import Home
from epdev.devserver.serveoptions import ServeOptions

PORT_ENV = "EPDEV_PORT"


@click.group(
    cls=AzGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="epdev")
@click.option(
    "--server",
    metavar="URL",
    envvar=SERVER_ENV,
    help="Dashboard: attach to the devserver at URL (as EPDEV_SERVER) instead of this home's.",
)
@click.option("--read-only", is_flag=True, help="Dashboard: hide and refuse every change.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    envvar=PORT_ENV,
    show_envvar=True,
    help="Dashboard: the port of the devserver it starts in its own process (0 picks a free "
    "one); pinned, the scoring URIs stay the same across starts.",
)
@click.pass_context
def cli(ctx: click.Context, server: str | None, read_only: bool, port: int) -> None:
    """epdev: managed ML endpoints on your own machine.

    `epdev` alone opens the dashboard, attached to this home's devserver or to one it runs in
    its own process (and stops on quit). `epdev serve` runs one headless; the az ml-style
    groups are below.
    """
    if ctx.invoked_subcommand is None:
        _dashboard(server, read_only, port)


@fails_cleanly
def _dashboard(server: str | None, read_only: bool, port: int = 0) -> None:
    try:
        # Imported by name so that the headless rooms never import textual (nor the dashboard).
        dashboard = importlib.import_module("epdev.tui.launch")
    except ImportError as exc:
        raise Failure(f"the dashboard cannot start: {exc}") from None
    home = Home()
    if server:
        dashboard.run(Connection.at(server, home), read_only=read_only, embedded=False)
    elif home.running_server() is not None:
        dashboard.run(Connection.discover(home), read_only=read_only, embedded=False)
    else:
        click.echo(f"starting a devserver for {home.root}…", err=True)
        _embedded_dashboard(dashboard, home, read_only, port)


def _embedded_dashboard(dashboard: Any, home: Home, read_only: bool, port: int = 0) -> None:
    """The devserver runs in this process for as long as the dashboard does."""
    # Here rather than at the top: the server (FastAPI, uvicorn, the control plane) is needed
    # only by this command and `serve`; every other command is a light HTTP client.
    from epdev.devserver.embedded import EmbeddedServer

    embedded = EmbeddedServer(home, ServeOptions(port=port))
    watched = (signal.SIGHUP, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in watched}

    def stop_and_leave(signum: int, frame: object) -> None:
        # The terminal is gone (or we are told to stop before the dashboard is up): nothing is
        # left to restore on it, and a normal exit would block writing to it. Stop the
        # instances and leave. (Once up, the dashboard turns SIGTERM into a normal quit.)
        embedded.stop()
        os._exit(128 + signum)

    try:
        embedded.start()
        for sig in watched:
            signal.signal(sig, stop_and_leave)
        dashboard.run(Connection.discover(home), read_only=read_only, embedded=True)
    finally:
        # Already on the way out: a second request to stop has nothing more to do.
        for sig in watched:
            signal.signal(sig, signal.SIG_IGN)
        try:
            if embedded.running:
                # The dashboard is gone from the screen; say why the prompt is not back yet.
                with contextlib.suppress(OSError):
                    click.echo("stopping the devserver and its instances…", err=True)
            embedded.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


cli.add_command(serve_command)
cli.add_command(stop_command)
cli.add_command(apply_command)
cli.add_command(online_endpoint)
cli.add_command(online_deployment)
cli.add_command(batch_endpoint)
cli.add_command(batch_deployment)
cli.add_command(job)
cli.add_command(data)
cli.add_command(model)
cli.add_command(environment)
cli.add_command(workspace)
cli.add_command(compute)
for _cloud_group in cloud_only_groups():
    cli.add_command(_cloud_group)


@click.group(
    "ml",
    cls=AzGroup,
    commands=cli.commands,
    hidden=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def ml() -> None:
    """`epdev ml ...` is `epdev ...`, so `alias az=epdev` runs `az ml ...` lines."""


cli.add_command(ml)


def main() -> None:
    cli(prog_name="epdev")


if __name__ == "__main__":
    main()
