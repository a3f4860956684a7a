"""A batch job's log: the deployment logs' pane, fed by polling the job's log until it ends."""

from __future__ import annotations

import asyncio

from rich.markup import escape
from textual import work

from epdev.devserver import views
from epdev.tui.messages import Reachability
from epdev.tui.screens.logs import PAGE, LogEnded, LogLines, LogsScreen
from epdev.tui.source import ClientError, NotRunning

FINISHED = ("Completed", "Failed", "Canceled")


class JobLogsScreen(LogsScreen):
    """Follows, pauses, filters like a deployment's logs; a job has no instances to switch."""

    def __init__(self, job: views.JobView) -> None:
        super().__init__(job.endpoint_name, job.deployment_name, [])
        self.job = job.name

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "instance"

    def heading(self) -> str:
        return (
            f"[b]job logs[/b] {escape(self.job)} · "
            f"{escape(self.endpoint)}/{escape(self.deployment)}"
        )

    async def search_page(self, term: str, offset: int, by_request: bool) -> views.LogSearchPage:
        return await self.epdev.source.search_job_logs(self.job, term, offset=offset, limit=PAGE)

    @work(exclusive=True, exit_on_error=False, group="follow")
    async def follow(self, instance: str | None, generation: int) -> None:
        source = self.epdev.source
        offset = 0
        partial = ""
        while True:
            try:
                # The state first: a job seen finished has written all of its log by then.
                status = (await source.get_job(self.job)).status
                text, offset = await source.job_logs(self.job, offset)
            except NotRunning as exc:
                self.post_message(Reachability(str(exc)))
                await asyncio.sleep(self.epdev.refresh_seconds)
                continue
            except ClientError as exc:
                self.post_message(LogEnded(str(exc), generation))
                return
            *complete, partial = (partial + text).split("\n")
            if complete:
                self.post_message(LogLines(complete, generation))
            if text:
                continue  # more may be waiting: read on before sleeping
            if status in FINISHED:
                if partial:
                    self.post_message(LogLines([partial], generation))
                self.post_message(LogEnded(f"the job is {status}", generation))
                return
            await asyncio.sleep(self.epdev.refresh_seconds)
