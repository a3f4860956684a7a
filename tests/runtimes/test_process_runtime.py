"""The process runtime: starting, failing, stopping and losing real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
from runtime_helpers import Sink, create, make_spec, write_script
from support.sample_project import SAMPLE_REQUEST, SampleProject
from support.waiting import wait_until

from epdev.runtimes import InstanceFailed, InstanceState, ProcessRuntime
from epdev.runtimes.output import MAX_LINE, pump_lines
from epdev.runtimes.process import last_meaningful

ECHO = """
import os

def init():
    pass

def run(raw_data):
    return raw_data
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    return wait_until(lambda: gone(pid), timeout, interval=0.05, what=f"pid {pid} still runs")


async def start_failure(tmp_path: Path, script: str, timeout: float = 10) -> tuple[str, Sink]:
    sink = Sink()
    instance = create(make_spec(tmp_path, write_script(tmp_path / "code", script)), sink)
    with pytest.raises(InstanceFailed) as failed:
        await instance.start(timeout)
    assert instance.state == InstanceState.FAILED
    assert instance.pid is not None and gone(instance.pid)
    return str(failed.value), sink


def test_the_sample_project_predicts_what_its_model_predicts(
    sample_project: SampleProject, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path,
        sample_project.code_dir(1),
        model_path=sample_project.model_file(1).parent,
        environment_variables={"MODEL_TAG": "blue"},
    )
    sink = Sink()

    async def scenario() -> None:
        instance = ProcessRuntime().create_instance(spec, sink)
        await instance.start(30)
        assert instance.state == InstanceState.READY
        async with httpx.AsyncClient(base_url=instance.url) as client:
            response = await client.post("/score", json=SAMPLE_REQUEST)
        assert response.status_code == 200
        assert response.json() == pytest.approx(sample_project.expected_predictions(1))
        await instance.stop()
        await instance.stop()  # twice is fine
        assert instance.state == InstanceState.STOPPED
        assert instance.pid is not None and gone(instance.pid)
        with pytest.raises(httpx.ConnectError):
            httpx.get(instance.url)

    asyncio.run(scenario())
    sink.wait_for("Init complete", stream="stderr")
    sink.wait_for("model blue: request received", stream="stderr")


def test_init_raising_fails_the_start_with_the_exception(tmp_path: Path) -> None:
    script = """
    def init():
        raise ValueError("init-boom")

    def run(raw_data):
        return raw_data
    """
    message, sink = asyncio.run(start_failure(tmp_path, script))
    assert "init() failed: ValueError: init-boom" in message
    assert "exit code 3" in message
    assert "\n" not in message
    sink.wait_for("init() raised", stream="stderr")
    sink.wait_for("Traceback (most recent call last)", stream="stderr")
    sink.wait_for("ValueError: init-boom", stream="stderr")
    sink.wait_for("files under AZUREML_MODEL_DIR", stream="stderr")


def test_init_hanging_fails_after_the_timeout_and_leaves_no_process(tmp_path: Path) -> None:
    script = """
    import time

    def init():
        print("init-started", flush=True)
        time.sleep(60)

    def run(raw_data):
        return raw_data
    """
    started = time.monotonic()
    message, sink = asyncio.run(start_failure(tmp_path, script, timeout=1.5))
    assert message == "init() did not finish within 1.5 s"
    assert time.monotonic() - started < 5
    sink.wait_for("init-started", stream="stdout")


def test_a_script_without_run_fails_clearly(tmp_path: Path) -> None:
    message, _ = asyncio.run(start_failure(tmp_path, "def init():\n    pass\n"))
    assert "does not have a run() function defined" in message
    assert "score.py" in message


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("*args", "run() cannot accept positional-only arguments, *args, or **kwargs."),
        ("request_headers", 'run() needs to accept an argument other than "request_headers".'),
        ("", "run() needs to accept an argument for input data."),
    ],
)
def test_a_run_azure_cannot_call_is_refused(tmp_path: Path, signature: str, expected: str) -> None:
    script = f"def init():\n    pass\n\ndef run({signature}):\n    return 1\n"
    message, _ = asyncio.run(start_failure(tmp_path, script))
    assert message == f"{expected} (exit code 3)"


def test_a_script_that_fails_to_import_says_what_is_missing(tmp_path: Path) -> None:
    message, sink = asyncio.run(start_failure(tmp_path, "import no_such_module_here\n"))
    assert "Failed to import user script" in message
    assert "No module named 'no_such_module_here'" in message
    sink.wait_for("ModuleNotFoundError", stream="stderr")


def test_a_missing_script_file_is_reported(tmp_path: Path) -> None:
    code_dir = tmp_path / "code"
    code_dir.mkdir()

    async def scenario() -> str:
        instance = create(make_spec(tmp_path, code_dir), Sink())
        with pytest.raises(InstanceFailed) as failed:
            await instance.start(10)
        return str(failed.value)

    assert "No such file or directory" in asyncio.run(scenario())


def test_a_worker_dying_without_a_word_is_described_by_its_stderr(tmp_path: Path) -> None:
    script = """
    import os, sys

    def init():
        sys.stderr.write("Traceback (most recent call last):\\n  File x\\nFatalThing: gone\\n\\n")
        os._exit(7)

    def run(raw_data):
        return raw_data
    """
    message, _ = asyncio.run(start_failure(tmp_path, script))
    assert message == "the worker exited with exit code 7 before it was ready: FatalThing: gone"


def test_a_missing_model_fails_before_spawning(tmp_path: Path) -> None:
    code_dir = write_script(tmp_path / "code", ECHO)
    spec = make_spec(tmp_path, code_dir, model_path=tmp_path / "absent")

    async def scenario() -> None:
        instance = create(spec, Sink())
        with pytest.raises(InstanceFailed, match=r"model path .* does not exist"):
            await instance.start(10)
        assert instance.pid is None

    asyncio.run(scenario())


def test_wait_returns_when_the_instance_is_killed(tmp_path: Path) -> None:
    code_dir = write_script(tmp_path / "code", ECHO)

    async def scenario() -> None:
        instance = create(make_spec(tmp_path, code_dir), Sink())
        await instance.start(10)
        assert instance.pid is not None
        os.kill(instance.pid, signal.SIGKILL)
        assert await asyncio.wait_for(instance.wait(), 5) == -signal.SIGKILL
        assert instance.state == InstanceState.FAILED
        await instance.stop()
        assert instance.state == InstanceState.FAILED

    asyncio.run(scenario())


def test_stop_ends_an_instance_stuck_in_run(tmp_path: Path) -> None:
    script = """
    import time

    def init():
        pass

    def run(raw_data):
        time.sleep(60)
    """
    code_dir = write_script(tmp_path / "code", script)

    async def scenario() -> None:
        instance = create(make_spec(tmp_path, code_dir), Sink())
        await instance.start(10)
        async with httpx.AsyncClient(base_url=instance.url) as client:
            request = asyncio.ensure_future(client.post("/score", content="x"))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await instance.stop(grace=0.5)
            assert time.monotonic() - started < 3
            with pytest.raises(httpx.HTTPError):
                await request
        assert instance.pid is not None and gone(instance.pid)
        assert await instance.wait() == -signal.SIGKILL

    asyncio.run(scenario())


def test_a_cancelled_start_leaves_no_process(tmp_path: Path) -> None:
    script = """
    import time

    def init():
        print("waiting", flush=True)
        time.sleep(60)

    def run(raw_data):
        return raw_data
    """
    sink = Sink()
    instance = create(make_spec(tmp_path, write_script(tmp_path / "code", script)), sink)

    async def scenario() -> None:
        starting = asyncio.ensure_future(instance.start(30))
        while not sink.lines:
            await asyncio.sleep(0.02)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting

    asyncio.run(scenario())
    assert instance.state == InstanceState.FAILED
    assert instance.pid is not None and gone(instance.pid)


def test_an_instance_stopped_before_it_started_refuses_to_start(tmp_path: Path) -> None:
    instance = create(make_spec(tmp_path, write_script(tmp_path / "code", ECHO)), Sink())

    async def scenario() -> None:
        await instance.stop()
        with pytest.raises(InstanceFailed, match="stopped before it started"):
            await instance.start(10)
        assert instance.pid is None

    asyncio.run(scenario())


PARENT = """
import asyncio, sys
from pathlib import Path
from epdev.runtimes import InstanceSpec, ProcessRuntime

async def main():
    spec = InstanceSpec(endpoint="ep", deployment="orphan", index=0, code_dir=Path(sys.argv[1]),
                        scoring_script="score.py", model_path=None, work_dir=Path(sys.argv[2]))
    instance = ProcessRuntime().create_instance(spec, lambda stream, line: None)
    await instance.start(20)
    print(instance.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_the_worker_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    code_dir = write_script(tmp_path / "code", ECHO)
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(code_dir), str(tmp_path / "work")],
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            worker_pid = int(parent.stdout.readline())
            assert not gone(worker_pid)
        finally:
            parent.kill()
    assert wait_gone(worker_pid, timeout=5)


def test_the_model_dir_holds_the_model_by_name(tmp_path: Path) -> None:
    script = """
    import os

    def init():
        global found
        base = os.environ["AZUREML_MODEL_DIR"]
        found = {"entries": os.listdir(base)}
        for path in ("model/weights.txt", "weights.bin"):
            if os.path.exists(os.path.join(base, path)):
                with open(os.path.join(base, path)) as f:
                    found[path] = f.read()

    def run(raw_data):
        return found
    """
    code_dir = write_script(tmp_path / "code", script)
    folder = tmp_path / "models" / "model"
    folder.mkdir(parents=True)
    (folder / "weights.txt").write_text("folder weights")
    single = tmp_path / "models" / "weights.bin"
    single.write_text("file weights")

    async def found_with(model: Path | None, where: str) -> object:
        spec = make_spec(tmp_path / where, code_dir, model_path=model)
        instance = create(spec, Sink())
        await instance.start(10)
        try:
            async with httpx.AsyncClient(base_url=instance.url) as client:
                return (await client.post("/score", content="x")).json()
        finally:
            await instance.stop()

    async def scenario() -> None:
        assert await found_with(folder, "a") == {
            "entries": ["model"],
            "model/weights.txt": "folder weights",
        }
        assert await found_with(single, "b") == {
            "entries": ["weights.bin"],
            "weights.bin": "file weights",
        }

    asyncio.run(scenario())


def test_max_concurrent_requests_runs_that_many_run_calls_at_once(tmp_path: Path) -> None:
    script = """
    import threading

    def init():
        global barrier
        barrier = threading.Barrier(2, timeout=5)

    def run(raw_data):
        barrier.wait()
        return "met"
    """
    code_dir = write_script(tmp_path / "code", script)

    async def scenario() -> None:
        instance = create(make_spec(tmp_path, code_dir, max_concurrent_requests=2), Sink())
        await instance.start(10)
        try:
            async with httpx.AsyncClient(base_url=instance.url, timeout=10) as client:
                first, second = await asyncio.gather(
                    client.post("/score", content="a"), client.post("/score", content="b")
                )
            assert (first.json(), second.json()) == ("met", "met")
        finally:
            await instance.stop()

    asyncio.run(scenario())


def test_long_lines_and_binary_output_do_not_upset_the_runtime(tmp_path: Path) -> None:
    script = """
    import sys

    def init():
        sys.stdout.buffer.write(b"x" * 200000 + b"\\n" + b"\\xff\\xfe\\x00junk\\r\\n")
        sys.stdout.buffer.write(b"no newline at the end")
        sys.stdout.flush()

    def run(raw_data):
        return raw_data
    """
    sink = Sink()
    code_dir = write_script(tmp_path / "code", script)

    async def scenario() -> None:
        instance = create(make_spec(tmp_path, code_dir), sink)
        await instance.start(10)
        await instance.stop()

    asyncio.run(scenario())
    stdout = [line for stream, line in sink.lines if stream == "stdout"]
    assert "".join(stdout[:4]) == "x" * 200000
    assert all(len(line) <= MAX_LINE for line in stdout)
    assert "\ufffd\ufffd\x00junk" in stdout
    assert "no newline at the end" in stdout


def test_pump_lines_splits_decodes_and_survives_a_failing_sink() -> None:
    lines: list[str] = []

    def sink(stream: str, line: str) -> None:
        if line == "bad":
            raise RuntimeError("sink broke")
        lines.append(line)

    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"one\r\ntw")
        reader.feed_data(b"o\nbad\n\xffthree")
        reader.feed_eof()
        await pump_lines(reader, "stdout", sink)

    asyncio.run(scenario())
    assert lines == ["one", "two", "\ufffdthree"]


def test_last_meaningful_picks_the_exception_line() -> None:
    from collections import deque

    tail = deque(
        [
            "2026 ERROR [1] azmlinfsrv - init() raised, so this instance cannot serve:",
            "Traceback (most recent call last):",
            '  File "score.py", line 3, in init',
            "    raise KeyError('x')",
            "    ^^^^^^^^^^^^^^^^^^^",
            "KeyError: 'x'",
            "",
        ]
    )
    assert last_meaningful(tail) == "KeyError: 'x'"
    assert last_meaningful(deque()) == "it printed nothing on stderr"
