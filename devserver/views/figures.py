"""The figures shown with endpoints and deployments (calls, latency, resources, cost), and the
metrics series."""

from __future__ import annotations

from pydantic import Field

from epdev.devserver.views.base import Number, Timestamp, View


class InstanceFigures(View):
    name: str
    state: str
    pids: list[int]
    cpu_percent: Number | None
    memory_bytes: int
    cpu_seconds: Number
    restarts: int


class CallFigures(View):
    """Calls, latency and resources over a window (the whole window, or the last seconds)."""

    requests: int
    rps: Number
    status_classes: dict[str, int] = Field(description="Calls per status class (2xx, 4xx...)")
    error_rate: Number | None
    p50_ms: Number | None
    p90_ms: Number | None
    p99_ms: Number | None
    mean_ms: Number | None
    in_flight: int
    cpu_percent: Number | None
    memory_bytes: int
    restarts: int
    instances: list[InstanceFigures] | None = Field(
        default=None, description="Per instance; deployments only"
    )


class CurrentFigures(CallFigures):
    window_seconds: int


class EndpointCost(View):
    currency: str
    estimated_per_hour: Number | None
    estimated_to_date: Number | None
    instance_hours: Number | None
    core_seconds: Number | None
    gib_hours: Number | None


class DeploymentCost(View):
    instance_type: str | None
    instance_count: int
    currency: str
    rate_per_instance_hour: Number | None
    estimated_per_hour: Number | None
    estimated_to_date: Number | None
    instance_hours: Number | None
    core_seconds: Number | None
    gib_hours: Number | None
    rates_source: str
    note: str | None = Field(default=None, description="Why no rate applies")
    rates_error: str | None = Field(default=None, description="Why the rate card was not read")


class Series(View):
    """One value per step (null where the step saw nothing)."""

    rps: list[Number]
    error_rate: list[Number | None]
    p50_ms: list[Number | None]
    p99_ms: list[Number | None]
    cpu_percent: list[Number | None]
    memory_bytes: list[int | None]


class MetricsBlock(View):
    summary: CallFigures
    series: Series


class MetricsWindow(View):
    endpoint: str
    window_seconds: int
    step_seconds: int
    start: Timestamp
    end: Timestamp
    timestamps: list[int] = Field(description="Each step's start, in Unix seconds")


class EndpointMetrics(MetricsWindow):
    total: MetricsBlock
    deployments: dict[str, MetricsBlock]


class DeploymentMetrics(MetricsWindow):
    deployment: str
    summary: CallFigures
    series: Series
