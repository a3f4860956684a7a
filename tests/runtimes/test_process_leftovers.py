"""The process runtime's instance ends take what the script started, and say why they ended."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from runtime_helpers import Sink, create, make_spec, write_script
from support.waiting import wait_until

from epdev.runtimes import InstanceFailed
from epdev.runtimes.oom import memory_hint

SPAWNS = """
import json, os, subprocess

def init():
    child = subprocess.Popen(["sleep", "3600"])
    started = subprocess.run(
        ["sh", "-c", "setsid sleep 3601 >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True,
    )
    with open(os.environ["PIDS_FILE"], "w") as f:
        json.dump([child.pid, int(started.stdout)], f)

def run(raw_data):
    return raw_data
"""


def ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ended(pids: list[int], timeout: float = 10.0) -> bool:
    return wait_until(
        lambda: all(ended(p) for p in pids),
        timeout,
        interval=0.05,
        what=f"pids {pids} have not all ended",
    )


@pytest.mark.parametrize("how", ["stop", "crash"])
def test_what_a_script_started_ends_with_its_instance(tmp_path: Path, how: str) -> None:
    pids_file = tmp_path / "pids.json"
    spec = make_spec(
        tmp_path,
        write_script(tmp_path / "code", SPAWNS),
        environment_variables={"PIDS_FILE": str(pids_file)},
    )
    sink = Sink()

    async def scenario() -> list[int]:
        instance = create(spec, sink)
        await instance.start(30)
        pids: list[int] = json.loads(pids_file.read_text())
        assert not any(ended(p) for p in pids)
        if how == "stop":
            await instance.stop()
        else:
            assert instance.pid is not None
            os.kill(instance.pid, signal.SIGKILL)
            # The instance has ended once what its script started has gone too.
            await instance.wait()
            await instance.stop()
        return pids

    pids = asyncio.run(scenario())
    assert wait_ended(pids, timeout=2.0)
    # (A stop's SIGTERM to the group may have ended the child already.)
    line = sink.wait_for("process(es) its script had started", stream="epdev")
    assert f"sleep (pid {pids[1]}, own session)" in line


def test_a_worker_that_exits_without_a_word_is_reported_by_its_exit(tmp_path: Path) -> None:
    script = "import os\n\ndef init():\n    os._exit(9)\n\ndef run(raw_data):\n    return 1\n"
    instance = create(make_spec(tmp_path, write_script(tmp_path / "code", script)), Sink())

    async def scenario() -> str:
        with pytest.raises(InstanceFailed) as failed:
            await instance.start(30)
        return str(failed.value)

    assert asyncio.run(scenario()) == (
        "the worker process exited with exit code 9 before it was ready, without printing an error"
    )


def test_a_deleted_code_folder_is_named(tmp_path: Path) -> None:
    code = write_script(tmp_path / "code", "def init():\n    pass\n\ndef run(d):\n    return d\n")
    spec = make_spec(tmp_path, code)
    (code / "score.py").unlink()
    code.rmdir()

    async def scenario() -> str:
        with pytest.raises(InstanceFailed) as failed:
            await create(spec, Sink()).start(30)
        return str(failed.value)

    assert f"the code folder {code} does not exist" in asyncio.run(scenario())


def test_a_kill_from_outside_gets_a_memory_hint() -> None:
    assert "out-of-memory" in memory_hint(-signal.SIGKILL, None)
    assert memory_hint(1, None) == ""
    assert memory_hint(-signal.SIGTERM, None) == ""


def test_a_subreaper_reaps_the_marked_orphans_it_adopted(tmp_path: Path) -> None:
    # In a process of its own: pytest itself must not become a subreaper.
    program = textwrap.dedent(
        """
        import os, subprocess, sys, time
        from epdev.runtimes import leftovers
        assert leftovers.become_subreaper()
        env = {**os.environ, leftovers.MARK_VAR: "scope.mark"}
        # The shell starts a marked sleep and exits at once: the sleep is orphaned to us.
        subprocess.run(["sh", "-c", "sleep 0.3 &"], env=env, check=True)
        deadline = time.monotonic() + 10
        reaped = 0
        while reaped == 0 and time.monotonic() < deadline:
            reaped += leftovers.reap_adopted()
            time.sleep(0.05)
        print(reaped, leftovers._children())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.split() == ["1", "[]"]
