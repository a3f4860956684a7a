"""The `:` command line of the endpoint view: epdev's daily actions typed as words.

:scale green 3          :restart blue        :traffic blue=80 green=20
:all green              :logs blue           :describe blue
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epdev.specs.traffic import TrafficError, check_traffic

USAGE = (
    "scale DEPLOYMENT N · restart DEPLOYMENT · traffic NAME=PCT ... · all DEPLOYMENT · "
    "logs DEPLOYMENT · describe DEPLOYMENT"
)


class CommandError(ValueError):
    """A command line that cannot be run; the message says why in one line."""


@dataclass
class Command:
    verb: str
    deployment: str | None = None
    count: int | None = None
    traffic: dict[str, int] = field(default_factory=dict)


def parse(line: str, deployments: list[str]) -> Command:
    """The command a line asks for, checked against the endpoint's deployments."""
    words = line.strip().lstrip(":").split()
    if not words:
        raise CommandError(f"type a command: {USAGE}")
    verb, args = words[0].lower(), words[1:]
    if verb == "traffic":
        return Command(verb, traffic=_traffic(args, deployments))
    if verb in ("restart", "all", "logs", "describe"):
        if len(args) != 1:
            raise CommandError(f"{verb} takes one deployment: {verb} DEPLOYMENT")
        return Command(verb, _deployment(args[0], deployments))
    if verb == "scale":
        if len(args) != 2:
            raise CommandError("scale takes a deployment and a count: scale green 3")
        return Command(verb, _deployment(args[0], deployments), count=_count(args[1]))
    raise CommandError(f"unknown command {verb!r}: {USAGE}")


def _deployment(name: str, deployments: list[str]) -> str:
    if name not in deployments:
        known = ", ".join(deployments) or "none"
        raise CommandError(f"no deployment {name!r} here (deployments: {known})")
    return name


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise CommandError(f"instance count {text!r} is not a whole number") from None
    if count < 1:
        raise CommandError("instance count must be 1 or more")
    return count


def _traffic(args: list[str], deployments: list[str]) -> dict[str, int]:
    if not args:
        raise CommandError("traffic takes NAME=PERCENT pairs: traffic blue=80 green=20")
    split = dict.fromkeys(deployments, 0)
    for pair in args:
        name, equals, value = pair.partition("=")
        if not equals:
            raise CommandError(f"{pair!r} is not NAME=PERCENT")
        try:
            share = int(value.rstrip("%"))
        except ValueError:
            raise CommandError(f"{value!r} is not a whole percentage") from None
        split[_deployment(name, deployments)] = share
    try:
        check_traffic(split, None, deployments)
    except TrafficError as exc:
        if exc.total is not None:
            raise CommandError(f"the shares add up to {exc.total}, not 100") from None
        raise CommandError(str(exc)) from None
    return split
