"""Batch jobs read over the devserver's API (cheaper than a CLI process per poll)."""

from __future__ import annotations

from typing import Any

import httpx

from support.devserver import RunningServer, wait_until

FINISHED = ("Completed", "Failed", "Canceled")


def _get(api: httpx.Client, name: str) -> dict[str, Any]:
    view: dict[str, Any] = api.get(f"/api/v1/jobs/{name}").json()
    return view


def job_view(server: RunningServer, name: str) -> dict[str, Any]:
    with server.api() as api:
        return _get(api, name)


def finished(server: RunningServer, name: str, timeout: float = 180) -> dict[str, Any]:
    """Poll the job until it finishes (over one connection); its view then."""
    with server.api() as api:

        def done() -> dict[str, Any] | None:
            view = _get(api, name)
            return view if view["status"] in FINISHED else None

        result: dict[str, Any] = wait_until(done, timeout=timeout, interval=0.2)
    return result
