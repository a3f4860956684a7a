"""The Docker engine connection: which socket, a client that answers, engine errors in a line.

The Docker SDK blocks: callers run these calls in `asyncio.to_thread` or a thread of their own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import docker
import docker.errors
import requests

from epdev.runtimes.instance import InstanceFailed

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
API_TIMEOUT = 60
"""Seconds an ordinary engine call may take (not builds, waits or log streams)."""

ClientFactory = Callable[[], docker.DockerClient]
EngineErrors = (docker.errors.DockerException, requests.RequestException, OSError)


def engine_address() -> str:
    """The engine socket the default client tries, for messages."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def default_client() -> docker.DockerClient:
    """A client for DOCKER_HOST (else the default socket), as the docker CLI would use."""
    address = engine_address()
    if address.startswith("unix://"):
        # The SDK leaks its socket when connecting fails; find out first with one we close.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(API_TIMEOUT)
            probe.connect(address.removeprefix("unix://"))
    return docker.from_env(timeout=API_TIMEOUT)


def connect(factory: ClientFactory = default_client) -> docker.DockerClient:
    """A client whose engine answers, or InstanceFailed saying which socket did not."""
    client: docker.DockerClient | None = None
    try:
        client = factory()
        client.ping()
    except EngineErrors as exc:
        if client is not None:
            client.close()
        raise InstanceFailed(
            f"no Docker engine answers at {engine_address()} ({engine_reason(exc)}); start one, "
            "set DOCKER_HOST, or deploy with --runtime process"
        ) from None
    return client


def engine_reason(exc: BaseException) -> str:
    """Why an engine call failed, in a few words."""
    # The SDK nests the socket error a few exceptions deep; the innermost one says it best.
    inner: BaseException = exc
    while True:
        nested = inner.__cause__ or inner.__context__
        if nested is None or nested is inner:
            break
        inner = nested
    for candidate in (inner, exc):
        if isinstance(candidate, FileNotFoundError):
            return "no such socket"
        if isinstance(candidate, ConnectionRefusedError):
            return "connection refused"
        if isinstance(candidate, PermissionError):
            return "permission denied"
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def short_error(exc: BaseException) -> str:
    """An engine error's first line (its explanation when the SDK gives one), bounded."""
    text = str(getattr(exc, "explanation", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."
