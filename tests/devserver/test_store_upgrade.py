"""A home made by an earlier epdev opens with the columns added since, its rows kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from epdev.devserver.store import Store

# batch_deployments as the first batch release made it, before runtimes.
OLD_BATCH_DEPLOYMENTS = """
CREATE TABLE batch_endpoints (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT, default_deployment TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE batch_deployments (
    endpoint TEXT NOT NULL REFERENCES batch_endpoints(name) ON DELETE CASCADE,
    name TEXT NOT NULL, spec TEXT NOT NULL, source TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (endpoint, name)
);
INSERT INTO batch_endpoints VALUES ('e', '{}', NULL, NULL, 0, 0);
INSERT INTO batch_deployments VALUES ('e', 'd', '{}', NULL, 0, 0);
"""


def test_old_batch_deployments_gain_the_process_runtime(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    with closing(sqlite3.connect(database)) as db:
        db.executescript(OLD_BATCH_DEPLOYMENTS)
    store = Store(database)
    try:
        rows = store.query("SELECT name, runtime FROM batch_deployments")
        assert [(row["name"], row["runtime"]) for row in rows] == [("d", "process")]
    finally:
        store.close()
    Store(database).close()  # and opening it again changes nothing
