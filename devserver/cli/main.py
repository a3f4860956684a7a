"""The `epdev` program."""

from __future__ import annotations

import importlib
import os
import signal

import click

from epdev.devserver.cli.apply import apply_command
from epdev.devserver.cli.assets import data, model
from epdev.devserver.cli.batch import batch_deployment, batch_endpoint
from epdev.devserver.cli.common import Failure, fails_cleanly
from epdev.devserver.cli.deployments import online_deployment
from epdev.devserver.cli.endpoints import online_endpoint
from epdev.devserver.cli.jobs import job
from epdev.devserver.cli.serve import serve_command, stop_command
from epdev.devserver.client import SERVER_ENV, Connection
from epdev.devserver.home import Home
from epdev.devserver.server import ServeOptions, start_detached, stop


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="epdev")
@click.option(
    "--server",
    metavar="URL",
    envvar=SERVER_ENV,
    help="Dashboard: attach to the devserver at URL (as EPDEV_SERVER) instead of this home's.",
)
@click.option("--read-only", is_flag=True, help="Dashboard: hide and refuse every change.")
@click.pass_context
def cli(ctx: click.Context, server: str | None, read_only: bool) -> None:
    """epdev: managed ML endpoints on your own machine.

    `epdev` alone opens the dashboard, attached to this home's devserver or to one it starts
    (and stops on quit). `epdev serve` runs one headless; the az ml-style groups are below.
    """
    if ctx.invoked_subcommand is None:
        _dashboard(server, read_only)


@fails_cleanly
def _dashboard(server: str | None, read_only: bool) -> None:
    try:
        # Imported by name so that the headless rooms never import textual (nor the dashboard).
        dashboard = importlib.import_module("epdev.tui.launch")
    except ImportError as exc:
        raise Failure(f"the dashboard cannot start: {exc}") from None
    home = Home()
    embedded = False
    previous = signal.getsignal(signal.SIGHUP)
    try:
        if server:
            connection = Connection.at(server, home)
        else:
            if home.running_server() is None:
                click.echo(f"starting a devserver for {home.root}…", err=True)
                start_detached(home, ServeOptions())
                embedded = True
            connection = Connection.discover(home)
        if embedded:

            def hung_up(signum: int, frame: object) -> None:
                # The terminal is gone: nothing is left to restore on it, and a normal exit
                # would block writing to it. Stop the devserver and its instances, and leave.
                stop(home)
                os._exit(128 + signum)

            signal.signal(signal.SIGHUP, hung_up)
        dashboard.run(connection, read_only=read_only, embedded=embedded)
    finally:
        signal.signal(signal.SIGHUP, previous)
        if embedded:
            stop(home)


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


def main() -> None:
    cli(prog_name="epdev")


if __name__ == "__main__":
    main()
