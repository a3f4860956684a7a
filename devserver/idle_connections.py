"""Idle keep-alive connections at shutdown: closed at once, so `epdev stop` does not wait on them.

uvicorn closes a connection that has no request in flight when it shuts down, and then waits
(its graceful timeout, 10 s here) until every connection is gone. Closing a TLS connection sends
close_notify and waits for the client's, which a client that keeps the connection in a pool and
is not reading it (a `requests` call whose response is still held, a notebook's session) never
sends. Such a connection is aborted shortly after its close instead: no answer is lost, since
none was being sent, and a pooled client reconnects on its next call as after any server close.
"""

from __future__ import annotations

import asyncio
from typing import Any

CLOSE_GRACE = 0.5
"""Seconds an idle connection's peer has to answer the close before it is aborted."""


class ClosesIdleAtShutdown:
    """A mixin for uvicorn's HTTP protocols (before them in the bases)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def shutdown(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()  # type: ignore[misc]
        if idle:
            # abort() on a transport that has closed meanwhile does nothing.
            self.loop.call_later(CLOSE_GRACE, self.transport.abort)
