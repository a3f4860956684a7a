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


# endpoints and assets as homes made before --local endpoints and asset tags have them.
OLD_ENDPOINTS_AND_ASSETS = """
CREATE TABLE endpoints (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT, primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL, traffic TEXT NOT NULL DEFAULT '{}',
    mirror_traffic TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE assets (
    kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, type TEXT NOT NULL,
    path TEXT NOT NULL, description TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (kind, name, version)
);
INSERT INTO endpoints VALUES ('e', '{}', NULL, 'k1', 'k2', '{}', '{}', 0, 0);
INSERT INTO assets VALUES ('model', 'm', '1', 'custom_model', '/m', NULL, 0);
"""


def test_old_endpoints_are_not_local_and_old_assets_have_no_tags(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    with closing(sqlite3.connect(database)) as db:
        db.executescript(OLD_ENDPOINTS_AND_ASSETS)
    store = Store(database)
    try:
        assert [(row.name, row.local) for row in store.endpoints()] == [("e", False)]
        rows = store.query("SELECT name, tags, properties FROM assets")
        assert [(r["name"], r["tags"], r["properties"]) for r in rows] == [("m", "{}", "{}")]
    finally:
        store.close()
    Store(database).close()
