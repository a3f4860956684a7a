"""Batch endpoints and their deployments in the store: typed rows, and the only SQL for
`batch_endpoints` and `batch_deployments`.

A row keeps its spec as the JSON the user's spec validated to (unset fields left out), so a
later epdev reads it with its own defaults; the control plane validates it into a spec model.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from epdev.devserver.store import Store


@dataclass
class BatchEndpointRow:
    name: str
    spec: dict[str, Any]
    source: str | None = None
    default_deployment: str | None = None
    """As the spec's defaults or `--set-default` named it; it may no longer exist."""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class BatchDeploymentRow:
    endpoint: str
    name: str
    spec: dict[str, Any]
    source: str | None = None
    runtime: str = "process"
    """Where its job workers run: process or venv (auto is decided before it is stored)."""
    created_at: float = 0.0
    updated_at: float = 0.0


class BatchEndpointStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # Endpoints

    def endpoint(self, name: str) -> BatchEndpointRow | None:
        rows = self.store.query("SELECT * FROM batch_endpoints WHERE name = ?", (name,))
        return _endpoint(rows[0]) if rows else None

    def endpoint_names(self) -> list[str]:
        rows = self.store.query("SELECT name FROM batch_endpoints ORDER BY created_at")
        return [row["name"] for row in rows]

    def add_endpoint(self, row: BatchEndpointRow) -> None:
        row.created_at = row.updated_at = time.time()
        self.store.execute(
            "INSERT INTO batch_endpoints (name, spec, source, default_deployment, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                row.name,
                json.dumps(row.spec),
                row.source,
                row.default_deployment,
                row.created_at,
                row.updated_at,
            ),
        )

    def save_endpoint(self, row: BatchEndpointRow) -> None:
        row.updated_at = time.time()
        self.store.execute(
            "UPDATE batch_endpoints SET spec = ?, source = ?, default_deployment = ?, "
            "updated_at = ? WHERE name = ?",
            (json.dumps(row.spec), row.source, row.default_deployment, row.updated_at, row.name),
        )

    def delete_endpoint(self, name: str) -> None:
        """The endpoint and (by cascade) its deployments."""
        self.store.execute("DELETE FROM batch_endpoints WHERE name = ?", (name,))

    # Deployments

    def deployment(self, endpoint: str, name: str) -> BatchDeploymentRow | None:
        rows = self.store.query(
            "SELECT * FROM batch_deployments WHERE endpoint = ? AND name = ?", (endpoint, name)
        )
        return _deployment(rows[0]) if rows else None

    def deployment_names(self, endpoint: str) -> list[str]:
        """In the order they were created: the first is the default when none is named."""
        rows = self.store.query(
            "SELECT name FROM batch_deployments WHERE endpoint = ? ORDER BY created_at",
            (endpoint,),
        )
        return [row["name"] for row in rows]

    def add_deployment(self, row: BatchDeploymentRow, make_default: bool = False) -> None:
        """Store a new deployment and, in the same transaction, make it its endpoint's default."""
        row.created_at = row.updated_at = time.time()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO batch_deployments (endpoint, name, spec, source, created_at, "
                "updated_at, runtime) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.endpoint,
                    row.name,
                    json.dumps(row.spec),
                    row.source,
                    row.created_at,
                    row.updated_at,
                    row.runtime,
                ),
            )
            if make_default:
                _set_default(db, row.endpoint, row.name)

    def save_deployment(self, row: BatchDeploymentRow, make_default: bool = False) -> None:
        row.updated_at = time.time()
        with self.store.transaction() as db:
            db.execute(
                "UPDATE batch_deployments SET spec = ?, source = ?, updated_at = ?, runtime = ? "
                "WHERE endpoint = ? AND name = ?",
                (
                    json.dumps(row.spec),
                    row.source,
                    row.updated_at,
                    row.runtime,
                    row.endpoint,
                    row.name,
                ),
            )
            if make_default:
                _set_default(db, row.endpoint, row.name)

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self.store.execute(
            "DELETE FROM batch_deployments WHERE endpoint = ? AND name = ?", (endpoint, name)
        )


def _set_default(db: sqlite3.Connection, endpoint: str, name: str) -> None:
    db.execute("UPDATE batch_endpoints SET default_deployment = ? WHERE name = ?", (name, endpoint))


def _endpoint(row: sqlite3.Row) -> BatchEndpointRow:
    return BatchEndpointRow(
        name=row["name"],
        spec=json.loads(row["spec"]),
        source=row["source"],
        default_deployment=row["default_deployment"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _deployment(row: sqlite3.Row) -> BatchDeploymentRow:
    return BatchDeploymentRow(
        endpoint=row["endpoint"],
        name=row["name"],
        spec=json.loads(row["spec"]),
        source=row["source"],
        runtime=row["runtime"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
