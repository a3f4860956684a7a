"""What `online-deployment create/update` shows while it waits: epdev's own log lines.

Those are the provisioning steps and, for the venv and docker runtimes, the environment and
image build lines, so a slow first build says what it is doing instead of printing dots. The
scoring script's own output stays in `get-logs`.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import click

from epdev.devserver.client import Client, ClientError

# Streams and source of the lines worth showing: the build, its warnings, epdev's own notes
# (the Docker runtime writes its notes, such as a substituted image, on an instance's "epdev"
# stream).
_SHOWN_STREAMS = frozenset({"build", "warning", "epdev"})
_SHOWN_SOURCE = "epdev"
# Fetching the log's tail is a round trip: often enough to read along, rarely enough to be free.
_FETCH_EVERY = 0.5
_TAIL = 200


def utc_stamp() -> str:
    """Now, as the deployment log stamps its lines (ISO 8601, milliseconds, Z)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProvisioningProgress:
    """A `tick` for wait_ready that echoes new provisioning lines to stderr as they appear,
    and dots on a terminal while there are none."""

    def __init__(self, api: Client, endpoint: str, name: str, since: str) -> None:
        self.api = api
        self.endpoint = endpoint
        self.name = name
        # Lines stamped before the request belong to an earlier create or update.
        self.since = since
        self._seen: set[str] = set()
        self._next_fetch = 0.0
        self._dots = False

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next_fetch:
            return
        self._next_fetch = now + _FETCH_EVERY
        if not self._echo_new() and sys.stderr.isatty():
            click.echo(".", err=True, nl=False)
            self._dots = True

    def finish(self) -> None:
        """Echo what was written since the last tick and end the line of dots."""
        self._echo_new()
        self._end_dots()

    def _echo_new(self) -> bool:
        try:
            text = self.api.deployment_logs(self.endpoint, self.name, _TAIL)
        except ClientError:
            return False  # progress is a courtesy: the wait itself reports real failures
        printed = False
        for raw in text.splitlines():
            shown = shown_text(raw, self.since)
            if shown is None or raw in self._seen:
                continue
            self._seen.add(raw)
            self._end_dots()
            click.echo(f"  {shown}", err=True)
            printed = True
        return printed

    def _end_dots(self) -> None:
        if self._dots:
            click.echo(err=True)
            self._dots = False


def shown_text(line: str, since: str) -> str | None:
    """The text of a provisioning line written at or after `since`, or None to skip it.

    Log lines read `TIME SOURCE STREAM [LEVEL] | text`.
    """
    head, sep, text = line.partition(" | ")
    fields = head.split()
    if not sep or len(fields) < 3 or fields[0] < since:
        return None
    source, stream = fields[1], fields[2]
    if source != _SHOWN_SOURCE and stream not in _SHOWN_STREAMS:
        return None
    return text
