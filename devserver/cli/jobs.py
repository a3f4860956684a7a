"""`epdev job list|show|stream|cancel|download`, after `az ml job ...`."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from epdev.devserver.cli.azstyle import AzGroup, add_cloud_only
from epdev.devserver.cli.common import Failure, az_compat, client, fails_cleanly
from epdev.devserver.cli.output import emit
from epdev.devserver.client import Client

FINISHED = ("Completed", "Failed", "Canceled")
# The one output a batch job has, by az's name for it.
BATCH_OUTPUT = "score"
POLL_SECONDS = 0.5
BAR_WIDTH = 30


@click.group("job", cls=AzGroup)
def job() -> None:
    """Follow and manage batch jobs."""


@job.command("list")
@click.option("--endpoint-name", help="Only the jobs of this batch endpoint.")
@click.option(
    "-r", "--max-results", type=click.IntRange(min=1), help="At most this many, newest first."
)
@click.option("--all-results", is_flag=True, hidden=True, help="Accepted as az's (the default).")
@az_compat
@fails_cleanly
def list_(endpoint_name: str | None, max_results: int | None, all_results: bool) -> None:
    """List jobs with their status and progress."""
    with client() as api:
        jobs = api.list_jobs(endpoint_name)
    if max_results is not None:
        jobs = sorted(jobs, key=_created, reverse=True)[:max_results]
    emit(jobs, kind="job")


def _created(view: dict[str, Any]) -> str:
    return str((view.get("creation_context") or {}).get("created_at") or "")


@job.command("show")
@click.option("-n", "--name", required=True)
@click.option(
    "--web", is_flag=True, help="Say where to look at the job locally (az opens the studio)."
)
@az_compat
@fails_cleanly
def show(name: str, web: bool) -> None:
    """Show a job: status, progress, input, output and settings."""
    with client() as api:
        view = api.get_job(name)
    if web:
        # No studio here: say where the job's files are and how the dashboard shows it.
        click.echo(
            f"job {name}: its folder is {view.get('job_folder')}; in the dashboard (`epdev`), "
            "press b for batch jobs and enter on the job for its log",
            err=True,
        )
    emit(view, kind="job")


@job.command("cancel")
@click.option("-n", "--name", required=True)
@az_compat
@fails_cleanly
def cancel(name: str) -> None:
    """Cancel a queued or running job; its workers stop."""
    with client() as api:
        emit(api.cancel_job(name), kind="job")


def progress_line(view: dict[str, Any]) -> str:
    """`[#####.....] 40/100 items  2 failed  12.5 items/s  ETA 5s  Running`."""
    progress = view["progress"]
    total = progress["items_total"]
    handled = progress["items_done"] + progress["items_failed"]
    filled = int(BAR_WIDTH * handled / total) if total else 0
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    parts = [f"[{bar}] {handled}/{total or '?'} items"]
    if progress["items_failed"]:
        parts.append(f"{progress['items_failed']} failed")
    parts.append(f"{progress.get('items_per_second', 0):.1f} items/s")
    eta = progress.get("eta_seconds")
    if eta is not None:
        parts.append(f"ETA {eta:.0f}s")
    parts.append(view["status"])
    return "  ".join(parts)


def stream_job(api: Client, name: str, out: Any = None) -> dict[str, Any]:
    """Print the job's log and a live progress line until it finishes; returns its view."""
    live = sys.stderr.isatty()
    offset = 0
    last = ""
    while True:
        view = api.get_job(name)
        text, offset = api.job_logs(name, offset)
        if text:
            if live and last:
                click.echo("\r" + " " * len(last) + "\r", err=True, nl=False)
            click.echo(text, nl=False)
            last = ""
        line = progress_line(view)
        if line != last:
            if live:
                click.echo("\r" + line, err=True, nl=False)
            else:
                click.echo(line, err=True)
            last = line
        if view["status"] in FINISHED:
            if live:
                click.echo(err=True)
            return view
        time.sleep(POLL_SECONDS)


@job.command("stream")
@click.option("-n", "--name", required=True)
@az_compat
@fails_cleanly
def stream(name: str) -> None:
    """Follow a job: its log and a progress bar (items, rate, ETA) until it finishes."""
    with client() as api:
        view = stream_job(api, name)
    if view["status"] != "Completed":
        raise Failure(f"job {name} {view['status'].lower()}: {view.get('error') or ''}".rstrip())


@job.command("download")
@click.option("-n", "--name", required=True)
@click.option(
    "-p",
    "--download-path",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where to put named-outputs/<output>/ and, with --all, artifacts/.",
)
@click.option(
    "--output-name", help="The output to download: batch jobs have one, score (the default)."
)
@click.option("--all", "everything", is_flag=True, help="The output and the job's logs.")
@az_compat
@fails_cleanly
def download(name: str, download_path: str, output_name: str | None, everything: bool) -> None:
    """Copy the job's output (and with --all its logs) here, as az ml job download does."""
    if output_name not in (None, BATCH_OUTPUT):
        raise Failure(
            f"job {name} has no output named {output_name!r}; its output is {BATCH_OUTPUT}"
        )
    with client() as api:
        view = api.get_job(name)
    if view["status"] not in FINISHED:
        raise Failure(
            f"job {name} is {view['status']}; download is allowed once it is "
            f"{', '.join(FINISHED[:-1])} or {FINISHED[-1]}"
        )
    target = Path(download_path) / "named-outputs" / BATCH_OUTPUT
    source = Path(view["outputs"]["path"])
    if not source.is_dir():
        raise Failure(f"the job's output folder {source} is gone")
    shutil.copytree(source, target, dirs_exist_ok=True)
    click.echo(f"downloaded the output to {target}", err=True)
    if everything and view.get("job_folder"):
        artifacts = Path(download_path) / "artifacts"
        shutil.copytree(
            view["job_folder"],
            artifacts,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("outputs", "model", "inputs"),
        )
        click.echo(f"downloaded the logs to {artifacts}", err=True)


# az ml job's other commands run or change training jobs in a workspace.
add_cloud_only(
    job,
    "job",
    ("create", "update", "archive", "restore", "validate", "connect-ssh", "show-services"),
)
