"""The devserver's batch jobs once invoked: one runner task each (see runner), resumed after a
restart, canceled on request, and shown with their progress and logs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from epdev.devserver.batch.jobstore import JobRow, JobState, JobStore
from epdev.devserver.batch.output import JobFolder
from epdev.devserver.batch.runner import JobRunner
from epdev.devserver.batch.workers import Workers
from epdev.devserver.errors import Conflict, NotFound
from epdev.devserver.logsearch import SearchPage, search

CANCEL_WAIT_SECONDS = 10.0


class Jobs:
    def __init__(self, store: JobStore, workers: Workers) -> None:
        self.store = store
        self.workers = workers
        self._runners: dict[str, tuple[JobRunner, asyncio.Task[None]]] = {}

    async def restore(self) -> None:
        """Resume the jobs that were queued or running when the devserver stopped."""
        for row in self.store.all():
            if not row.state.finished:
                # The job itself fails with the reason if its folder cannot be written.
                with contextlib.suppress(OSError):
                    JobFolder(row.plan.job_dir).ensure().log("devserver restarted")
                self._start(row.name)

    async def shutdown(self) -> None:
        """Stop every runner; their jobs stay Running, to resume on the next start."""
        tasks = [task for _, task in self._runners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start(self, row: JobRow) -> None:
        """Store a new job and start running it."""
        self.store.add(row)
        self._start(row.name)

    def _start(self, name: str) -> None:
        row = self.store.get(name)
        assert row is not None
        folder = JobFolder(row.plan.job_dir)
        runner = JobRunner(
            self.store, name, folder, lambda size: self.workers.slots(row, folder, size)
        )
        task = asyncio.create_task(runner.run(), name=f"batch-job-{name}")
        self._runners[name] = (runner, task)
        task.add_done_callback(lambda _: self._runners.pop(name, None))

    def unfinished(self, endpoint: str, deployment: str | None = None) -> list[str]:
        """The names of the endpoint's (or one deployment's) jobs not yet finished."""
        return [
            row.name
            for row in self.store.all(endpoint)
            if deployment in (None, row.deployment) and not row.state.finished
        ]

    def get(self, name: str) -> JobRow:
        row = self.store.get(name)
        if row is None:
            raise NotFound(f"job {name!r} does not exist")
        found = self._runners.get(name)
        if found is not None and found[0].outcome is not None and not row.state.finished:
            # It has ended, but the store could not take its final state yet (a full disk).
            row.state, row.error = found[0].outcome
            row.ended_at = found[0].ended_at
        return row

    def view(self, name: str) -> dict[str, Any]:
        row = self.get(name)
        view = row.view()
        progress = view["progress"]
        elapsed = progress["elapsed_seconds"]
        handled = row.items_done + row.items_failed
        rate = handled / elapsed if elapsed > 0 else 0.0
        progress["items_per_second"] = round(rate, 3)
        remaining = max(0, row.items_total - handled)
        progress["eta_seconds"] = (
            round(remaining / rate, 1) if rate > 0 and not row.state.finished else None
        )
        return view

    def views(self, endpoint: str | None) -> list[dict[str, Any]]:
        return [self.view(row.name) for row in self.store.all(endpoint)]

    async def cancel(self, name: str) -> dict[str, Any]:
        row = self.get(name)
        if row.state.finished:
            raise Conflict(f"job {name!r} is already {row.state.value}")
        found = self._runners.get(name)
        if found is None:
            self.store.set_state(name, JobState.CANCELED, "canceled by the user")
        else:
            runner, task = found
            runner.canceled = True
            task.cancel()
            # Its workers stop at once; only saving the final state can wait (on a full disk),
            # and until then the job shows it as Canceled anyway.
            await asyncio.wait({task}, timeout=CANCEL_WAIT_SECONDS)
        return self.view(name)

    def logs(self, name: str, offset: int) -> tuple[str, int]:
        return JobFolder(self.get(name).plan.job_dir).read_logs(offset)

    def search_logs(
        self, name: str, pattern: str, offset: int = 0, limit: int = 100, context: int = 0
    ) -> SearchPage:
        """A page of the job log's lines that contain `pattern` (reads files: run on a thread)."""
        log = JobFolder(self.get(name).plan.job_dir).job_log
        return search(log, pattern, offset=offset, limit=limit, context=context)
