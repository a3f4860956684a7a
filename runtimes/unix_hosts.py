"""Host names that stand for instances' Unix sockets, so HTTP clients reach them by URL.

An instance that listens on a Unix socket has a URL such as http://epdev-1f2e3d4c5b6a7988.invalid:
its host is registered here with the socket's path, and the devserver's connector
(epdev.devserver.hop) connects there. `.invalid` never resolves, so a client that does not know
the name fails at once instead of reaching anything else.
"""

from __future__ import annotations

import secrets

_paths: dict[str, str] = {}


def register(path: str) -> str:
    """A new host name for the socket at `path`."""
    host = f"epdev-{secrets.token_hex(8)}.invalid"
    _paths[host] = path
    return host


def forget(host: str) -> None:
    _paths.pop(host, None)


def path_for(host: str) -> str | None:
    """The socket a registered host stands for; None for any other host."""
    return _paths.get(host)
