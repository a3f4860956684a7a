"""Whether the kernel's out-of-memory killer ended a process: its cgroup's `oom_kill` count."""

from __future__ import annotations

import signal
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _counter_files() -> list[Path]:
    """memory.events (cgroup v2) or memory.oom_control (v1) of this process's cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    files = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            files += [_CGROUP_ROOT / rel / "memory.events", _CGROUP_ROOT / "memory.events"]
        elif "memory" in controllers.split(","):
            base = _CGROUP_ROOT / "memory"
            files += [base / rel / "memory.oom_control", base / "memory.oom_control"]
    return files


def oom_kills() -> int | None:
    """How many processes the OOM killer has ended in this cgroup; None where unknown."""
    for path in _counter_files():
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def memory_hint(code: int, kills_before: int | None) -> str:
    """A note for an exit by SIGKILL that the devserver did not send ("" otherwise)."""
    if code != -signal.SIGKILL:
        return ""
    after = oom_kills()
    if kills_before is not None and after is not None and after > kills_before:
        return (
            "; the kernel's out-of-memory killer ended it (the cgroup's oom_kill count rose): "
            "it needs more memory than the machine gives it"
        )
    return (
        "; it was killed from outside the devserver, often by the kernel's out-of-memory "
        "killer when memory runs short"
    )
