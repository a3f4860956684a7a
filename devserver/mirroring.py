"""Mirror traffic's report: how often the candidate answered differently from the live deployment.

The cloud sends the copies and discards the answers; epdev keeps the comparison, which is what
a rollout decision needs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

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
