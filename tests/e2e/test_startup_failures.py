"""A devserver that cannot start says why in its last line (issue 19): a full disk, a port in
use, a read-only home; never only uvicorn's "Application startup failed"."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.devserver import EPDEV, running_server
from support.small_disk import fill, small_tmpfs

pytestmark = pytest.mark.slow


def _serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
    env["EPDEV_HOME"] = str(home)
    return subprocess.run(
        [*EPDEV, "serve", *args], env=env, capture_output=True, text=True, timeout=90
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _leave_a_pending_write(home: Path) -> None:
    """What a killed devserver leaves: its WAL and a row that the next start must delete."""
    code = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute(\"INSERT INTO instance_pids VALUES (999999, 'ep', 'blue')\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(home / "state.db")], check=True)
    assert (home / "state.db-wal").exists()


def test_a_full_disk_at_start_up_is_named(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        home = disk / "home"
        with running_server(home):
            pass
        _leave_a_pending_write(home)
        fill(disk / "filler")

        result = _serve(home)
        assert result.returncode != 0
        last = _last_line(result)
        assert last.startswith("error: the devserver cannot start: "), result.stderr[-2000:]
        assert "database or disk is full" in last
        assert "free on the disk of" in last

        detached = _serve(home, "--detach")
        assert detached.returncode != 0
        assert f"the disk of {home} is full" in _last_line(detached), detached.stderr

        (disk / "filler").unlink()
        with running_server(home) as server:  # space again: it starts, the row is gone
            assert sqlite3.connect(server.home / "state.db").execute(
                "SELECT count(*) FROM instance_pids"
            ).fetchone() == (0,)


def test_a_full_disk_before_the_home_exists_is_named(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        fill(disk / "filler")
        result = _serve(disk / "home")
        assert result.returncode != 0
        last = _last_line(result)
        assert "No space left on device" in last, result.stderr
        assert "free on the disk of" in last
        assert "Traceback" not in result.stderr


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in ((), ("--detach",)):
            result = _serve(tmp_path / "home", "--port", str(port), *args)
            assert result.returncode != 0
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in _last_line(
                result
            ), result.stderr


def test_a_read_only_home_is_named(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = _serve(disk / "home")
        assert result.returncode != 0
        assert "Read-only file system" in _last_line(result), result.stderr
        assert "Traceback" not in result.stderr
