"""What the worker's apps answer: a call's outcome as status, headers and body, in Azure's words.

The scoring-script app, the MLflow app and the V2 app all answer with an `Outcome` and send it
with epdev.runtimes.asgi.respond, which adds the Content-Length last, as azmlinfsrv's server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from epdev.runtimes.asgi import JSON, Headers

HTML = b"text/html; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"
FALSE = b"False"
TRUE = b"True"
RUN_FAILED_HEADER = b"x-ms-run-function-failed"
RUN_MS_HEADER = b"x-ms-run-fn-exec-ms"

RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."


@dataclass(slots=True)
class Outcome:
    """What a call produced, ready to send: the headers get the Content-Length when sent."""

    status: int
    body: bytes
    headers: Headers


def message(text: str) -> bytes:
    return json.dumps({"message": text}).encode()


def error(status: int, text: str, *, run_failed: bool = False) -> Outcome:
    """azmlinfsrv's error: `{"message": ...}`, saying whether run() failed."""
    failed = TRUE if run_failed else FALSE
    return Outcome(status, message(text), [(b"content-type", JSON), (RUN_FAILED_HEADER, failed)])


def ran(body: bytes, elapsed_ms: float) -> Outcome:
    """run()'s (or predict's) JSON result, with the time it took as azmlinfsrv reports it."""
    ms = f"{elapsed_ms:.3f}".encode()
    return Outcome(
        200, body, [(b"content-type", JSON), (RUN_FAILED_HEADER, FALSE), (RUN_MS_HEADER, ms)]
    )


def run_time(elapsed_ms: float) -> tuple[bytes, bytes]:
    """The header that tells how long run() took (`ran` writes its own: one call fewer)."""
    return (RUN_MS_HEADER, f"{elapsed_ms:.3f}".encode())
