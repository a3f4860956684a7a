"""Running one job: prepare its input, hand mini-batches to the engine's slots, retry, count
failures against the error threshold, and commit each mini-batch's rows with its checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from epdev.devserver.batch.inputs import fetch, list_files, split
from epdev.devserver.batch.jobstore import Checkpoint, JobRow, JobState, JobStore
from epdev.devserver.batch.output import JobFolder, OutputFile
from epdev.devserver.batch.slots import EngineFailed, MiniBatchFailed, Slots
from epdev.runtimes.instance import InstanceFailed

PROGRESS_INTERVAL_SECONDS = 0.5
SETTLE_RETRY_SECONDS = 0.5
SETTLE_RETRY_MAX_SECONDS = 5.0

log = logging.getLogger("epdev.devserver")


class JobFailed(Exception):
    """The job stops as Failed; the message is its reason."""


class JobRunner:
    def __init__(
        self,
        jobs: JobStore,
        name: str,
        folder: JobFolder,
        make_slots: Callable[[int], Slots],
    ) -> None:
        self.jobs = jobs
        self.name = name
        self.folder = folder
        self.make_slots = make_slots
        self.canceled = False  # set by cancel(); otherwise a cancelled task is a shutdown
        self._commit_lock = asyncio.Lock()
        self._last_progress = 0.0
        # How the job ended, from the moment it did, while the store may not have it yet.
        self.outcome: tuple[JobState, str | None] | None = None
        self.ended_at: float | None = None

    def _row(self) -> JobRow:
        row = self.jobs.get(self.name)
        assert row is not None
        return row

    async def run(self) -> None:
        """Run (or resume) the job to a final state. A shutdown leaves it Running for the next
        start to resume."""
        row = self._row()
        reason: str | None
        try:
            self.folder.ensure()
            files = await self._prepare(row)
            self.jobs.set_state(self.name, JobState.RUNNING)
            await self._run_minibatches(self._row(), files)
        except asyncio.CancelledError:
            if not self.canceled:
                self._log_quietly("devserver stopping: the job resumes on the next start")
                raise
            state, reason, line = JobState.CANCELED, "canceled by the user", "job canceled"
        except JobFailed as exc:
            state, reason, line = JobState.FAILED, str(exc), f"job failed: {exc}"
            with contextlib.suppress(OSError):
                self.folder.error(line)
        except Exception as exc:  # the devserver must outlive any job
            reason = failure_reason(exc)
            state, line = JobState.FAILED, f"job failed: {reason}"
        else:
            done = self._row()
            state, reason = JobState.COMPLETED, None
            line = (
                f"job completed: {done.items_done} items succeeded, {done.items_failed} failed, "
                f"{done.rows_written} rows"
            )
        await self._settle(state, reason, line)

    async def _settle(self, state: JobState, reason: str | None, line: str) -> None:
        """Store the final state and log it, retrying while the disk is full: until both are
        written, `outcome` is what the job shows, so its state never disagrees with its log."""
        self.outcome = (state, reason)
        self.ended_at = time.time()
        stored = logged = False
        delay = SETTLE_RETRY_SECONDS
        while True:
            try:
                if not stored:
                    self.jobs.set_state(self.name, state, reason)
                    stored = True
                if not logged:
                    self.folder.log(line)
                    logged = True
                break
            except (OSError, sqlite3.Error) as exc:
                if delay == SETTLE_RETRY_SECONDS:
                    log.warning(
                        "job %s ended %s but that cannot be saved yet (%s); retrying",
                        self.name,
                        state.value,
                        failure_reason(exc),
                    )
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                if self.canceled:
                    continue  # it has already ended; a cancel changes nothing now
                log.warning(
                    "devserver stopping before job %s's final state was saved; it resumes on "
                    "the next start",
                    self.name,
                )
                raise
            delay = min(delay * 2, SETTLE_RETRY_MAX_SECONDS)
        with contextlib.suppress(OSError, sqlite3.Error):
            self._write_progress(force=True)

    def _log_quietly(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.folder.log(line)

    async def _prepare(self, row: JobRow) -> list[list[str]]:
        """The mini-batches, from items.json when resuming; else made (and checked) now."""
        folder = self.folder
        plan = row.plan
        size = plan.settings.mini_batch_size
        if folder.items_file.exists():
            folder.log(
                f"resuming: {row.minibatches_done} of {row.minibatches_total} mini-batches done"
            )
            return split(folder.read_items(), size)
        output = plan.output_file
        if plan.appends_rows and output.exists():
            raise JobFailed(
                f"the output file {output} already exists; choose another --output-path or "
                "output_file_name, or remove it"
            )
        url = plan.input.url
        if url:
            folder.log(f"downloading {url}")
            try:
                path = await asyncio.to_thread(fetch, url, folder.root / "inputs")
            except (httpx.HTTPError, OSError) as exc:
                raise JobFailed(f"could not download the input {url}: {exc}") from None
        elif plan.input.path is None:
            raise JobFailed(f"the input {plan.input.source} has neither a path nor a URL")
        else:
            path = Path(plan.input.path)
            if not path.exists():
                raise JobFailed(f"the input {path} no longer exists")
        files = [str(p) for p in await asyncio.to_thread(list_files, path)]
        if not files:
            raise JobFailed(f"the input {path} holds no files")
        batches = split(files, size)
        self.jobs.set_items(self.name, len(files), len(batches))
        folder.write_items(files)  # from here on the job resumes rather than restarts
        folder.log(f"{len(files)} items in {len(batches)} mini-batches of up to {size}")
        return batches

    async def _run_minibatches(self, row: JobRow, batches: list[list[str]]) -> None:
        plan = row.plan
        done = self.jobs.checkpoints(self.name)
        pending = [n for n in range(len(batches)) if n not in done]
        failed_so_far = row.items_failed
        threshold = plan.settings.error_threshold
        if threshold != -1 and failed_so_far > threshold:  # crossed just before a restart
            raise JobFailed(_crossed(failed_so_far, threshold))
        if not pending:
            return
        retries = plan.settings.retry_settings.max_retries
        timeout = float(plan.settings.retry_settings.timeout)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in pending:
            queue.put_nowait(number)
        size = min(plan.slots, len(pending))
        self.folder.log(f"starting {size} worker(s) on the {plan.engine} engine")
        try:
            slots = self.make_slots(size)
        except (EngineFailed, InstanceFailed, OSError) as exc:
            raise JobFailed(f"could not prepare the workers: {exc}") from None
        output = OutputFile(plan.output_file, row.output_offset) if plan.appends_rows else None
        try:
            try:
                await slots.start()
            except EngineFailed as exc:
                raise JobFailed(str(exc)) from None
            self.folder.log("workers ready")

            async def work(slot: int) -> None:
                nonlocal failed_so_far
                while True:
                    try:
                        number = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    files = batches[number]
                    attempts = 0
                    rows, data, error = 0, b"", None
                    while True:
                        attempts += 1
                        try:
                            answer = await slots.run(slot, number, files, timeout)
                        except MiniBatchFailed as exc:
                            error = str(exc)
                            self.folder.log(
                                f"mini-batch {number} attempt {attempts} failed: {error}"
                            )
                            if attempts > retries:
                                break
                            continue
                        except EngineFailed as exc:
                            raise JobFailed(str(exc)) from None
                        rows, data, error = answer.rows, answer.data, None
                        break
                    failed = len(files) if error is not None else max(0, len(files) - rows)
                    if error is not None:
                        self.folder.error(
                            f"mini-batch {number} failed after {attempts} attempt(s): {error}; "
                            f"items: {', '.join(files)}"
                        )
                    elif failed:
                        self.folder.error(
                            f"mini-batch {number}: run() returned {rows} rows for "
                            f"{len(files)} items; {failed} counted as failed"
                        )
                    async with self._commit_lock:
                        if output is not None and data:
                            output.append(data)
                        offset = output.offset if output is not None else 0
                        self.jobs.commit(
                            self.name,
                            Checkpoint(number, len(files), failed, rows, attempts, error),
                            offset,
                        )
                        failed_so_far += failed
                        self._write_progress()
                    if threshold != -1 and failed_so_far > threshold:
                        raise JobFailed(_crossed(failed_so_far, threshold))

            tasks = [asyncio.create_task(work(slot)) for slot in range(size)]
            try:
                await _first_error(tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(slots.stop())
            if output is not None:
                output.close()

    def _write_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_progress = now
        row = self.jobs.get(self.name)
        if row is not None:
            self.folder.write_progress(overview(row))


def failure_reason(exc: BaseException) -> str:
    """Why a job failed, for its error and log: a full disk by name, anything else as internal."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"out of disk space{where}: {exc.strerror}"
    if isinstance(exc, sqlite3.Error):
        return f"the devserver's database could not be written: {exc}"
    return f"internal error: {type(exc).__name__}: {exc}"


def _crossed(failed: int, threshold: int) -> str:
    return (
        f"{failed} items failed, more than the error_threshold of {threshold} "
        "(see errors.txt in the job folder)"
    )


def overview(row: JobRow) -> dict[str, Any]:
    view = row.view()
    return {"name": row.name, "status": view["status"], "error": row.error, **view["progress"]}


async def _first_error(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; the first one to raise stops the wait and its error propagates."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
