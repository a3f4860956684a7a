"""Dashboard fixtures: an app on fixed data (snapshots, fast flows) or on a real devserver."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixed_source import BASE, FixedSource, fixed_clock
from support.sample_project import SampleProject, make_sample_project
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from epdev.devserver.client import AsyncClient, Client, ClientError, Connection
from epdev.devserver.home import Home
from epdev.devserver.pytest_plugin import EpdevServer
from epdev.tui.app import EpdevApp

SPECS = Path(__file__).parent / "specs"
ENDPOINT = "dash-ep"
OTHER = "other-ep"
SPLIT = {"blue": 90, "green": 10}


@pytest.fixture
def fixed_app() -> Callable[..., EpdevApp]:
    def make(source: FixedSource | None = None, **options: Any) -> EpdevApp:
        options.setdefault("cwd", SPECS)
        return EpdevApp(source or FixedSource(), server_url=BASE, clock=fixed_clock, **options)

    return make


@dataclass
class Live:
    """The session devserver with the sample endpoint (blue 90 / green 10) applied."""

    server: EpdevServer
    project: SampleProject
    connection: Connection

    @property
    def api(self) -> Client:
        return self.server.api

    def split(self) -> dict[str, int]:
        traffic: dict[str, int] = self.api.get_endpoint(ENDPOINT)["traffic"]
        return {k: v for k, v in traffic.items() if v}

    def invoke(self, times: int = 1, deployment: str | None = None) -> None:
        body = self.project.request_file.read_bytes()
        for _ in range(times):
            response = self.api.invoke(ENDPOINT, body, deployment=deployment)
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def live(epdev_server: EpdevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    project = make_sample_project(tmp_path_factory.mktemp("dashboard"), endpoint=ENDPOINT)
    epdev_server.apply(project.sample_dir, timeout=120)
    epdev_server.api.update_endpoint(ENDPOINT, traffic=SPLIT)
    epdev_server.api.create_endpoint({"name": OTHER, "auth_mode": "key"}, None)
    token = Home(epdev_server.home).admin_token()
    assert token is not None
    connection = Connection(epdev_server.url, token, epdev_server.ca_bundle)
    try:
        yield Live(epdev_server, project, connection)
    finally:
        for name in (ENDPOINT, OTHER):
            with contextlib.suppress(ClientError):
                epdev_server.api.delete_endpoint(name)


@pytest.fixture
def live_app(live: Live) -> Iterator[Callable[..., EpdevApp]]:
    """A dashboard on the real devserver; the split is back to blue 90 / green 10 after."""

    def make(**options: Any) -> EpdevApp:
        options.setdefault("cwd", live.project.sample_dir)
        options.setdefault("refresh_seconds", 0.2)
        return EpdevApp(AsyncClient(live.connection), server_url=live.connection.url, **options)

    yield make
    live.api.update_endpoint(ENDPOINT, traffic=SPLIT, mirror_traffic={"blue": 0, "green": 0})


def shown_text(widget: Widget) -> str:
    """The text a widget shows now, line by line, as its rendered lines hold it."""
    return "\n".join(line.text for line in widget.render_lines(Region(0, 0, *widget.outer_size)))


async def until(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 45.0) -> Any:
    """Let the app run until `predicate()` is truthy; fail with what it was otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await pilot.pause(0.05)
