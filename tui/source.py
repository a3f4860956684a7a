"""Where the dashboard's data comes from.

In use it is `epdev.devserver.client.AsyncClient` talking HTTP to a devserver; tests and
snapshots hand in fixed data through the same surface, so every screen is drawn from a source
and never from the devserver's internals. Both answer the API's views (`epdev.devserver.views`),
so mypy holds the fixed data to what the devserver answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from epdev.devserver import views
from epdev.devserver.client import ClientError, NotRunning

Spec = dict[str, Any]
"""A spec as the user wrote it (what create and update send)."""

__all__ = ["ClientError", "NotRunning", "Source", "Spec", "views"]


class Source(Protocol):
    async def aclose(self) -> None: ...

    async def list_endpoints(self) -> list[views.EndpointView]: ...

    async def get_endpoint(self, name: str) -> views.EndpointView: ...

    async def create_endpoint(
        self, spec: Spec, source: str | None, local: bool = False
    ) -> views.EndpointView: ...

    async def update_endpoint(self, name: str, **changes: Any) -> views.EndpointView: ...

    async def delete_endpoint(self, name: str) -> None: ...

    async def get_credentials(self, name: str) -> views.Credentials: ...

    async def regenerate_keys(self, name: str, key_type: str) -> views.Credentials: ...

    async def mirror_report(self, name: str) -> views.MirrorReport: ...

    async def list_deployments(self, endpoint: str) -> list[views.DeploymentView]: ...

    async def get_deployment(self, endpoint: str, name: str) -> views.DeploymentView: ...

    async def create_deployment(
        self,
        endpoint: str,
        spec: Spec,
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> views.DeploymentView: ...

    async def update_deployment(
        self,
        endpoint: str,
        name: str,
        spec: Spec | None = None,
        source: str | None = None,
        overrides: Spec | None = None,
        only_if_changed: bool = False,
        runtime: str | None = None,
        watch: bool | None = None,
    ) -> views.DeploymentView: ...

    async def restart_deployment(self, endpoint: str, name: str) -> views.DeploymentView: ...

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
    ) -> views.LogSearchPage: ...

    async def endpoint_metrics(
        self, endpoint: str, window: str | None = None, step: str | None = None
    ) -> views.EndpointMetrics: ...

    async def validate(self, kind: str, spec: Spec) -> None: ...

    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response: ...

    async def list_batch_endpoints(self) -> list[views.BatchEndpointView]: ...

    async def invoke_batch(self, endpoint: str, **request: Any) -> views.JobView: ...

    async def list_jobs(self, endpoint: str | None = None) -> list[views.JobView]: ...

    async def get_job(self, name: str) -> views.JobView: ...

    async def cancel_job(self, name: str) -> views.JobView: ...

    async def job_logs(self, name: str, offset: int = 0) -> tuple[str, int]: ...

    async def search_job_logs(
        self, name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
    ) -> views.LogSearchPage: ...
