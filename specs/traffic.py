"""Traffic maps: `"blue=90 green=10"` strings and the rules a split must obey."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

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


MIRROR_MAX = 50
"""Mirror traffic may copy at most half of the calls (Azure: mirror values sum to at most 50)."""


class TrafficError(ValueError):
    """A traffic or mirror split that breaks one of the rules; the message is one line.

    `total` is the live split's sum when that sum is the fault, so a caller with less room (the
    dashboard's command line) can say it in fewer words.
    """

    def __init__(self, message: str, *, total: int | None = None) -> None:
        super().__init__(message)
        self.total = total


def check_traffic(
    traffic: Mapping[str, object],
    mirror: Mapping[str, object] | None = None,
    deployments: Collection[str] | None = None,
    *,
    endpoint: str | None = None,
) -> None:
    """Raise TrafficError unless the live split and the mirror split may stand together.

    The rules, as Azure's: each share is a whole percent 0 to 100; live shares add up to 100
    (or are all 0); the mirror copies calls to one deployment, at most 50% of them, and that
    deployment takes no live traffic. With `deployments`, every deployment given a share must
    be one of them (`endpoint` names the endpoint in that message). The control plane, `epdev
    apply`, the spec models and the dashboard all judge a split here, so they agree.
    """
    mirror = mirror or {}
    if deployments is not None:
        for label, split in (("traffic", traffic), ("mirror_traffic", mirror)):
            missing = sorted(n for n, p in split.items() if p and n not in deployments)
            if missing:
                names = ", ".join(repr(n) for n in missing)
                owner = f"endpoint {endpoint!r}" if endpoint else "the endpoint"
                raise TrafficError(
                    f"{label} names deployment(s) {names} that {owner} does not have"
                )
    live = _percents(traffic)
    total = sum(live.values())
    if total not in (0, 100):
        shown = ", ".join(f"{n}={p}" for n, p in live.items())
        raise TrafficError(
            f"traffic values must add up to 100 (or all be 0); {shown} adds up to {total}",
            total=total,
        )
    copies = {name: p for name, p in _percents(mirror).items() if p > 0}
    if len(copies) > 1:
        raise TrafficError("mirror traffic may go to one deployment only")
    for name, share in copies.items():
        if share > MIRROR_MAX:
            raise TrafficError(f"mirror traffic is {share}%; it may be at most {MIRROR_MAX}%")
        if live.get(name, 0) > 0:
            raise TrafficError(
                f"{name!r} receives live traffic; a deployment cannot also receive mirror traffic"
            )


def traffic_problem(
    traffic: Mapping[str, object],
    mirror: Mapping[str, object] | None = None,
    deployments: Collection[str] | None = None,
    *,
    endpoint: str | None = None,
) -> str | None:
    """Why `check_traffic` would refuse these splits, or None when it would not."""
    try:
        check_traffic(traffic, mirror, deployments, endpoint=endpoint)
    except TrafficError as exc:
        return str(exc)
    return None


def validate_traffic(traffic: Mapping[str, object], *, mirror: bool = False) -> None:
    """Raise TrafficError unless the map alone is a valid live split (or mirror split)."""
    if mirror:
        check_traffic({}, traffic)
    else:
        check_traffic(traffic)


def _percents(split: Mapping[str, object]) -> dict[str, int]:
    """The split's shares, each checked to be a whole percent 0 to 100."""
    percents: dict[str, int] = {}
    for name, percent in split.items():
        if not isinstance(percent, int) or isinstance(percent, bool):
            raise TrafficError(
                f"traffic for {name!r} is {percent!r}; each value must be a whole number 0 to 100"
            )
        if not 0 <= percent <= 100:
            raise TrafficError(f"traffic for {name!r} is {percent}; each value must be 0 to 100")
        percents[name] = percent
    return percents
