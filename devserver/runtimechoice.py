"""Which runtime a deployment runs on: `auto` (the default) picks the process runtime when the
devserver's own Python already has what the environment asks for, else a venv built for it; a
runtime the user forces gets a note of what it leaves out. Nothing about an environment goes
unsaid."""

from __future__ import annotations

from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.satisfaction import lacking

AUTO = "auto"
SHOWN = 6
"""How many lacking requirements a note names before it counts the rest."""


def choose_runtime(requested: str, env: RuntimeEnvironment) -> tuple[str, list[str]]:
    """The runtime to use for `requested` (a runtime's name or auto), and the notes that say
    why and what of the environment it does not honour."""
    python = env.python
    if requested == AUTO:
        missing = lacking(python)
        if missing:
            return "venv", [
                f"runtime auto: venv, because the devserver's Python lacks what the "
                f"{python.source} asks for: {_listed(missing)}"
            ]
        notes = [
            "runtime auto: process, because the devserver's Python already has everything the "
            f"{python.source} asks for"
        ]
        return "process", notes + _unused_by_process(env)
    if requested == "process":
        missing = lacking(python)
        notes = []
        if missing:
            notes.append(
                f"the process runtime runs on the devserver's own packages, which lack what the "
                f"{python.source} asks for: {_listed(missing)} (use --runtime venv or auto)"
            )
        return "process", notes + _unused_by_process(env)
    if requested == "venv" and (env.image or env.build_context):
        what = f"image {env.image}" if env.image else f"build context {env.build_context}"
        return "venv", [
            f"the venv runtime installs the environment's Python packages only; its {what} is "
            "not used (--runtime docker builds it)"
        ]
    return requested, []


def _unused_by_process(env: RuntimeEnvironment) -> list[str]:
    if env.image or env.build_context:
        what = f"image {env.image}" if env.image else f"build context {env.build_context}"
        return [
            f"the process runtime runs on the devserver's Python; the environment's {what} is "
            "not used (--runtime docker builds it)"
        ]
    return []


def _listed(missing: list[str]) -> str:
    shown = ", ".join(missing[:SHOWN])
    rest = len(missing) - SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown
