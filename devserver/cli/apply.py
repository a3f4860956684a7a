"""`epdev apply -f FILE|DIR`: create or update whatever the files describe, endpoints first."""

from __future__ import annotations

from pathlib import Path

import click

from epdev.devserver.applying import ApplyError, execute, plan
from epdev.devserver.cli.common import Failure, client, fails_cleanly, runtime_option
from epdev.devserver.client import Client


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "target",
    required=True,
    type=click.Path(exists=True),
    help="A spec file or a folder of them.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate everything and print the plan; change nothing."
)
@click.option("--no-wait", is_flag=True, help="Do not wait for deployments to become ready.")
@runtime_option
@fails_cleanly
def apply_command(target: str, dry_run: bool, no_wait: bool, runtime: str | None) -> None:
    """Create or update endpoints and deployments from YAML specs."""
    with client() as api:
        apply_folder(api, Path(target), dry_run=dry_run, wait=not no_wait, runtime=runtime)


def apply_folder(
    api: Client,
    target: Path,
    *,
    dry_run: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    runtime: str | None = None,
) -> None:
    """Plan, print and carry out; a failure prints the failing deployment's logs to stderr."""
    try:
        steps = plan(api, target)
        for path in steps.skipped:
            click.echo(f"skipped {path}: not an endpoint or deployment spec", err=True)
        for note in steps.notes:
            click.echo(f"note: {note}", err=True)
        for step in steps.steps:
            suffix = " (dry run)" if dry_run else ""
            click.echo(f"{step.action} {step.label}{suffix}")
        if not dry_run:
            execute(api, steps, wait=wait, timeout=timeout, runtime=runtime, say=click.echo)
    except ApplyError as exc:
        if exc.logs:
            click.echo(exc.logs.rstrip("\n"), err=True)
        raise Failure(str(exc)) from None
