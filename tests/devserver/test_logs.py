"""Deployment logs: levels, rotation that keeps the newest lines, tails across backups, follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from epdev.devserver.logs import DeploymentLog, level_of, log_files, source_of
from epdev.devserver.logtail import follow, tail

RECORD = "2024-05-01 12:00:00,120 {} [41] root - {}"


def test_lines_carry_the_level_when_the_worker_logged_them(tmp_path: Path) -> None:
    log = DeploymentLog(tmp_path / "blue.log")
    log.write("blue-0", "stderr", RECORD.format("WARNING", "disk is slow"))
    log.write("blue-0", "stdout", "printed by the script")
    log.write("blue-0", "stderr", "Traceback (most recent call last):")
    log.write("epdev", "info", "all 1 instance(s) ready")
    log.close()
    lines = (tmp_path / "blue.log").read_text().splitlines()
    assert [line.split(" | ")[0].split(" ", 1)[1] for line in lines] == [
        "blue-0 stderr WARNING",
        "blue-0 stdout",
        "blue-0 stderr",
        "epdev info",
    ]
    assert lines[0].endswith("| " + RECORD.format("WARNING", "disk is slow"))
    assert [source_of(line) for line in lines] == ["blue-0", "blue-0", "blue-0", "epdev"]
    assert level_of(RECORD.format("CRITICAL", "x")) == "CRITICAL"
    assert level_of("2024-05-01 12:00:00,120 NOTALEVEL [41] root - x") is None


def test_rotation_keeps_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    log = DeploymentLog(path, max_bytes=4096, backups=2)
    for i in range(2000):
        log.write(f"blue-{i % 2}", "stdout", f"line {i:05d}")
    log.close()
    files = log_files(path)
    assert files == [path.with_name("blue.log.2"), path.with_name("blue.log.1"), path]
    assert all(f.stat().st_size <= 4096 for f in files)
    kept = [line.rsplit(" ", 1)[1] for f in files for line in f.read_text().splitlines()]
    numbers = [int(n) for n in kept]
    # What is kept is one unbroken run ending with the very last line; the oldest went.
    assert numbers == list(range(numbers[0], 2000))
    assert numbers[0] > 0

    # A tail reads across the backups, oldest first.
    last = tail(path, 150).splitlines()
    assert [int(line.rsplit(" ", 1)[1]) for line in last] == list(range(1850, 2000))
    assert len(tail(path, None).splitlines()) == len(numbers)
    only = tail(path, 10, instance="blue-1").splitlines()
    assert [int(line.rsplit(" ", 1)[1]) for line in only] == list(range(1981, 2000, 2))


async def _collect(chunks: AsyncIterator[str], until: str, timeout: float = 10.0) -> str:
    seen = ""

    async def read() -> None:
        nonlocal seen
        async for chunk in chunks:
            seen += chunk
            if until in seen:
                return

    await asyncio.wait_for(read(), timeout)
    return seen


def test_follow_receives_lines_written_after_it_started(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    log = DeploymentLog(path, max_bytes=2048, backups=2)
    for i in range(5):
        log.write("blue-0", "stdout", f"before {i}")

    async def scenario() -> tuple[str, str]:
        chunks = follow(path, 2, poll=0.02)
        first = await anext(chunks)
        # Written after the follow began, between two of its polls: the file rotates twice.
        for i in range(80):
            log.write(f"blue-{i % 2}", "stdout", f"after {i:02d}")
        assert path.with_name("blue.log.2").exists()
        rest = await _collect(chunks, "after 79")
        await chunks.aclose()
        return first, rest

    first, rest = asyncio.run(scenario())
    log.close()
    assert [line.rsplit("| ", 1)[1] for line in first.splitlines()] == ["before 3", "before 4"]
    after = [line.rsplit("| ", 1)[1] for line in rest.splitlines()]
    assert after == [f"after {i:02d}" for i in range(80)]


def test_follow_filters_by_instance_and_waits_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "later.log"

    async def scenario() -> str:
        chunks = follow(path, None, instance="blue-1", poll=0.02)
        assert await anext(chunks) == ""  # no file yet
        log = DeploymentLog(path)
        for i in range(6):
            log.write(f"blue-{i % 2}", "stdout", f"n{i}")
        seen = await _collect(chunks, "n5")
        await chunks.aclose()
        log.close()
        return seen

    seen = asyncio.run(scenario())
    assert [line.rsplit("| ", 1)[1] for line in seen.splitlines()] == ["n1", "n3", "n5"]


def test_follow_ends_when_told_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    DeploymentLog(path).close()
    stopped: list[bool] = []

    async def scenario() -> list[str]:
        got = []
        async for chunk in follow(path, None, poll=0.01, stop=lambda: bool(stopped)):
            got.append(chunk)
            stopped.append(True)
        return got

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == [""]


def test_a_log_reopened_counts_what_the_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "blue.log"
    path.write_bytes(b"x" * 4000 + b"\n")
    log = DeploymentLog(path, max_bytes=4096, backups=1)
    log.write("blue-0", "stdout", "y" * 200)
    log.close()
    assert path.with_name("blue.log.1").stat().st_size == 4001
    assert path.read_text().endswith("y" * 200 + "\n")
    log.write("blue-0", "stdout", "after close")  # reopened, not lost
    log.close()
    assert path.read_text().endswith("after close\n")
