"""What an environment asks for that this interpreter lacks: its requirement specifiers checked
against the installed distributions, so the process runtime is chosen only when it would run
the deployment as its environment says."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.interpreters import WORKER_MIN_PYTHON, running, wanted_version

_OPTION = re.compile(r"^--?[A-Za-z-]+(?:[ =]|$)")


def lacking(env: PythonEnvironment) -> list[str]:
    """Each requirement of `env` this interpreter does not meet, as `what (why)`; empty when
    the devserver's own Python runs the environment as asked."""
    missing: list[str] = []
    asked = wanted_version(env.python)
    if (
        asked is not None
        and asked != running()
        and tuple(int(p) for p in asked.split(".")) >= WORKER_MIN_PYTHON
    ):
        missing.append(f"python {asked} (the devserver runs {running()})")
    for line in env.requirements:
        missing += _line_lacking(line, set())
    return missing


def _line_lacking(line: str, seen: set[Path]) -> list[str]:
    text = line.strip()
    if text.startswith(("-r ", "--requirement ")):
        return _file_lacking(Path(text.split(maxsplit=1)[1]), seen)
    if text.startswith(("-c ", "--constraint ")) or _OPTION.match(text):
        return []  # constraints and index options ask for nothing themselves
    if text.endswith(".whl"):
        try:
            name, wheel_version, _, _ = parse_wheel_filename(Path(text).name)
        except InvalidWheelFilename:
            return [f"{text} (not a wheel's name)"]
        text = f"{name}=={wheel_version}"
    elif text.startswith(("/", "./", "../", "-e ")) or "://" in text:
        return [f"{text} (a local or remote source, not checked against installed packages)"]
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return [f"{text} (not a requirement epdev can check)"]
    if requirement.marker is not None and not requirement.marker.evaluate():
        return []
    if requirement.url:
        return [f"{text} (a direct URL, not checked against installed packages)"]
    try:
        have = version(requirement.name)
    except PackageNotFoundError:
        return [f"{requirement} (not installed)"]
    if requirement.specifier and not requirement.specifier.contains(have, prereleases=True):
        return [f"{requirement} (the devserver has {have})"]
    return []


def _file_lacking(path: Path, seen: set[Path]) -> list[str]:
    if path in seen:
        return []
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return [f"-r {path} (cannot read it: {exc.strerror})"]
    found: list[str] = []
    for raw in lines:
        text = raw.split(" #", 1)[0].strip()
        if text and not text.startswith("#"):
            if text.startswith(("-r ", "--requirement ")):
                target = Path(text.split(maxsplit=1)[1])
                text = f"-r {target if target.is_absolute() else path.parent / target}"
            found += _line_lacking(text, seen)
    return found
