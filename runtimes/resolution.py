"""Resolving an environment with uv the way its author's tools did: era-faithful, from wheels.

First with the packages the environment leaves open bounded by the date of its newest exact pin
(see epdev.runtimes.eras); when that finds no solution, openly, and the build log says which was
used. Packages are installed from wheels only unless source builds are allowed
(EPDEV_ALLOW_SOURCE_BUILDS=1) or the environment names a source tree itself, so a pin with no
wheel for this Python fails in a second, naming the package, rather than compiling for minutes.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from epdev.runtimes.buildfailure import explain
from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.eras import era_cutoff, exact_pins
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.interpreters import running
from epdev.runtimes.uvtool import run_uv, say, uv_environment

ALLOW_SOURCE_BUILDS = "EPDEV_ALLOW_SOURCE_BUILDS"


@dataclass(frozen=True)
class Resolved:
    era: str | None
    """The cut-off date used, or None for an open resolution."""
    lines: list[str]
    """uv's last output lines (for `compile`, the pinned requirements)."""


def source_builds_allowed(env: PythonEnvironment) -> bool:
    """Whether uv may build sdists: the user said so, or named a source tree or VCS URL."""
    if os.environ.get(ALLOW_SOURCE_BUILDS, "").lower() in ("1", "true", "yes", "all"):
        return True
    for line in env.requirements:
        text = line.split(maxsplit=1)[-1] if line.startswith("-e ") else line
        if "git+" in text or text.endswith((".tar.gz", ".zip")):
            return True
        if text.startswith("/") and Path(text).is_dir():
            return True
    return False


def requirements_file(env: PythonEnvironment, folder: Path, python_version: str) -> Path:
    """The environment's requirements and the worker's, as one file uv reads (lines may carry
    options: -r, --extra-index-url, ...). The worker's packages are pinned to the devserver's
    versions on the devserver's Python; on another Python, uv picks versions that run there."""
    worker = list(env.worker_requirements)
    if python_version != running():
        worker = [requirement.split("==")[0] for requirement in worker]
    path = folder / "epdev-requirements.txt"
    path.write_text("\n".join([*env.requirements, *worker]) + "\n", "utf-8")
    return path


async def resolve_with_uv(
    command: list[str],
    env: PythonEnvironment,
    python_version: str,
    cache_dir: Path,
    sink: LogSink,
) -> Resolved:
    """Run `uv pip COMMAND ...` (install or compile, with its target and requirements), era-
    faithful first; raises InstanceFailed with one line naming what failed."""
    uv_env = uv_environment(cache_dir)
    allowed = source_builds_allowed(env)
    common = [] if allowed else ["--no-build"]
    cutoff = await era_cutoff(exact_pins(env.requirements), uv_env, cache_dir)
    if cutoff is not None:
        date, pin = cutoff
        stamp = date.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # The worker's own pins are today's; they are exempt from the environment's era.
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%d")
        exempt = [
            arg
            for requirement in env.worker_requirements
            for arg in ("--exclude-newer-package", f"{requirement.split('==')[0]}={later}")
        ]
        say(
            sink,
            f"resolving as of {date:%Y-%m-%d} (the release of {pin}, the newest exact pin), so "
            "the packages left open are those of its time",
        )
        code, tail = await run_uv(
            ["pip", *command, *common, "--exclude-newer", stamp, *exempt], sink, uv_env
        )
        if code == 0:
            return Resolved(stamp, tail)
        reason = explain(tail, env, python_version, code, source_builds=allowed)
        say(sink, f"no era-faithful solution ({reason}); resolving with today's packages instead")
    code, tail = await run_uv(["pip", *command, *common], sink, uv_env)
    if code != 0:
        raise InstanceFailed(explain(tail, env, python_version, code, source_builds=allowed))
    if cutoff is None:
        say(sink, "resolved with today's packages (no exact pin with a known release date)")
    else:
        say(sink, "resolved with today's packages (the era-faithful resolution had no solution)")
    return Resolved(None, tail)
