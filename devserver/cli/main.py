"""The `epdev` program."""

from __future__ import annotations

import click

from epdev.devserver.cli.apply import apply_command
from epdev.devserver.cli.deployments import online_deployment
from epdev.devserver.cli.endpoints import online_endpoint
from epdev.devserver.cli.serve import serve_command, stop_command


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="epdev")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """epdev: managed ML endpoints on your own machine.

    Start a devserver with `epdev serve --detach`, then use the az ml-style groups below.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(serve_command)
cli.add_command(stop_command)
cli.add_command(apply_command)
cli.add_command(online_endpoint)
cli.add_command(online_deployment)


def main() -> None:
    cli(prog_name="epdev")


if __name__ == "__main__":
    main()
