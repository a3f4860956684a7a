"""Printing results as JSON (the default, as az does), YAML or a table."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

FORMATS = ("json", "yaml", "table")

# Columns shown by `-o table`, per kind of record, in order.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "endpoint": ("name", "auth_mode", "provisioning_state", "traffic", "scoring_uri"),
    "deployment": (
        "name",
        "endpoint_name",
        "provisioning_state",
        "instance_count",
        "ready_instances",
    ),
    "job": ("name", "status", "endpoint_name", "deployment_name", "items", "failed", "engine"),
    "asset": ("name", "version", "type", "path"),
}


def emit(data: Any, fmt: str, kind: str | None = None) -> None:
    if data is None:
        return
    if fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
    elif fmt == "table":
        click.echo(_table(data, kind))
    else:
        click.echo(json.dumps(data, indent=2))


def _job_row(row: dict[str, Any]) -> dict[str, Any]:
    """A job's progress as table cells: items handled of total, and failed ones."""
    progress = row.get("progress") or {}
    handled = progress.get("items_done", 0) + progress.get("items_failed", 0)
    return {
        **row,
        "items": f"{handled}/{progress.get('items_total', 0)}",
        "failed": progress.get("items_failed", 0),
    }


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _table(data: Any, kind: str | None) -> str:
    rows = data if isinstance(data, list) else [data]
    if not rows:
        return "(none)"
    if not all(isinstance(row, dict) for row in rows):
        return "\n".join(str(row) for row in rows)
    if kind == "job":
        rows = [_job_row(row) for row in rows]
    columns = TABLE_COLUMNS.get(kind or "") or tuple(rows[0])
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    header = [col.replace("_", " ").title() for col in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)
