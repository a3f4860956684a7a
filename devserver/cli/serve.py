"""`epdev serve` and `epdev stop`: the devserver's life cycle."""

from __future__ import annotations

import logging

import click

from epdev.devserver.cli.common import fails_cleanly
from epdev.devserver.home import Home
from epdev.devserver.server import ServeOptions, serve, start_detached, stop


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port; 0 picks a free one.")
@click.option("--detach", is_flag=True, help="Run in the background; return once it answers.")
@click.option("--insecure-http", is_flag=True, help="Serve plain HTTP instead of HTTPS.")
@fails_cleanly
def serve_command(host: str, port: int, detach: bool, insecure_http: bool) -> None:
    """Run the devserver headless (for CI and scripts)."""
    home = Home()
    options = ServeOptions(host=host, port=port, insecure_http=insecure_http)
    if detach:
        already = home.running_server()
        info = start_detached(home, options)
        state = "already running" if already else "started"
        click.echo(f"epdev devserver {state} at {info.url} (pid {info.pid})")
        if info.ca_bundle:
            click.echo(f"CA bundle: {info.ca_bundle}")
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(home, options)


@click.command("stop")
@fails_cleanly
def stop_command() -> None:
    """Stop this home's devserver and its instances (safe when none is running)."""
    info = stop(Home())
    if info is None:
        click.echo("no devserver was running")
    else:
        click.echo(f"stopped the devserver at {info.url} (pid {info.pid})")
