"""Traffic maps: `"blue=90 green=10"` strings and the rules a split must obey."""

from __future__ import annotations

import re

_PAIR = re.compile(r"^\s*([A-Za-z0-9-]+)\s*[=:]\s*(-?\d+)\s*$")


def parse_traffic(text: str) -> dict[str, int]:
    """Parse az ml's `--traffic "blue=90 green=10"` form (commas also separate pairs)."""
    result: dict[str, int] = {}
    # "blue = 90" is one pair: join each separator to its name and percent before splitting.
    joined = re.sub(r"\s*([=:])\s*", r"\1", text.strip())
    for chunk in re.split(r"[\s,]+", joined):
        if not chunk:
            continue
        match = _PAIR.match(chunk)
        if match is None:
            raise ValueError(f"cannot read {chunk!r} in traffic {text!r}: use NAME=PERCENT pairs")
        name, percent = match.group(1), int(match.group(2))
        if name in result:
            raise ValueError(f"deployment {name!r} appears twice in traffic {text!r}")
        result[name] = percent
    return result


def validate_traffic(traffic: dict[str, int], *, mirror: bool = False) -> None:
    """Raise ValueError unless the map is a valid live split (or mirror split)."""
    for name, percent in traffic.items():
        if not 0 <= percent <= 100:
            raise ValueError(f"traffic for {name!r} is {percent}; each value must be 0 to 100")
    total = sum(traffic.values())
    if mirror:
        live = {name: p for name, p in traffic.items() if p > 0}
        if len(live) > 1:
            raise ValueError("mirror traffic may go to one deployment only")
        if total > 50:
            raise ValueError(f"mirror traffic is {total}%; it may be at most 50%")
        return
    if total not in (0, 100):
        shown = ", ".join(f"{n}={p}" for n, p in traffic.items())
        raise ValueError(
            f"traffic values must add up to 100 (or all be 0); {shown} adds up to {total}"
        )
