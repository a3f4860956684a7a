"""Mirror traffic: copies of live calls sent to a candidate deployment, and the comparison report.

The cloud sends the copies and discards the answers; epdev keeps the comparison, which is what
a rollout decision needs. A copy goes beside its live call, never in its way: it never waits for
a slot, and the live answer reaches it through a future that the router settles once the caller
has its answer (or has none).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from epdev.devserver.calls import Call, CallRecorder
from epdev.devserver.hop import HopClient, HopError
from epdev.devserver.pool import Pool

EXCERPT = 300
EXAMPLES = 20


@dataclass
class MirrorStats:
    """Counts and recent examples for one endpoint's mirror traffic."""

    sent: int = 0
    compared: int = 0
    status_differs: int = 0
    body_differs: int = 0
    failed: int = 0
    skipped_busy: int = 0
    by_deployment: dict[str, int] = field(default_factory=dict)
    examples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EXAMPLES))

    def record(
        self,
        *,
        request_id: str,
        live: str,
        mirror: str,
        live_status: int,
        live_body: bytes,
        mirror_status: int,
        mirror_body: bytes,
    ) -> None:
        self.compared += 1
        status_differs = live_status != mirror_status
        body_differs = live_body != mirror_body
        self.status_differs += status_differs
        self.body_differs += body_differs
        if status_differs or body_differs:
            self.examples.append(
                {
                    "request_id": request_id,
                    "live": {
                        "deployment": live,
                        "status": live_status,
                        "body": _excerpt(live_body),
                    },
                    "mirror": {
                        "deployment": mirror,
                        "status": mirror_status,
                        "body": _excerpt(mirror_body),
                    },
                }
            )

    def view(self, target: dict[str, int]) -> dict[str, Any]:
        compared = self.compared or 1
        return {
            "mirror_traffic": target,
            "sent": self.sent,
            "compared": self.compared,
            "failed": self.failed,
            "skipped_busy": self.skipped_busy,
            "status_differs": self.status_differs,
            "body_differs": self.body_differs,
            "status_differs_rate": round(self.status_differs / compared, 4),
            "body_differs_rate": round(self.body_differs / compared, 4),
            "sent_to": dict(self.by_deployment),
            "examples": list(self.examples),
        }


def _excerpt(body: bytes) -> str:
    text = body[:EXCERPT].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > EXCERPT else "")


Live = tuple[str, int, bytes] | None
"""The live side of a mirrored call (deployment, status, body), or None when it got no answer."""


class MirroredRoute(Protocol):
    """What a copy needs of its endpoint's route (epdev.devserver.routing.Route)."""

    name: str
    pools: dict[str, Pool]
    timeouts: dict[str, float]
    limits: dict[str, tuple[int, float]]
    mirror_stats: MirrorStats


class Mirrors:
    """Sends the copies; `copies` holds those in flight, so none is collected before it ends."""

    def __init__(self, forwarder: HopClient, recorder: CallRecorder | None) -> None:
        self.forwarder = forwarder
        self.recorder = recorder
        self.copies: set[asyncio.Task[None]] = set()

    def start(
        self,
        route: MirroredRoute,
        target: str,
        method: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> asyncio.Future[Live]:
        """Send a copy of a live call to `target`; the future is for the live answer, which the
        copy compares its own with. The caller must settle it, whatever happens to the call."""
        live: asyncio.Future[Live] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            self._copy(route, target, method, headers, body, request_id, live)
        )
        self.copies.add(task)
        task.add_done_callback(self.copies.discard)
        return live

    async def _copy(
        self,
        route: MirroredRoute,
        target: str,
        method: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        live: asyncio.Future[Live],
    ) -> None:
        stats = route.mirror_stats
        pool = route.pools.get(target)
        limit, _ = route.limits.get(target, (1, 0.0))
        slot = None if pool is None else await pool.acquire(limit, 0)
        if pool is None or slot is None:
            stats.skipped_busy += 1  # the candidate is full: a copy never queues
            return
        stats.sent += 1
        stats.by_deployment[target] = stats.by_deployment.get(target, 0) + 1
        call = Call()
        call.endpoint, call.deployment, call.routed_by = route.name, target, "mirror"
        call.instance, call.method, call.request_id = slot.instance.spec.name, method, request_id
        call.bytes_in = len(body)
        started = time.perf_counter()
        timeout = route.timeouts.get(target, 5.0)
        try:
            answer = await self.forwarder.request(
                method, slot.url, "/score", headers, body, timeout
            )
            status, payload = answer.status, answer.body
        except (TimeoutError, HopError):
            stats.failed += 1
            status, payload = 0, b""
        finally:
            pool.release(slot, limit)
        if self.recorder is not None:
            call.status, call.bytes_out = status or 502, len(payload)
            call.seconds, call.stamp = time.perf_counter() - started, time.time()
            self.recorder.note(call, route.name)
        answered = await live
        if status and answered is not None:
            live_deployment, live_status, live_body = answered
            stats.record(
                request_id=request_id,
                live=live_deployment,
                mirror=target,
                live_status=live_status,
                live_body=live_body,
                mirror_status=status,
                mirror_body=payload,
            )


def settle(live: asyncio.Future[Live], answered: Live) -> None:
    """Hand the live answer (None: there was none) to the copy waiting for it."""
    if not live.done():  # cancelled with its copy, when the devserver stops
        live.set_result(answered)
