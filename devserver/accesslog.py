"""The access log: one JSON line per scoring call, one file per endpoint.

    logs/<endpoint>/access.jsonl   (deployment logs there end in .log, so names cannot clash)

A line holds the time, request id, deployment, how it was chosen, instance, method, status,
duration and sizes; never a body, a header value other than the request id, or a key.

Lines are written in batches from the router's queue of calls (epdev.devserver.calls), each
formatted with an f-string (names are validated identifiers; only the caller's request id needs
escaping) and appended to a buffered file. A task calls `flush` every second, which also rotates
files past the size cap.
"""

from __future__ import annotations

import contextlib
import json.encoder
import os
import time
from pathlib import Path
from typing import TextIO

FILE_NAME = "access.jsonl"
MAX_BYTES = 20 * 1024 * 1024
BACKUPS = 2
BUFFER_BYTES = 64 * 1024

# What json.dumps does for a str, without its dispatch: the request id is the one free text.
_quote = json.encoder.encode_basestring_ascii


class AccessLogs:
    def __init__(
        self,
        logs_dir: Path,
        *,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
    ) -> None:
        self.logs_dir = logs_dir
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0
        self._files: dict[str, TextIO] = {}
        self._second = -1
        self._prefix = ""
        # The part of a line between the request id and the status, per kind of call.
        self._middles: dict[tuple[str, str | None, str | None, str | None, str], str] = {}

    def path(self, endpoint: str) -> Path:
        return self.logs_dir / endpoint / FILE_NAME

    def line(
        self,
        stamp: float,
        endpoint: str,
        request_id: str,
        deployment: str | None,
        routed_by: str | None,
        instance: str | None,
        method: str,
        status: int,
        seconds: float,
        bytes_in: int,
        bytes_out: int,
    ) -> str:
        """One call's line, newline included."""
        second = int(stamp)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        kind = (endpoint, deployment, routed_by, instance, method)
        middle = self._middles.get(kind)
        if middle is None:
            if len(self._middles) > 1024:  # methods are whatever callers send
                self._middles.clear()
            middle = self._middles[kind] = (
                f',"endpoint":"{endpoint}","deployment":{_name(deployment)},'
                f'"routed_by":{_name(routed_by)},"instance":{_name(instance)},'
                f'"method":"{method}","status":'
            )
        return (
            f'{{"time":"{self._prefix}.{int((stamp - second) * 1000):03d}Z",'
            f'"request_id":{_quote(request_id)}{middle}{status},'
            f'"duration_ms":{seconds * 1000:.3f},"bytes_in":{bytes_in},"bytes_out":{bytes_out}}}\n'
        )

    def write(
        self,
        stamp: float,
        endpoint: str,
        request_id: str,
        deployment: str | None,
        routed_by: str | None,
        instance: str | None,
        method: str,
        status: int,
        seconds: float,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        """Append one call's line."""
        self.append(
            endpoint,
            self.line(
                stamp,
                endpoint,
                request_id,
                deployment,
                routed_by,
                instance,
                method,
                status,
                seconds,
                bytes_in,
                bytes_out,
            ),
        )

    def append(self, endpoint: str, text: str) -> None:
        """Append lines to an endpoint's log (buffered; `flush` writes them out)."""
        try:
            handle = self._files.get(endpoint)
            if handle is None:
                handle = self._open(endpoint)
            handle.write(text)
        except OSError:
            # A full disk must not fail the devserver.
            self.dropped += 1

    def _open(self, endpoint: str) -> TextIO:
        path = self.path(endpoint)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = path.open("a", encoding="utf-8", buffering=BUFFER_BYTES)
        self._files[endpoint] = handle
        return handle

    def flush(self) -> None:
        """Write out what is buffered, and rotate files grown past the cap."""
        for endpoint, handle in list(self._files.items()):
            try:
                handle.flush()
                size = os.fstat(handle.fileno()).st_size
            except OSError:
                continue
            if size > self.max_bytes:
                self.close(endpoint)
                self._rotate(self.path(endpoint))

    def _rotate(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            for index in range(self.backups - 1, 0, -1):
                older = path.with_name(f"{path.name}.{index}")
                if older.exists():
                    older.replace(path.with_name(f"{path.name}.{index + 1}"))
            if self.backups > 0:
                path.replace(path.with_name(f"{path.name}.1"))
            else:
                path.unlink()

    def close(self, endpoint: str | None = None) -> None:
        """Flush and close one endpoint's file (it reopens on the next call), or all of them."""
        names = list(self._files) if endpoint is None else [endpoint]
        for name in names:
            handle = self._files.pop(name, None)
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()


def _name(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'
