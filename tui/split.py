"""Traffic splits the dashboard may send: whole percentages adding up to 100, or all 0.

The rules are the devserver's own (epdev.specs.traffic); this module adds the slider arithmetic.
Moving one deployment's share moves the others the opposite way, in proportion to what they
carry, so every intermediate state a user sees is itself a valid split.
"""

from __future__ import annotations

from collections.abc import Mapping

from epdev.specs.traffic import traffic_problem


def is_valid(split: Mapping[str, int], deployments: list[str] | None = None) -> bool:
    """True for a live split the devserver accepts: whole percents summing to 100 or all 0."""
    return traffic_problem(split, None, deployments) is None


def normalized(split: Mapping[str, int], deployments: list[str]) -> dict[str, int]:
    """The split over exactly these deployments (missing ones at 0), in their order."""
    return {name: int(split.get(name, 0)) for name in deployments}


def nudge(split: Mapping[str, int], name: str, delta: int) -> dict[str, int]:
    """Move `name` by `delta` points; the others absorb the change so the total stays 100.

    From all 0, raising one gives it everything: a split of 100 has to start somewhere, and
    the user then hands shares to the others. A deployment alone cannot go below 100 (only
    `zeroed` takes it to 0), since nobody could take the remainder.
    """
    current = dict(split)
    if name not in current or delta == 0:
        return current
    others = [n for n in current if n != name]
    if sum(current.values()) == 0:
        if delta < 0:
            return current
        return {n: (100 if n == name else 0) for n in current}
    old = current[name]
    new = max(0, min(100, old + delta))
    if not others:
        return current
    change = new - old
    if change == 0:
        return current
    rest = {n: current[n] for n in others}
    rest = _take(rest, change) if change > 0 else _give(rest, -change)
    return {n: (new if n == name else rest[n]) for n in current}


def zeroed(split: Mapping[str, int]) -> dict[str, int]:
    return dict.fromkeys(split, 0)


def _take(shares: dict[str, int], amount: int) -> dict[str, int]:
    """Take `amount` from the shares in proportion to their size (largest remainders first)."""
    total = sum(shares.values())
    assert 0 < amount <= total
    exact = {n: v - amount * v / total for n, v in shares.items()}
    return _round(exact, total - amount)


def _give(shares: dict[str, int], amount: int) -> dict[str, int]:
    """Spread `amount` over the shares in proportion to their size, or evenly if all are 0."""
    total = sum(shares.values())
    if total == 0:
        exact = {n: amount / len(shares) for n in shares}
    else:
        exact = {n: v + amount * v / total for n, v in shares.items()}
    return _round(exact, total + amount)


def _round(exact: dict[str, float], target: int) -> dict[str, int]:
    floors = {n: int(v) for n, v in exact.items()}
    missing = target - sum(floors.values())
    # Ties go to the deployment listed first, so the result does not depend on dict order noise.
    order = sorted(exact, key=lambda n: (-(exact[n] - floors[n]), list(exact).index(n)))
    for n in order[:missing]:
        floors[n] += 1
    return floors


def mirror_problem(
    mirror: Mapping[str, int], live: Mapping[str, int], deployments: list[str]
) -> str | None:
    """Why the devserver would refuse this mirror split beside this live one (None: it would not).

    The rules are the devserver's own (epdev.specs.traffic), so the dashboard never sends a split
    it would refuse and says why in the same words.
    """
    return traffic_problem(live, mirror, deployments)


def mirror_patch(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The `mirror_traffic` body turning `before` into `after`: the devserver merges what it is
    sent into what it has, so a deployment that stops receiving copies is sent as 0."""
    patch = {name: 0 for name, share in before.items() if share and not after.get(name)}
    patch.update({name: share for name, share in after.items() if share})
    return patch
