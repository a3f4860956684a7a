"""The raw ASGI pieces that the devserver's router and the in-instance worker both use.

The worker runs from a copy of its code in a user's environment (epdev.runtimes.bundle ships this
file with it), so this module imports the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
UNBOUNDED = -1


class BodyTooLarge(Exception):
    """The body grew past the reader's limit; nothing more of it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class Disconnected(Exception):
    """The client left before its body was all sent."""


async def read_body(receive: Receive, limit: int = UNBOUNDED, *, whole: bool = False) -> bytes:
    """The request's body; BodyTooLarge once more than `limit` bytes have come (when given).

    A client that leaves before the end raises Disconnected when `whole` is set; otherwise the
    body ends there (the worker has always handed run() what came).
    """
    # One message is the common case: no list to gather chunks in, no join.
    message = await receive()
    if message["type"] != "http.request":
        if whole:
            raise Disconnected
        return b""
    body: bytes = message.get("body", b"")
    if 0 <= limit < len(body):
        raise BodyTooLarge(limit)
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            if whole:
                raise Disconnected
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if 0 <= limit < size:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def header(raw: Headers, name: bytes) -> str | None:
    """The first value of the (lower-case) header `name`, as text, or None."""
    for key, value in raw:
        if key == name:
            return value.decode("latin-1")
    return None


def header_map(raw: Headers) -> dict[bytes, bytes]:
    """Request headers by lower-case name; repeated headers joined with commas."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        key = name.lower()
        found[key] = found[key] + b"," + value if key in found else value
    return found


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """Send `body` whole with `headers`, to which its Content-Length is added last."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, extra: Iterable[tuple[bytes, bytes]] = ()
) -> int:
    """Send `payload` as JSON, with `extra` headers after its Content-Type and Content-Length;
    the body's size."""
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return len(body)
