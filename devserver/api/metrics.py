"""Metrics routes: series for the dashboard and the CLI, and Prometheus exposition."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from epdev.devserver import views
from epdev.devserver.api.auth import admin_credentials, check_admin, require_admin
from epdev.devserver.api.params import DeploymentName, EndpointName
from epdev.devserver.api.routes import ControlDep
from epdev.devserver.errors import BadRequest
from epdev.devserver.metrics import parse_duration

metrics_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_admin)])
prometheus_router = APIRouter()

# Declared in the document (so clients and fuzzers know the shape) but checked by the route,
# whose error says what a duration is.
DURATION_PATTERN = {"pattern": r"^[0-9]+(\.[0-9]+)?[smh]?$"}
WindowQuery = Annotated[
    str,
    Query(
        json_schema_extra=DURATION_PATTERN,
        description="How far back: seconds, or a number with s, m or h (at most 1h)",
    ),
]
StepQuery = Annotated[
    str | None,
    Query(
        json_schema_extra=DURATION_PATTERN,
        description="Width of one point of the series; default window / 60",
    ),
]


def _durations(window: str, step: str | None) -> tuple[int, int | None]:
    try:
        return parse_duration(window), None if step is None else parse_duration(step)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


@metrics_router.get(
    "/online-endpoints/{name}/metrics", tags=["metrics"], response_model=views.EndpointMetrics
)
async def endpoint_metrics(
    name: EndpointName, ctl: ControlDep, window: WindowQuery = "5m", step: StepQuery = None
) -> dict[str, Any]:
    """RPS, error rate, p50/p99 latency, CPU and memory per step, for the endpoint and each
    deployment, with a summary of the whole window."""
    return ctl.observability.report(name, *_durations(window, step))


@metrics_router.get(
    "/online-endpoints/{endpoint}/deployments/{name}/metrics",
    tags=["metrics"],
    response_model=views.DeploymentMetrics,
)
async def deployment_metrics(
    endpoint: EndpointName,
    name: DeploymentName,
    ctl: ControlDep,
    window: WindowQuery = "5m",
    step: StepQuery = None,
) -> dict[str, Any]:
    """The same series for one deployment."""
    ctl.deployment(endpoint, name)
    report = ctl.observability.report(endpoint, *_durations(window, step))
    block = report.pop("deployments")[name]
    report.pop("total")
    return {**report, "deployment": name, **block}


@prometheus_router.get("/metrics", tags=["metrics"], response_class=PlainTextResponse)
async def prometheus(request: Request) -> Response:
    """Prometheus text exposition. Free from loopback; from elsewhere, send the admin token."""
    client = request.client
    if client is None or not _is_loopback(client.host):
        check_admin(request, await admin_credentials(request))
    # Here: prometheus-client loads on the first scrape, not with every devserver.
    from epdev.devserver.prometheus import CONTENT_TYPE, exposition, registry

    observability = request.app.state.control.observability
    observability.drain()
    found = getattr(request.app.state, "prometheus", None)
    if found is None:
        found = request.app.state.prometheus = registry(observability.collector())
    return Response(exposition(found), media_type=CONTENT_TYPE)


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)
