"""Prometheus exposition of the request and instance metrics, at `/metrics`.

A custom collector builds the families from the running totals at scrape time, so the router
never touches prometheus-client objects (whose counters take a lock per increment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from epdev.devserver.metrics import BOUNDS, RequestMetrics
from epdev.devserver.resources import ResourceSampler

InFlight = Callable[[], Iterable[tuple[str, str, int]]]
"""(endpoint, deployment, calls in flight) for every deployment."""

CONTENT_TYPE = CONTENT_TYPE_LATEST


class EpdevCollector(Collector):
    def __init__(
        self, requests: RequestMetrics | None, resources: ResourceSampler, in_flight: InFlight
    ) -> None:
        self.requests = requests
        self.resources = resources
        self.in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "epdev_requests_total",
            "Scoring calls answered, by endpoint, deployment (empty when none took the call) "
            "and HTTP status code.",
            labels=["endpoint", "deployment", "code"],
        )
        duration = HistogramMetricFamily(
            "epdev_request_duration_seconds",
            "Time from receiving a scoring call to its answer, as the router measures it.",
            labels=["endpoint", "deployment"],
        )
        in_flight = GaugeMetricFamily(
            "epdev_requests_in_flight",
            "Scoring calls sent to a deployment's instances and not yet answered.",
            labels=["endpoint", "deployment"],
        )
        if self.requests is not None:
            for series in list(self.requests.series.values()):
                labels = [series.endpoint, series.deployment]
                for code, count in sorted(series.codes.items()):
                    requests.add_metric([*labels, str(code)], count)
                running = 0
                buckets = []
                for bound, count in zip((*BOUNDS, float("inf")), series.hist, strict=True):
                    running += count
                    buckets.append((_le(bound), running))
                duration.add_metric(labels, buckets, series.latency_sum)
        cpu = CounterMetricFamily(
            "epdev_instance_cpu_seconds_total",
            "CPU time (user + system) of an instance's worker process, across its restarts.",
            labels=["endpoint", "deployment", "instance"],
        )
        memory = GaugeMetricFamily(
            "epdev_instance_memory_bytes",
            "Resident memory of an instance's worker process.",
            labels=["endpoint", "deployment", "instance"],
        )
        restarts = CounterMetricFamily(
            "epdev_instance_restarts_total",
            "Times an instance died and was restarted.",
            labels=["endpoint", "deployment", "instance"],
        )
        ready = GaugeMetricFamily(
            "epdev_instance_ready",
            "1 when the instance is ready to serve, else 0.",
            labels=["endpoint", "deployment", "instance"],
        )
        for resources in list(self.resources.deployments.values()):
            for stats in list(resources.instances.values()):
                labels = [resources.endpoint, resources.deployment, stats.name]
                cpu.add_metric(labels, stats.cpu_seconds)
                memory.add_metric(labels, stats.memory_bytes)
                restarts.add_metric(labels, stats.restarts)
                ready.add_metric(labels, 1.0 if stats.state == "Ready" else 0.0)
        for endpoint, deployment, count in self.in_flight():
            in_flight.add_metric([endpoint, deployment], count)
        yield from (requests, duration, in_flight, cpu, memory, restarts, ready)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def registry(collector: EpdevCollector) -> CollectorRegistry:
    """A registry of epdev's metrics and the devserver process's own (process_*)."""
    found = CollectorRegistry()
    found.register(collector)
    ProcessCollector(registry=found)
    return found


def exposition(found: CollectorRegistry) -> bytes:
    return generate_latest(found)
