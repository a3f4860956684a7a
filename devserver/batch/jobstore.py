"""Batch jobs in the store: typed rows of their plan, state and counts, and one checkpoint per
mini-batch. The only module that writes SQL for `batch_jobs` and `batch_checkpoints`.

A mini-batch's checkpoint and the job's new output offset are written in one transaction, after
the mini-batch's rows were appended to the output file; a restart truncates the file back to the
committed offset and runs only the mini-batches without a checkpoint. So every item's rows are in
the final output exactly once, however the devserver stopped.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from dataclasses import dataclass
from typing import Any

from epdev.devserver.batch.plan import JobPlan
from epdev.devserver.store import Store


class JobState(enum.StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELED)


@dataclass
class JobRow:
    name: str
    endpoint: str
    deployment: str
    state: JobState
    plan: JobPlan
    error: str | None = None
    items_total: int = 0
    items_done: int = 0
    items_failed: int = 0
    rows_written: int = 0
    minibatches_total: int = 0
    minibatches_done: int = 0
    output_offset: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None

    def view(self) -> dict[str, Any]:
        done_at = self.ended_at or time.time()
        elapsed = (done_at - self.started_at) if self.started_at else 0.0
        return {
            "name": self.name,
            "type": "pipeline",
            "status": self.state.value,
            "endpoint_name": self.endpoint,
            "deployment_name": self.deployment,
            "error": self.error,
            "progress": {
                "items_total": self.items_total,
                "items_done": self.items_done,
                "items_failed": self.items_failed,
                "rows_written": self.rows_written,
                "minibatches_total": self.minibatches_total,
                "minibatches_done": self.minibatches_done,
                "elapsed_seconds": round(elapsed, 3),
            },
            "inputs": self.plan.input.model_dump(mode="json"),
            "outputs": {"path": str(self.plan.output_dir), "file": str(self.plan.output_file)},
            "settings": self.plan.settings.model_dump(mode="json"),
            "engine": self.plan.engine,
            "job_folder": str(self.plan.job_dir),
            "creation_context": {
                "created_at": _iso(self.created_at),
                "started_at": _iso(self.started_at),
                "ended_at": _iso(self.ended_at),
            },
        }


@dataclass(frozen=True)
class Checkpoint:
    minibatch: int
    items: int
    failed_items: int
    rows: int
    attempts: int
    error: str | None


class JobStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, row: JobRow) -> None:
        row.created_at = row.created_at or time.time()
        self.store.execute(
            "INSERT INTO batch_jobs (name, endpoint, deployment, state, plan, error, items_total, "
            "minibatches_total, created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.name,
                row.endpoint,
                row.deployment,
                row.state.value,
                row.plan.dump(),
                row.error,
                row.items_total,
                row.minibatches_total,
                row.created_at,
                row.ended_at,
            ),
        )

    def exists(self, name: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM batch_jobs WHERE name = ?", (name,)))

    def get(self, name: str) -> JobRow | None:
        rows = self.store.query("SELECT * FROM batch_jobs WHERE name = ?", (name,))
        return _job(rows[0]) if rows else None

    def all(self, endpoint: str | None = None) -> list[JobRow]:
        if endpoint is None:
            rows = self.store.query("SELECT * FROM batch_jobs ORDER BY created_at")
        else:
            rows = self.store.query(
                "SELECT * FROM batch_jobs WHERE endpoint = ? ORDER BY created_at", (endpoint,)
            )
        return [_job(row) for row in rows]

    def set_items(self, name: str, items: int, minibatches: int) -> None:
        """The input's size, known once its files are listed."""
        self.store.execute(
            "UPDATE batch_jobs SET items_total = ?, minibatches_total = ? WHERE name = ?",
            (items, minibatches, name),
        )

    def set_state(self, name: str, state: JobState, error: str | None = None) -> None:
        now = time.time()
        if state == JobState.RUNNING:
            self.store.execute(
                "UPDATE batch_jobs SET state = ?, started_at = COALESCE(started_at, ?) "
                "WHERE name = ?",
                (state.value, now, name),
            )
        elif state.finished:
            self.store.execute(
                "UPDATE batch_jobs SET state = ?, error = ?, ended_at = ? WHERE name = ?",
                (state.value, error, now, name),
            )
        else:
            self.store.execute(
                "UPDATE batch_jobs SET state = ? WHERE name = ?", (state.value, name)
            )

    def checkpoints(self, name: str) -> dict[int, Checkpoint]:
        rows = self.store.query("SELECT * FROM batch_checkpoints WHERE job = ?", (name,))
        return {
            row["minibatch"]: Checkpoint(
                minibatch=row["minibatch"],
                items=row["items"],
                failed_items=row["failed_items"],
                rows=row["rows"],
                attempts=row["attempts"],
                error=row["error"],
            )
            for row in rows
        }

    def commit(self, name: str, checkpoint: Checkpoint, output_offset: int) -> None:
        """Record a finished mini-batch and the output written so far, together."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO batch_checkpoints (job, minibatch, items, failed_items, rows, "
                "attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    checkpoint.minibatch,
                    checkpoint.items,
                    checkpoint.failed_items,
                    checkpoint.rows,
                    checkpoint.attempts,
                    checkpoint.error,
                ),
            )
            db.execute(
                "UPDATE batch_jobs SET items_done = items_done + ?, "
                "items_failed = items_failed + ?, rows_written = rows_written + ?, "
                "minibatches_done = minibatches_done + 1, output_offset = ? WHERE name = ?",
                (
                    checkpoint.items - checkpoint.failed_items,
                    checkpoint.failed_items,
                    checkpoint.rows,
                    output_offset,
                    name,
                ),
            )


def _job(row: Any) -> JobRow:
    return JobRow(
        name=row["name"],
        endpoint=row["endpoint"],
        deployment=row["deployment"],
        state=JobState(row["state"]),
        plan=JobPlan.load(row["plan"], row["name"]),
        error=row["error"],
        items_total=row["items_total"],
        items_done=row["items_done"],
        items_failed=row["items_failed"],
        rows_written=row["rows_written"],
        minibatches_total=row["minibatches_total"],
        minibatches_done=row["minibatches_done"],
        output_offset=row["output_offset"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
