"""`epdev` alone: embed a devserver (stopped on quit) or attach to one (left running)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from epdev.devserver.cli.main import cli
from epdev.devserver.client import Connection
from epdev.devserver.home import Home
from epdev.devserver.server import ServeOptions, start_detached, stop

pytestmark = pytest.mark.slow


class Opened:
    """Stands in for the dashboard: records how it was opened and what ran meanwhile."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.calls: list[dict[str, Any]] = []

    def __call__(self, connection: Connection, *, read_only: bool, embedded: bool) -> None:
        running = self.home.running_server()
        self.calls.append(
            {
                "url": connection.url,
                "read_only": read_only,
                "embedded": embedded,
                "running": running is not None,
                "pid": running.pid if running else None,
            }
        )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    for name in [k for k in os.environ if k.startswith("EPDEV_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EPDEV_HOME", str(tmp_path / "home"))
    return Home(tmp_path / "home")


@pytest.fixture
def opened(home: Home, monkeypatch: pytest.MonkeyPatch) -> Opened:
    import epdev.tui.launch

    fake = Opened(home)
    monkeypatch.setattr(epdev.tui.launch, "run", fake)
    return fake


def test_no_devserver_starts_one_and_stops_it_on_quit(home: Home, opened: Opened) -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    [call] = opened.calls
    assert call["embedded"] and call["running"]
    assert call["url"].startswith("https://127.0.0.1:")
    assert home.running_server() is None  # stopped with the dashboard


def test_a_running_devserver_is_attached_and_left_running(home: Home, opened: Opened) -> None:
    info = start_detached(home, ServeOptions())
    try:
        result = CliRunner().invoke(cli, ["--read-only"])
        assert result.exit_code == 0, result.output
        [call] = opened.calls
        assert not call["embedded"] and call["read_only"]
        assert call["url"] == info.url and call["pid"] == info.pid
        running = home.running_server()
        assert running is not None and running.pid == info.pid
    finally:
        stop(home)


def test_server_option_attaches_to_that_url(
    home: Home, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.ensure()
    home.admin_token(create=True)
    monkeypatch.setenv("EPDEV_CA_BUNDLE", "/nonexistent/ca.pem")
    result = CliRunner().invoke(cli, ["--server", "https://10.1.2.3:8443"])
    assert result.exit_code == 0, result.output
    [call] = opened.calls
    assert call["url"] == "https://10.1.2.3:8443"
    assert not call["embedded"] and not call["running"]  # nothing was started


def test_a_devserver_that_cannot_start_is_one_line_not_a_traceback(
    home: Home, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    import epdev.devserver.cli.main as main

    def refuse(*args: Any, **kwargs: Any) -> None:
        from epdev.devserver.server import ServerError

        raise ServerError("cannot listen on 127.0.0.1:0: Address already in use")

    monkeypatch.setattr(main, "start_detached", refuse)
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 1
    assert "error: cannot listen" in result.output
    assert "Traceback" not in result.output
    assert not opened.calls
