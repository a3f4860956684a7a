"""az's command-line conventions, given once to every command: the global options, list-valued
options written unquoted, and the az ml commands that only exist in the cloud.

`AzGroup` gives each command added to it (and, recursively, to the groups added to it) az's
global options: `-o/--output`, `--query`, the workspace flags (`-g`, `-w`, `--subscription`,
accepted and unused locally) and az's `--only-show-errors`, `--verbose`, `--debug`. Its `main`
rewrites az's space-separated list values (`--traffic blue=90 green=10`, `--set a=1 b=2`) into
what click parses, so the same line runs under either program.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from epdev.devserver.cli.common import Failure
from epdev.devserver.cli.output import DEFAULT_FORMAT, FORMATS, store_format, store_query

F = TypeVar("F", bound=Callable[..., Any])

# Options whose value az reads as several words (nargs='+'): joined into one value.
_JOINED = frozenset({"--traffic", "-t", "--mirror-traffic"})
# Options az repeats per word (`--set a=1 b=2`): each word becomes its own option.
_REPEATED = frozenset({"--set", "--tags", "--tag", "--properties"})

_DEFAULT_OUTPUT_ATTR = "__epdev_default_output__"


def default_output(fmt: str) -> Callable[[F], F]:
    """Decorate a command's function (below `@group.command`) to change its `-o` default."""

    def mark(func: F) -> F:
        setattr(func, _DEFAULT_OUTPUT_ATTR, fmt)
        return func

    return mark


def _global_options(default: str) -> list[click.Option]:
    return [
        click.Option(
            ["-o", "--output"],
            type=click.Choice(FORMATS, case_sensitive=False),
            default=default,
            show_default=True,
            expose_value=False,
            is_eager=True,
            callback=store_format,
            help="Output format.",
        ),
        click.Option(
            ["--query"],
            metavar="JMESPATH",
            expose_value=False,
            is_eager=True,
            callback=store_query,
            help="JMESPath query applied to the result (see http://jmespath.org).",
        ),
        click.Option(["-g", "--resource-group"], hidden=True, expose_value=False),
        click.Option(["-w", "--workspace-name"], hidden=True, expose_value=False),
        click.Option(["--subscription"], hidden=True, expose_value=False),
        click.Option(["--only-show-errors"], is_flag=True, hidden=True, expose_value=False),
        click.Option(["--verbose"], is_flag=True, hidden=True, expose_value=False),
        click.Option(["--debug"], is_flag=True, hidden=True, expose_value=False),
    ]


def give_az_options(command: click.Command) -> None:
    """Add az's global options to `command` (or to every command under a group), skipping any
    it declares itself."""
    if getattr(command, "_epdev_az_options", False):
        return  # done already (and `ml` holds the very commands of its parent)
    command._epdev_az_options = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in list(command.commands.values()):
            give_az_options(sub)
        return
    taken = {opt for param in command.params for opt in param.opts}
    default = getattr(command.callback, _DEFAULT_OUTPUT_ATTR, DEFAULT_FORMAT)
    for option in _global_options(default):
        if not taken.intersection(option.opts):
            command.params.append(option)


class AzGroup(click.Group):
    """A command group whose commands all take az's global options."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        give_az_options(cmd)
        super().add_command(cmd, name)

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        import sys

        words = list(sys.argv[1:] if args is None else args)
        return super().main(az_words(words), *rest, **extra)


def az_words(words: list[str]) -> list[str]:
    """Rewrite az's multi-word option values for click: `--traffic blue=90 green=10` becomes
    `--traffic "blue=90 green=10"`, `--set a=1 b=2` becomes `--set a=1 --set b=2`. Only words
    of the form KEY=VALUE that follow such an option are taken."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            out.extend(words[i:])
            break
        flag, eq, inline = word.partition("=")
        if flag in _JOINED | _REPEATED and (eq or i + 1 < len(words)):
            if eq:
                values, i = [inline], i + 1
            else:
                values, i = [words[i + 1]], i + 2
            while i < len(words) and _is_assignment(words[i]):
                values.append(words[i])
                i += 1
            if flag in _JOINED:
                out.extend([flag, " ".join(values)])
            else:
                for value in values:
                    out.extend([flag, value])
            continue
        out.append(word)
        i += 1
    return out


def _is_assignment(word: str) -> bool:
    return not word.startswith("-") and "=" in word


def cloud_only(label: str, what: str = "") -> click.Command:
    """A command that stands for an az ml command with no local counterpart: it takes any
    arguments and fails with one line that says so."""

    def fail(args: tuple[str, ...]) -> None:
        verb = f" {args[0]}" if args and not args[0].startswith("-") else ""
        reason = f" ({what})" if what else ""
        raise Failure(f"`az ml {label}{verb}` is cloud-only: it has no local counterpart{reason}")

    name = label.split()[-1]
    return click.Command(
        name,
        callback=fail,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help=f"Cloud-only in az ml: fails with a one-line note{': ' + what if what else ''}.",
        hidden=True,
        add_help_option=False,
    )


def add_cloud_only(group: click.Group, prefix: str, names: Sequence[str]) -> None:
    """Register `names` under `group` as cloud-only commands of `az ml PREFIX ...`."""
    for name in names:
        group.add_command(cloud_only(f"{prefix} {name}".strip()))
