"""Batch jobs: state and progress of every job, one key from the endpoints; their logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.changes import confirm_then, report
from epdev.tui.messages import Failed, JobsLoaded, Reachability
from epdev.tui.screens.job_logs import FINISHED, JobLogsScreen
from epdev.tui.screens.table_screen import TableScreen
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.live_table import Cell

COLUMNS = (
    ("NAME", "name"),
    ("ENDPOINT", "endpoint"),
    ("DEPLOYMENT", "deployment"),
    ("STATE", "state"),
    ("PROGRESS (ITEMS)", "progress"),
    ("STARTED", "started"),
    ("DURATION", "duration"),
)

JOB_STYLES = {
    "Completed": "green",
    "Failed": "bold red",
    "Canceled": "dim",
    "Queued": "cyan",
    "Running": "yellow",
}


class JobsScreen(TableScreen[views.JobView]):
    AUTO_FOCUS = "#jobs"
    TABLE_ID = "jobs"
    COLUMNS = COLUMNS
    DROP_ORDER = ("started", "deployment", "endpoint")
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("l", "open", "Logs"),
        Binding("s", "start_job", "Start job"),
        Binding("c", "cancel_job", "Cancel job"),
        Binding("o", "outputs", "Output"),
    ]

    def __init__(self, endpoint: str | None = None) -> None:
        super().__init__()
        self.jobs: dict[str, views.JobView] = {}
        self.problem: str | None = None
        self._select: str | None = None
        if endpoint is not None:
            self.filter = endpoint  # opened from a batch endpoint's row: its jobs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in ("cancel_job", "start_job") and self.epdev.read_only)

    # Loading

    def start_load(self) -> Worker[None]:
        return self.load()

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load(self) -> None:
        try:
            jobs = await self.epdev.source.list_jobs()
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            self.post_message(Reachability(None))
            self.post_message(JobsLoaded([], f"the devserver would not list jobs: {exc}"))
            return
        self.post_message(Reachability(None))
        self.post_message(JobsLoaded(jobs))

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        self._loaded = True
        self.problem = message.problem
        if message.problem is None:
            # Newest first: the job just started is the one being watched.
            ordered = sorted(message.jobs, key=_created, reverse=True)
            self.jobs = {job.name: job for job in ordered}
        self._show_rows()
        if self._select is not None and self._select in self.jobs:
            keys = [str(row.key.value) for row in self.table.ordered_rows]
            if self._select in keys:
                self.table.move_cursor(row=keys.index(self._select), animate=False)
                self._select = None
        self._show_status()

    def _show_rows(self) -> None:
        needle = self.filter.lower()
        rows = {
            name: self.fit(self._row(job))
            for name, job in self.jobs.items()
            if any(
                needle in field.lower()
                for field in (job.name, job.endpoint_name, job.deployment_name, job.status)
            )
        }
        self.table.sync(rows)

    def _row(self, job: views.JobView) -> tuple[Cell, ...]:
        progress = job.progress
        return (
            Text(job.name, style="bold"),
            job.endpoint_name,
            job.deployment_name,
            Text(job.status, style=JOB_STYLES.get(job.status, "")),
            fmt.progress(progress.items_done, progress.items_failed, progress.items_total),
            fmt.started(job.creation_context.started_at, self.epdev.clock()),
            fmt.duration(progress.elapsed_seconds),
        )

    def _show_status(self) -> None:
        parts = ["[b]batch jobs[/b]"]
        if self.problem:
            parts.append(f"[red]{escape(self.problem)}[/red]")
        elif self._loaded:
            shown = self.table.row_count
            count = len(self.jobs)
            running = sum(1 for job in self.jobs.values() if job.status not in FINISHED)
            noun = "job" if count == 1 else "jobs"
            if not count:
                parts.append("no jobs yet: [b]s[/b] starts one (or `epdev batch-endpoint invoke`)")
            else:
                parts.append(f"{count} {noun}" if shown == count else f"{shown}/{count} {noun}")
            if running:
                parts.append(f"{running} queued or running")
            parts.append(f"updated {self.epdev.clock().strftime('%H:%M:%S')}")
        else:
            parts.append("loading…")
        shown_filter = self.filter_status()
        if shown_filter:
            parts.append(shown_filter)
        job = self.selected() if self._loaded else None
        if job is not None and job.error:
            parts.append(f"[red]{escape(job.name)}: {escape(job.error)}[/red]")
        self.query_one("#status", Static).update(" · ".join(parts))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_status()  # the selected job's error, if it has one

    # Actions

    def action_back(self) -> None:
        if self.filter:
            self.action_clear_filter()
            return
        self.dismiss(None)

    def views(self) -> dict[str, views.JobView]:
        return self.jobs

    def action_open(self) -> None:
        job = self.selected()
        if job is not None:
            self.app.push_screen(JobLogsScreen(job))

    def action_cancel_job(self) -> None:
        job = self.selected()
        if job is None:
            return
        name, status = job.name, job.status
        if status in FINISHED:
            self.notify(f"job {name} is already {status}")
            return
        question = (
            f"Cancel batch job [b]{escape(name)}[/b] ({escape(status)})?\n"
            "Its work stops; rows already written stay in its output."
        )
        confirm_then(self.app, "Cancel job", question, lambda: self.cancel(name))

    @work(exit_on_error=False, group="change")
    async def cancel(self, name: str) -> None:
        call = self.epdev.source.cancel_job(name)
        await report(self, call, f"canceled job {name}", f"could not cancel {name}")

    def action_outputs(self) -> None:
        from epdev.tui.screens.job_output import JobOutputScreen

        job = self.selected()
        if job is not None:
            self.app.push_screen(JobOutputScreen(job))

    def action_start_job(self) -> None:
        self.start_form()

    @work(exclusive=True, exit_on_error=False, group="form")
    async def start_form(self) -> None:

        try:
            endpoints = await self.epdev.source.list_batch_endpoints()
        except ClientError as exc:
            self.post_message(Failed(f"cannot list batch endpoints: {exc}"))
            return
        if not endpoints:
            self.post_message(Failed("no batch endpoint yet: deploy one first (n in endpoints)"))
            return
        self.post_message(FormReady(endpoints))

    def on_form_ready(self, message: FormReady) -> None:
        from epdev.tui.screens.start_job import StartJobScreen

        def answered(request: dict[str, Any] | None) -> None:
            if request is not None:
                self.start(request)

        self.app.push_screen(StartJobScreen(message.endpoints, self.epdev.cwd), answered)

    @work(exit_on_error=False, group="change")
    async def start(self, request: dict[str, Any]) -> None:
        endpoint = str(request.pop("endpoint"))
        try:
            job = await self.epdev.source.invoke_batch(endpoint, **request)
        except ClientError as exc:
            self.post_message(Failed(f"job not started: {exc}"))
            return
        self.post_message(JobStarted(job.name, endpoint))

    def on_job_started(self, message: JobStarted) -> None:
        self.notify(f"started job {message.name} on {message.endpoint}")
        self._select = message.name  # the cursor follows it once it is listed
        self.refresh_now()


@dataclass
class FormReady(Message):
    endpoints: list[views.BatchEndpointView]


@dataclass
class JobStarted(Message):
    name: str
    endpoint: str


def _created(job: views.JobView) -> tuple[str, str]:
    return (job.creation_context.created_at, job.name)
