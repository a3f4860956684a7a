"""Why an environment build failed, in one line naming the package, the version and the fix.

uv explains a failed resolution as a chain of "Because ..." sentences; the user needs the one
package at fault and what to change, not the chain.
"""

from __future__ import annotations

import re

from epdev.runtimes.environment import PythonEnvironment

_NO_WHEEL = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)(?P<spec>[=<>!~][^ ]*)? has no usable wheels")
_NOT_FOUND = re.compile(r"(?P<name>[A-Za-z0-9_.-]+) was not found in the package registry")
_NO_VERSION = re.compile(r"there is no version of (?P<req>[A-Za-z0-9_.-]+[=<>!~]\S*)")
_NEEDS_PYTHON = re.compile(
    r"(?P<req>[A-Za-z0-9_.-]+[=<>!~]=?[^ ,]*) depends on Python(?P<python>[<>=!~][^ ,]*)"
)
_DEPENDS = re.compile(
    r"([A-Za-z0-9_.-]+[=<>!~]=?[^ ,]*) depends on ([A-Za-z0-9_.-]+[=<>!~]?[^ ,]*)"
)
_REQUIRE = re.compile(r"you require ([A-Za-z0-9_.-]+[=<>!~]=?[^ ,]*)")

FIX_SOURCE = "EPDEV_ALLOW_SOURCE_BUILDS=1 on the devserver"


def explain(
    lines: list[str], env: PythonEnvironment, python: str, code: int, *, source_builds: bool
) -> str:
    """One line for a failed `uv pip install` (its output's last `lines`, exit `code`) of `env`
    on Python `python` (X.Y)."""
    text = _cause(lines)
    origin = f"from the {env.source}"
    match = _NO_WHEEL.search(text)
    if match is not None and not source_builds:
        package = match.group("name") + (match.group("spec") or "")
        return (
            f"{package} ({origin}) has no wheel for Python {python} on this platform and "
            f"epdev does not build packages from source unless told to: relax the pin, ask for "
            f"another Python (python=3.X in the conda file), use --runtime docker, or set "
            f"{FIX_SOURCE}"
        )
    match = _NOT_FOUND.search(text)
    if match is not None:
        name = match.group("name")
        if _normalized(name) in {_normalized(r) for r in env.worker_requirements}:
            return f"{name}, a package of epdev's worker, is not on the package index"
        if _normalized(name) in {_normalized(r) for r in env.from_conda}:
            return (
                f"{name} ({origin}, its conda section) is not on the package index: it may be a "
                "conda-only package; list its PyPI name under 'pip:' or remove it"
            )
        return f"{name} ({origin}) is not on the package index: check its name"
    match = _NO_VERSION.search(text)
    if match is not None:
        return (
            f"{match.group('req')} ({origin}): no such version on the package index; relax the pin"
        )
    match = _NEEDS_PYTHON.search(text)
    if match is not None:
        return (
            f"{match.group('req')} ({origin}) needs Python{match.group('python')}, not "
            f"{python}: relax the pin or ask for another Python (python=3.X in the conda file)"
        )
    if "unsatisfiable" in text or "depends on" in text:
        needs = [f"{a} needs {b}" for a, b in _DEPENDS.findall(text)]
        own = {_compact(line) for line in env.requirements}
        asked = sorted(
            {r.rstrip(".") for r in _REQUIRE.findall(text) if _compact(r.rstrip(".")) in own}
            - {b.rstrip(".") for _, b in _DEPENDS.findall(text)}
        )
        if needs or asked:
            parts = "; ".join([*needs, *(f"you ask for {r}" for r in asked)])
            return f"conflicting pins ({origin}): {_shorten(parts)}; relax one of them"
        return f"conflicting pins ({origin}): {_shorten(text)}; relax one of them"
    if text:
        return f"uv could not build the environment ({origin}): {_shorten(text)}"
    return f"uv could not build the environment ({origin}): {_last_line(lines, code)}"


def _cause(lines: list[str]) -> str:
    """uv's explanation, its continuation lines joined: from the `error:` line on."""
    start = None
    for index, line in enumerate(lines):
        if line.startswith("error:"):
            start = index
    if start is None:
        return ""
    kept: list[str] = []
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped or stripped.startswith("hint:"):
            if kept and not stripped:
                continue
            if stripped.startswith("hint:"):
                break
        stripped = stripped.removeprefix("error:").removeprefix("cause:").strip()
        stripped = stripped.removeprefix("\u00d7").removeprefix("\u2570\u2500\u25b6").strip()
        if stripped and stripped != "No solution found when resolving dependencies":
            kept.append(stripped)
    return " ".join(kept)


def _compact(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def _normalized(requirement: str) -> str:
    name = re.split(r"[\s<>=!~\[;@(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _last_line(lines: list[str], code: int) -> str:
    for line in reversed(lines):
        if line.strip():
            return f"{_shorten(line.strip())} (exit code {code})"
    return f"exit code {code}"


def _shorten(text: str) -> str:
    return text if len(text) <= 400 else text[:397] + "..."
