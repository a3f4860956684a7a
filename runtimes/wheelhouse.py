"""Wheels for an environment, prepared on the host so images install them without a network.

Builds run without network access (no registry, no index), and behind a proxy the host's pip is
the one that knows how to get out. So the host's own pip resolves the environment's
requirements plus the worker's packages into a folder of wheels (`pip wheel` downloads wheels
and builds any sdist), and the image build installs exactly those with `pip install --no-index`.
A wheelhouse is keyed by the environment's digest and made once.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections import deque
from pathlib import Path

from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.output import pump_lines
from epdev.runtimes.process import last_meaningful

STREAM = "build"
"""The log stream that pip's output goes to."""


def wheelhouse_path(environment: PythonEnvironment, cache_dir: Path) -> Path:
    return cache_dir / "wheelhouse" / environment.digest


def wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


async def prepare_wheelhouse(
    environment: PythonEnvironment,
    cache_dir: Path,
    sink: LogSink,
    python: str = sys.executable,
) -> Path:
    """The folder of wheels for `environment` and the worker, made by `pip wheel` if missing."""
    target = wheelhouse_path(environment, cache_dir)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        requirements = staging / "requirements.txt"
        lines = [*environment.requirements, *environment.worker_requirements]
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sink(STREAM, f"preparing the wheelhouse on the host: pip wheel {' '.join(lines)}")
        await _pip_wheel(python, staging, requirements, sink)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another devserver made the same wheelhouse meanwhile; theirs is as good.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


async def _pip_wheel(python: str, folder: Path, requirements: Path, sink: LogSink) -> None:
    tail: deque[str] = deque(maxlen=50)
    proc = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "pip",
        "wheel",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--wheel-dir",
        str(folder),
        "-r",
        str(requirements),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        await pump_lines(proc.stdout, STREAM, sink, tail)
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if code != 0:
        raise InstanceFailed(
            f"pip could not prepare the environment's wheels (exit code {code}): "
            f"{last_meaningful(tail)}"
        )
