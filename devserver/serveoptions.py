"""How a devserver serves (address, scheme, runtime, limits) and the defaults of each.

Import-light on purpose: `epdev serve --detach` and `epdev stop` read it without loading the
server (see `epdev.devserver.detached`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from epdev.runtimes.catalog import DEFAULT_BASE_IMAGE

DEFAULT_TOKEN_LIFETIME = dt.timedelta(hours=1)
# Large enough for images and batches of rows sent inline; a caller sending more gets a 413.
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
DEFAULT_READ_TIMEOUT = 20.0


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    insecure_http: bool = False
    runtime: str = "auto"
    base_image: str = DEFAULT_BASE_IMAGE
    token_lifetime: int = int(DEFAULT_TOKEN_LIFETIME.total_seconds())
    max_request_mb: float = DEFAULT_MAX_REQUEST_BYTES / 1024 / 1024
    read_timeout: float = DEFAULT_READ_TIMEOUT
    """Seconds a request's headers may take to arrive (and its body, plus 1 s per 500 bytes)."""
