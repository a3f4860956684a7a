"""Prometheus exposition: parsed with prometheus_client's own parser; who may scrape it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from epdev.devserver.app import DevserverApp
from epdev.devserver.cost import UsageLedger
from epdev.devserver.endpoints import Control
from epdev.devserver.home import Home
from epdev.devserver.metrics import BOUNDS, RequestMetrics
from epdev.devserver.prometheus import EpdevCollector, exposition, registry
from epdev.devserver.resources import ResourceSampler, Target
from epdev.runtimes import InstanceSpec, InstanceState
from epdev.runtimes.catalog import Runtimes


class Worker:
    def __init__(self, spec: InstanceSpec, pid: int) -> None:
        self.spec, self.pid, self.state = spec, pid, InstanceState.READY


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def test_exposition_parses_and_matches_what_was_recorded(tmp_path: Path) -> None:
    requests = RequestMetrics()
    for _ in range(7):
        requests.record("ep", "blue", 200, 0.003)
    requests.record("ep", "blue", 500, 0.2)
    requests.record("ep", "", 401, 0.0001)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        spec = InstanceSpec("ep", "blue", 0, tmp_path, "score.py", None)
        target = Target("ep", "blue", "k", [Worker(spec, proc.pid)], {"blue-0": 2})  # type: ignore[list-item]
        sampler = ResourceSampler(lambda: [target], UsageLedger(tmp_path / "u.json"))
        asyncio.run(sampler.sample())
        collector = EpdevCollector(requests, sampler, lambda: [("ep", "blue", 3)])
        text = exposition(registry(collector)).decode()
    finally:
        proc.kill()
        proc.wait()

    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["epdev_requests"] == "counter"
    assert families["epdev_request_duration_seconds"] == "histogram"
    assert families["epdev_instance_cpu_seconds"] == "counter"
    assert families["epdev_instance_memory_bytes"] == "gauge"
    assert families["epdev_instance_restarts"] == "counter"
    assert "process_cpu_seconds" in families  # the devserver's own

    samples = parse(text)
    assert samples["epdev_requests_total"] == {
        (("code", "200"), ("deployment", "blue"), ("endpoint", "ep")): 7,
        (("code", "500"), ("deployment", "blue"), ("endpoint", "ep")): 1,
        (("code", "401"), ("deployment", ""), ("endpoint", "ep")): 1,
    }
    blue = (("deployment", "blue"), ("endpoint", "ep"))
    assert samples["epdev_request_duration_seconds_count"][blue] == 8
    assert samples["epdev_request_duration_seconds_sum"][blue] == pytest.approx(7 * 0.003 + 0.2)
    buckets = {
        dict(labels)["le"]: value
        for labels, value in samples["epdev_request_duration_seconds_bucket"].items()
        if dict(labels)["deployment"] == "blue"
    }
    assert len(buckets) == len(BOUNDS) + 1
    assert buckets["0.002"] == 0 and buckets["0.003"] == 7
    assert buckets["0.15"] == 7 and buckets["0.2"] == 8 and buckets["+Inf"] == 8
    instance = (("deployment", "blue"), ("endpoint", "ep"), ("instance", "blue-0"))
    assert samples["epdev_instance_memory_bytes"][instance] > 0
    assert samples["epdev_instance_cpu_seconds_total"][instance] >= 0
    assert samples["epdev_instance_restarts_total"][instance] == 2
    assert samples["epdev_instance_ready"][instance] == 1
    assert samples["epdev_requests_in_flight"][blue] == 3


def test_metrics_are_free_from_loopback_and_need_the_token_from_elsewhere(
    tmp_path: Path,
) -> None:
    control = Control(Home(tmp_path / "home").ensure(), Runtimes(), "https://127.0.0.1:1")
    app = DevserverApp(control, "the-admin-token").api

    async def scrape(host: str, token: str | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(host, 50000))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://devserver") as client:
            return await client.get("/metrics", headers=headers)

    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        response = asyncio.run(scrape(host))
        assert response.status_code == 200, host
        assert "epdev_requests_total" in response.text
        assert response.headers["content-type"].startswith("text/plain")
    assert asyncio.run(scrape("192.0.2.7")).status_code == 401
    assert asyncio.run(scrape("192.0.2.7", "wrong")).status_code == 401
    assert asyncio.run(scrape("192.0.2.7", "the-admin-token")).status_code == 200
    control.store.close()
