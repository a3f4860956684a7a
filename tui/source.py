"""Where the dashboard's data comes from.

In use it is `epdev.devserver.client.AsyncClient` talking HTTP to a devserver; tests and
snapshots hand in fixed data through the same surface, so every screen is drawn from a source
and never from the devserver's internals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from epdev.devserver.client import ClientError, NotRunning

View = dict[str, Any]

__all__ = ["ClientError", "NotRunning", "Source", "View"]


class Source(Protocol):
    async def aclose(self) -> None: ...

    async def list_endpoints(self) -> list[View]: ...

    async def get_endpoint(self, name: str) -> View: ...

    async def create_endpoint(self, spec: View, source: str | None) -> View: ...

    async def update_endpoint(self, name: str, **changes: Any) -> View: ...

    async def delete_endpoint(self, name: str) -> None: ...

    async def get_credentials(self, name: str) -> dict[str, str]: ...

    async def regenerate_keys(self, name: str, key_type: str) -> dict[str, str]: ...

    async def mirror_report(self, name: str) -> View: ...

    async def list_deployments(self, endpoint: str) -> list[View]: ...

    async def get_deployment(self, endpoint: str, name: str) -> View: ...

    async def create_deployment(
        self,
        endpoint: str,
        spec: View,
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> View: ...

    async def update_deployment(
        self,
        endpoint: str,
        name: str,
        spec: View | None = None,
        source: str | None = None,
        overrides: View | None = None,
        only_if_changed: bool = False,
        runtime: str | None = None,
        watch: bool | None = None,
    ) -> View: ...

    async def restart_deployment(self, endpoint: str, name: str) -> View: ...

    async def delete_deployment(self, endpoint: str, name: str) -> None: ...

    def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> AsyncIterator[str]: ...

    async def search_logs(
        self,
        endpoint: str,
        name: str,
        text: str | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        instance: str | None = None,
        context: int = 0,
        request_id: str | None = None,
    ) -> View: ...

    async def endpoint_metrics(
        self, endpoint: str, window: str | None = None, step: str | None = None
    ) -> View: ...

    async def validate(self, kind: str, spec: View) -> None: ...

    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response: ...

    async def list_batch_endpoints(self) -> list[View]: ...

    async def invoke_batch(self, endpoint: str, **request: Any) -> View: ...

    async def list_jobs(self, endpoint: str | None = None) -> list[View]: ...

    async def get_job(self, name: str) -> View: ...

    async def cancel_job(self, name: str) -> View: ...

    async def job_logs(self, name: str, offset: int = 0) -> tuple[str, int]: ...

    async def search_job_logs(
        self, name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
    ) -> View: ...
