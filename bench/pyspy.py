"""Sampling a running server's processes with py-spy, and the top frames of what it saw.

py-spy writes "raw" collapsed stacks: one line per distinct stack, `root;...;leaf COUNT`. Idle
threads are left out by py-spy, so the samples of a process are roughly its CPU time.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path.home() / ".cache" / "epdev-bench" / "tools"
RATE = 100
"""Samples per second: enough for top frames in a few seconds, light on two shared cores."""


def ensure_py_spy() -> str:
    """py-spy from PATH, else from a bench venv it is installed into once (uv from PyPI)."""
    found = shutil.which("py-spy") or (
        str(TOOLS / "bin" / "py-spy") if (TOOLS / "bin" / "py-spy").exists() else None
    )
    if found:
        return found
    import uv

    print(f"installing py-spy into {TOOLS} (once)", flush=True)
    subprocess.run([uv.find_uv_bin(), "venv", "-q", "--python", sys.executable, TOOLS], check=True)
    subprocess.run(
        [uv.find_uv_bin(), "pip", "install", "-q", "--python", TOOLS / "bin" / "python", "py-spy"],
        check=True,
    )
    return str(TOOLS / "bin" / "py-spy")


@contextmanager
def recording(py_spy: str, pids: dict[str, int], seconds: int, folder: Path) -> Iterator[None]:
    """py-spy samples each named process for `seconds` while the block runs (the load)."""
    folder.mkdir(parents=True, exist_ok=True)
    procs = []
    for label, pid in pids.items():
        argv = [py_spy, "record", "--native", "--nolineno", "--format", "raw"]
        argv += ["--rate", str(RATE), "-d", str(seconds), "-o", str(folder / f"{label}.txt")]
        argv += ["--pid", str(pid)]
        procs.append(
            subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=(folder / f"{label}.err").open("wb")
            )
        )
    try:
        yield
    finally:
        for proc in procs:
            try:
                proc.wait(seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# A sample whose stack holds one of these is a thread waiting (for I/O, a lock, the GIL, a
# sleep), not running: with --native, py-spy's own idle check lets many of them through.
_WAITING = (
    "PyThread_acquire_lock_timed",
    "epoll_wait ",
    "epoll_pwait ",
    "clock_nanosleep ",
    "pthread_cond_timedwait ",
    "pthread_cond_wait ",
    "sem_clockwait ",
    "sem_timedwait ",
    "take_gil ",
    "select (",
    "poll (",
)
# Where a sample's CPU goes: the innermost frame (leaf first) matching one of these, in order.
KERNEL = "kernel: socket I/O"
_BUCKETS = (
    (
        KERNEL,
        (
            "write (",
            "send (",
            "sendto (",
            "sendmsg (",
            "writev (",
            "read (",
            "recv (",
            "recvfrom (",
            "recvmsg (",
            "readv (",
        ),
    ),
    ("logging", ("(logging/",)),
    (
        "model: score.py / predict",
        ("(score.py", "(sklearn/", "(numpy/", "(scipy/", "(joblib/", "(pandas/", "(threadpoolctl"),
    ),
    ("mlflow pyfunc", ("(mlflow/",)),
    ("hop client (devserver/hop.py)", ("(devserver/hop.py",)),
    ("epdev router (devserver/)", ("(devserver/",)),
    ("epdev worker (runtimes/)", ("(runtimes/",)),
    ("aiohttp (an older hop client)", ("(aiohttp/", "(yarl/", "(multidict/")),
    ("HTTP server: uvicorn + httptools", ("(uvicorn/", "(httptools/", "parser.c", "(h11/")),
    ("kserve", ("(kserve/",)),
    ("fastapi / starlette / pydantic", ("(fastapi/", "(starlette/", "(pydantic", "(orjson")),
    ("json", ("(json/", "_json.c")),
    ("event loop (asyncio / uvloop)", ("(asyncio/", "(uvloop/", "loop.c", "_asynciomodule")),
    ("psutil (/proc scans)", ("(psutil/",)),
)


@dataclass
class Profile:
    samples: int
    """Samples of running threads in user space (waiting ones and system calls left out)."""
    waiting: int
    in_kernel: int
    """Samples in a socket system call: py-spy's pauses inflate these far beyond the kernel
    time the OS accounts, so they are counted apart (take kernel time from psutil instead)."""
    own: collections.Counter[str]
    """Samples whose innermost frame is this one (self time)."""
    within: collections.Counter[str]
    """Samples with this frame anywhere on the stack (inclusive time), each stack counted once."""
    buckets: collections.Counter[str]


_STACK = re.compile(r"^(.*) (\d+)$")


def bucket(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in _BUCKETS:
            if any(mark in frame for mark in marks):
                return name
    return "other"


def parse(text: str) -> Profile:
    """Collapsed stacks into counts by frame and by bucket, waiting threads apart."""
    own: collections.Counter[str] = collections.Counter()
    within: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    total = waiting = in_kernel = 0
    for line in text.splitlines():
        match = _STACK.match(line.strip())
        if not match:
            continue
        stack, count = match.group(1), int(match.group(2))
        if any(mark in stack for mark in _WAITING):
            waiting += count
            continue
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        where = bucket(frames)
        if where == KERNEL:
            in_kernel += count
            continue
        total += count
        own[frames[-1]] += count
        buckets[where] += count
        for frame in set(frames):
            within[frame] += count
    return Profile(total, waiting, in_kernel, own, within, buckets)


# Frames on the way to everything (interpreter start, event loops, threads, click): their
# inclusive share says nothing about where the time goes.
_PLUMBING = (
    "(asyncio/",
    "(threading.py",
    "(<frozen",
    "(click/",
    "(libc.so",
    "(libpython",
    "loop.c",
    "_asynciomodule",
    "(uvicorn/server.py",
    "(uvicorn/_compat.py",
    "(devserver/cli/",
    "(runtimes/worker/main.py",
    "(runtimes/worker/__main__.py",
    "(runtimes/worker/server.py",
    "(concurrent/",
    "<module>",
    "ModelServer.start",
)


def top(profile: Profile, count: int = 10) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The frames with most self samples, and the Python frames with most inclusive samples
    (plumbing such as the event loop's run, on nearly every stack, left out)."""
    own = profile.own.most_common(count)
    within = [
        (f, n)
        for f, n in profile.within.most_common()
        if not any(mark in f for mark in _PLUMBING) and not f.startswith("0x")
    ][:count]
    return own, within
