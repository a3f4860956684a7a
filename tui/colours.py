"""One colour per deployment, everywhere: its table row, its traffic slider, every chart."""

from __future__ import annotations

PALETTE = ("cyan", "magenta", "yellow", "green", "red", "blue")
"""Names Rich and plotext both know, in the endpoint's order of deployments."""


def colour_of(name: str, names: list[str]) -> str:
    return PALETTE[names.index(name) % len(PALETTE)] if name in names else "white"
