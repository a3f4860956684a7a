"""Scoring calls as the router saw them, queued for the metrics and the access log.

The router fills in one `Call` per request anyway; recording it is appending a tuple of its
plain values to a list (a tuple of strings and numbers drops out of the garbage collector's
sight at its first pass, where a waiting `Call` would be promoted and rescanned). Turning calls
into per-second aggregates and access-log lines happens in `drain`, which the devserver runs a
few times a second and before anything reads the metrics: in a batch, with warm caches, while
the request path stays one append.
"""

from __future__ import annotations

from epdev.devserver.accesslog import AccessLogs
from epdev.devserver.metrics import RequestMetrics

Noted = tuple[float, str, str, str | None, str | None, str | None, str, int, float, int, int]
"""(stamp, endpoint, request id, deployment, routed by, instance, method, status, seconds,
bytes in, bytes out) of one answered call."""

MAX_PENDING = 50_000
"""Calls kept waiting at most; past this the router drains them itself (bounded memory)."""


class Call:
    """What the router learns about one call as it goes."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "deployment",
        "endpoint",
        "instance",
        "method",
        "request_id",
        "routed_by",
        "seconds",
        "stamp",
        "status",
    )

    def __init__(self) -> None:
        self.endpoint: str | None = None
        self.deployment: str | None = None
        self.routed_by: str | None = None
        self.instance: str | None = None
        self.method = ""
        self.request_id = ""
        self.status = 0
        self.seconds = 0.0
        self.stamp = 0.0
        self.bytes_in = 0
        self.bytes_out = 0


class CallRecorder:
    def __init__(self, metrics: RequestMetrics, access: AccessLogs | None) -> None:
        self.metrics = metrics
        self.access = access
        self.pending: list[Noted] = []

    def note(self, call: Call, endpoint: str) -> None:
        """Queue a finished call (the router's only recording work)."""
        pending = self.pending
        pending.append(
            (
                call.stamp,
                endpoint,
                call.request_id,
                call.deployment,
                call.routed_by,
                call.instance,
                call.method,
                call.status,
                call.seconds,
                call.bytes_in,
                call.bytes_out,
            )
        )
        if len(pending) >= MAX_PENDING:
            self.drain()

    def drain(self, limit: int | None = None) -> int:
        """Count queued calls, oldest first, and write their access-log lines: all of them, or
        at most `limit`. Returns how many are still queued."""
        pending = self.pending
        if limit is None or len(pending) <= limit:
            self.pending = []
        else:
            pending, self.pending = pending[:limit], pending[limit:]
        record = self.metrics.record_at
        for stamp, endpoint, _, deployment, _, _, _, status, seconds, _, _ in pending:
            record(endpoint, deployment or "", status, seconds, int(stamp))
        if self.access is None:
            return len(self.pending)
        line = self.access.line
        lines: dict[str, list[str]] = {}
        for noted in pending:
            endpoint = noted[1]
            text = line(*noted)
            found = lines.get(endpoint)
            if found is None:
                lines[endpoint] = [text]
            else:
                found.append(text)
        for endpoint, texts in lines.items():
            self.access.append(endpoint, "".join(texts))
        return len(self.pending)
