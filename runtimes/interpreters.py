"""The Python an environment runs on: an installed interpreter of the version it asks for.

uv finds interpreters on PATH (and those it manages). pyenv's shims answer for versions that are
installed but not selected by failing, which stops uv's search, so the shims are left off PATH
and pyenv's installed versions put on it instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from epdev.runtimes.uvtool import uv_bin

_VERSION = re.compile(r"^(\d+)\.(\d+)")
WORKER_MIN_PYTHON = (3, 11)
"""The oldest Python epdev's worker runs on (its process is started with 3.11's -P)."""


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    """X.Y"""
    note: str | None = None
    """What the user should know: the asked-for version was not found."""


def running() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wanted_version(asked: str | None) -> str | None:
    """`3.10`, `3.10.4`, `3.10.*`, `>=3.10` as X.Y; None for nothing usable."""
    if not asked:
        return None
    match = _VERSION.match(asked.lstrip("=<>~!").strip())
    return f"{match.group(1)}.{match.group(2)}" if match else None


_found: dict[str, str | None] = {}


async def choose(asked: str | None, what: str) -> Interpreter:
    """An interpreter for `asked` (a version from `what`, e.g. "the conda file"); the devserver's
    own Python when nothing is asked, or with a note when the version is not installed."""
    version = wanted_version(asked)
    if version is None or version == running():
        return Interpreter(sys.executable, running())
    if tuple(int(part) for part in version.split(".")) < WORKER_MIN_PYTHON:
        oldest = ".".join(map(str, WORKER_MIN_PYTHON))
        return Interpreter(
            sys.executable,
            running(),
            f"{what} asks for python {version} but epdev's worker runs on Python {oldest} or "
            f"later; the environment uses {running()} instead (--runtime docker with a base "
            "image of that Python keeps the version in the image)",
        )
    if version not in _found:
        _found[version] = await _find(version)
    path = _found[version]
    if path is not None:
        return Interpreter(path, version)
    return Interpreter(
        sys.executable,
        running(),
        f"{what} asks for python {version} but no Python {version} is installed on this machine; "
        f"the environment uses {running()} instead",
    )


async def _find(version: str) -> str | None:
    env = dict(os.environ)
    env["PATH"] = search_path(env.get("PATH", os.defpath))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    proc = await asyncio.create_subprocess_exec(
        uv_bin(),
        "python",
        "find",
        "--no-project",
        "--system",
        version,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    out, _ = await proc.communicate()
    path = out.decode().strip()
    return path if proc.returncode == 0 and path else None


def search_path(path: str) -> str:
    """PATH without pyenv's shims, with pyenv's installed versions' bin folders after it."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    kept = [entry for entry in path.split(os.pathsep) if not entry.rstrip("/").endswith("shims")]
    versions = root / "versions"
    if versions.is_dir():
        kept += [str(p / "bin") for p in sorted(versions.iterdir()) if (p / "bin").is_dir()]
    return os.pathsep.join(kept)
