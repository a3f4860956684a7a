"""The runtimes a deployment can choose, made on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from epdev.runtimes.instance import Runtime

RUNTIME_NAMES = ("auto", "process", "venv", "docker")
"""auto: process when the devserver's Python has what the environment asks for, else venv
(the devserver decides per deployment)."""
DEFAULT_BASE_IMAGE = "epdev/python-base:bookworm"


@dataclass
class Runtimes:
    """One runtime object per name, shared by every deployment that uses it."""

    default: str = "auto"
    base_image: str = DEFAULT_BASE_IMAGE
    # A private folder for the Unix sockets that process and venv instances listen on (loopback
    # TCP ports when None; Docker's instances always use TCP).
    sockets: Path | None = None
    _made: dict[str, Runtime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check_name(self.default)

    @staticmethod
    def check_name(name: str) -> None:
        if name not in RUNTIME_NAMES:
            raise ValueError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIME_NAMES)}")

    def get(self, name: str | None = None) -> Runtime:
        name = name or self.default
        self.check_name(name)
        if name == "auto":
            raise ValueError("runtime auto is decided per deployment: choose it before asking")
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]

    def remove_leftover_containers(self, home: Path) -> list[str]:
        """Containers an earlier devserver of this home left behind, now removed."""
        from epdev.runtimes.container_orphans import cleanup_orphans

        return cleanup_orphans(home)

    def made(self) -> list[Runtime]:
        return list(self._made.values())

    def _make(self, name: str) -> Runtime:
        # Imported here: the Docker SDK and venv tooling load only when a deployment asks.
        if name == "venv":
            from epdev.runtimes.venv import VenvRuntime

            return VenvRuntime(sockets=self.sockets)
        if name == "docker":
            from epdev.runtimes.docker import DockerRuntime

            return DockerRuntime(base_image=self.base_image)
        from epdev.runtimes.process import ProcessRuntime

        return ProcessRuntime(sockets=self.sockets)
