"""The SQLite store: every endpoint, deployment, key and traffic split survives a restart."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    source TEXT,
    primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL,
    traffic TEXT NOT NULL DEFAULT '{}',
    mirror_traffic TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    endpoint TEXT NOT NULL REFERENCES endpoints(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    source TEXT,
    state TEXT NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    runtime TEXT NOT NULL DEFAULT 'process',
    watch INTEGER NOT NULL DEFAULT 0,
    asked_runtime TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint, name)
);
CREATE TABLE IF NOT EXISTS instance_pids (
    pid INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    deployment TEXT NOT NULL
);
"""

# Batch endpoints, their deployments and jobs, and the data and model registry. Created with
# IF NOT EXISTS on every start, so homes made before batch existed gain them unchanged.
_BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_endpoints (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    source TEXT,
    default_deployment TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_deployments (
    endpoint TEXT NOT NULL REFERENCES batch_endpoints(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    source TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (endpoint, name)
);
CREATE TABLE IF NOT EXISTS assets (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (kind, name, version)
);
CREATE TABLE IF NOT EXISTS batch_jobs (
    name TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    deployment TEXT NOT NULL,
    state TEXT NOT NULL,
    plan TEXT NOT NULL,
    error TEXT,
    items_total INTEGER NOT NULL DEFAULT 0,
    items_done INTEGER NOT NULL DEFAULT 0,
    items_failed INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    minibatches_total INTEGER NOT NULL DEFAULT 0,
    minibatches_done INTEGER NOT NULL DEFAULT 0,
    output_offset INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS batch_checkpoints (
    job TEXT NOT NULL REFERENCES batch_jobs(name) ON DELETE CASCADE,
    minibatch INTEGER NOT NULL,
    items INTEGER NOT NULL,
    failed_items INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (job, minibatch)
);
"""


@dataclass
class EndpointRow:
    name: str
    spec: dict[str, Any]
    source: str | None
    primary_key: str
    secondary_key: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    local: bool = False


@dataclass
class DeploymentRow:
    endpoint: str
    name: str
    spec: dict[str, Any]
    source: str | None
    state: str
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    runtime: str = "process"
    watch: bool = False
    asked_runtime: str = ""
    """The runtime as the user asked for it (`auto` included), which an update without
    `--runtime` asks for again; empty for rows of homes older than it (their runtime)."""


# Free space past which a write gives it back to the file system: a deleted spec, job or
# registry entry can be large, and SQLite only reuses its pages, never shrinks the file itself.
RECLAIM_BYTES = 1024 * 1024
# The write-ahead log is truncated to this after each checkpoint, rather than keeping the size
# of the largest transaction it ever held.
_WAL_LIMIT_BYTES = 4 * 1024 * 1024


class Store:
    """A thin, synchronous layer over SQLite. Writes are small and rare (control plane only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # It holds keys and environment-variable secrets: created private, as SQLite then
        # creates its -wal and -shm files with the database's own mode. An older home's
        # files are tightened.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                file.chmod(0o600)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._db.executescript(_BATCH_SCHEMA)
        batch_columns = {row[1] for row in self._db.execute("PRAGMA table_info(batch_deployments)")}
        if "runtime" not in batch_columns:  # where a batch deployment's job workers run
            self._db.execute(
                "ALTER TABLE batch_deployments ADD COLUMN runtime TEXT NOT NULL DEFAULT 'process'"
            )
        asset_columns = {row[1] for row in self._db.execute("PRAGMA table_info(assets)")}
        for column in ("tags", "properties"):  # az's asset YAML; JSON mappings
            if column not in asset_columns:
                self._db.execute(
                    f"ALTER TABLE assets ADD COLUMN {column} TEXT NOT NULL DEFAULT '{{}}'"
                )

    def _migrate(self) -> None:
        """Add columns that homes made by earlier versions lack."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deployments)")}
        if "runtime" not in columns:
            self._db.execute(
                "ALTER TABLE deployments ADD COLUMN runtime TEXT NOT NULL DEFAULT 'process'"
            )
        if "watch" not in columns:
            self._db.execute("ALTER TABLE deployments ADD COLUMN watch INTEGER NOT NULL DEFAULT 0")
        if "asked_runtime" not in columns:
            self._db.execute(
                "ALTER TABLE deployments ADD COLUMN asked_runtime TEXT NOT NULL DEFAULT ''"
            )
        endpoint_columns = {row[1] for row in self._db.execute("PRAGMA table_info(endpoints)")}
        if "local" not in endpoint_columns:  # created with --local: loopback callers need no key
            self._db.execute("ALTER TABLE endpoints ADD COLUMN local INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside happen together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A COMMIT that fails (a full disk) leaves the transaction open, and every later
                # BEGIN would fail with it even once there is space again.
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            self._reclaim()

    # Endpoints

    def endpoints(self) -> list[EndpointRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM endpoints ORDER BY created_at").fetchall()
        return [_endpoint(row) for row in rows]

    def put_endpoint(self, row: EndpointRow, db: sqlite3.Connection | None = None) -> None:
        now = time.time()
        row.created_at = row.created_at or now
        row.updated_at = now
        sql = """
            INSERT INTO endpoints (name, spec, source, primary_key, secondary_key, traffic,
                                   mirror_traffic, created_at, updated_at, local)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET spec=excluded.spec, source=excluded.source,
                primary_key=excluded.primary_key, secondary_key=excluded.secondary_key,
                traffic=excluded.traffic, mirror_traffic=excluded.mirror_traffic,
                updated_at=excluded.updated_at
        """
        values = (
            row.name,
            json.dumps(row.spec),
            row.source,
            row.primary_key,
            row.secondary_key,
            json.dumps(row.traffic),
            json.dumps(row.mirror_traffic),
            row.created_at,
            row.updated_at,
            int(row.local),
        )
        self._write(sql, values, db)

    def delete_endpoint(self, name: str, db: sqlite3.Connection | None = None) -> None:
        self._write("DELETE FROM endpoints WHERE name = ?", (name,), db)

    # Deployments

    def deployments(self) -> list[DeploymentRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM deployments ORDER BY created_at").fetchall()
        return [_deployment(row) for row in rows]

    def put_deployment(self, row: DeploymentRow, db: sqlite3.Connection | None = None) -> None:
        now = time.time()
        row.created_at = row.created_at or now
        row.updated_at = now
        sql = """
            INSERT INTO deployments (endpoint, name, spec, source, state, error, created_at,
                                     updated_at, runtime, watch, asked_runtime)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(endpoint, name) DO UPDATE SET spec=excluded.spec, source=excluded.source,
                state=excluded.state, error=excluded.error, updated_at=excluded.updated_at,
                runtime=excluded.runtime, watch=excluded.watch,
                asked_runtime=excluded.asked_runtime
        """
        values = (
            row.endpoint,
            row.name,
            json.dumps(row.spec),
            row.source,
            row.state,
            row.error,
            row.created_at,
            row.updated_at,
            row.runtime,
            int(row.watch),
            row.asked_runtime,
        )
        self._write(sql, values, db)

    def set_deployment_state(self, endpoint: str, name: str, state: str, error: str | None) -> None:
        self._write(
            "UPDATE deployments SET state = ?, error = ?, updated_at = ? "
            "WHERE endpoint = ? AND name = ?",
            (state, error, time.time(), endpoint, name),
            None,
        )

    def delete_deployment(
        self, endpoint: str, name: str, db: sqlite3.Connection | None = None
    ) -> None:
        self._write("DELETE FROM deployments WHERE endpoint = ? AND name = ?", (endpoint, name), db)

    # Instance processes, so a killed devserver's leftovers can be found on the next start.

    def instance_pids(self) -> list[int]:
        with self._lock:
            return [int(r[0]) for r in self._db.execute("SELECT pid FROM instance_pids").fetchall()]

    def add_instance_pid(self, pid: int, endpoint: str, deployment: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO instance_pids (pid, endpoint, deployment) VALUES (?, ?, ?)",
            (pid, endpoint, deployment),
            None,
        )

    def remove_instance_pid(self, pid: int) -> None:
        self._write("DELETE FROM instance_pids WHERE pid = ?", (pid,), None)

    # Plain access for the batch rooms, which keep their own row types.

    def query(self, sql: str, values: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, values).fetchall()

    def execute(
        self, sql: str, values: tuple[Any, ...] = (), db: sqlite3.Connection | None = None
    ) -> None:
        self._write(sql, values, db)

    def _write(self, sql: str, values: tuple[Any, ...], db: sqlite3.Connection | None) -> None:
        if db is not None:
            db.execute(sql, values)
            return
        with self._lock:
            self._db.execute(sql, values)
            self._reclaim()

    def _reclaim(self) -> None:
        """Vacuum once enough pages are free, then truncate the log (the lock is held)."""
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        if free * page < RECLAIM_BYTES:
            return
        # The write is committed: giving space back is best effort (VACUUM needs room for a
        # copy, which a full disk does not have; the next large write tries again).
        with suppress(sqlite3.Error):
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_on_disk(self) -> int:
        """Bytes of the database file and its write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())


def _endpoint(row: sqlite3.Row) -> EndpointRow:
    return EndpointRow(
        name=row["name"],
        spec=json.loads(row["spec"]),
        source=row["source"],
        primary_key=row["primary_key"],
        secondary_key=row["secondary_key"],
        traffic=json.loads(row["traffic"]),
        mirror_traffic=json.loads(row["mirror_traffic"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        local=bool(row["local"]),
    )


def _deployment(row: sqlite3.Row) -> DeploymentRow:
    return DeploymentRow(
        endpoint=row["endpoint"],
        name=row["name"],
        spec=json.loads(row["spec"]),
        source=row["source"],
        state=row["state"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        runtime=row["runtime"],
        watch=bool(row["watch"]),
        asked_runtime=row["asked_runtime"],
    )
