"""A steady, bounded scoring load from a few client threads, counting every answer."""

from __future__ import annotations

import collections
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class LoadResult:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    bodies: list[Any] = field(default_factory=list)
    served_by: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failed(self) -> int:
        return self.total - self.statuses[200]

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.total} requests in {self.seconds:.1f} s ({self.rate:.0f}/s), "
            f"statuses {dict(self.statuses)}, errors {dict(self.errors)}"
        )


@contextmanager
def steady_load(
    uri: str,
    key: str,
    ca_bundle: str | None,
    *,
    threads: int = 4,
    body: Any = None,
    keep_bodies: bool = False,
) -> Iterator[LoadResult]:
    """POST to `uri` from `threads` keep-alive clients until the block ends."""
    result = LoadResult()
    stop = threading.Event()
    verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True

    def client() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(verify=verify, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post(uri, json=body or {}, headers=headers)
                except httpx.HTTPError as exc:
                    with result.lock:
                        result.errors[type(exc).__name__] += 1
                    continue
                with result.lock:
                    result.statuses[response.status_code] += 1
                    result.served_by[response.headers.get("azureml-model-deployment", "")] += 1
                    if keep_bodies and response.status_code == 200:
                        result.bodies.append(response.json())

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        yield result
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        result.seconds = time.monotonic() - started


def wait_for_requests(
    result: LoadResult, count: int, timeout: float = 60, at_least: float = 0.0
) -> None:
    """Block until the load has seen `count` more answers, and `at_least` seconds have passed."""
    target = result.total + count
    started = time.monotonic()
    deadline = started + timeout
    while result.total < target or time.monotonic() - started < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"the load made no progress: {result.summary()}")
        time.sleep(0.05)
