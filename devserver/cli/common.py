"""What every command shares: az-compatible options, the client, one-line errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml

from epdev.devserver.cli.output import FORMATS
from epdev.devserver.client import Client, ClientError, Connection
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home
from epdev.runtimes.catalog import RUNTIME_NAMES
from epdev.specs.errors import SpecError

if TYPE_CHECKING:
    from epdev.specs.kinds import SpecKind
    from epdev.specs.loader import LoadedSpec

F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """Exit non-zero with one line on stderr."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def fails_cleanly(func: F) -> F:
    """Turn our known errors into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ClientError, ServerError) as exc:
            raise Failure(str(exc)) from None
        except SpecError as exc:
            raise Failure(_spec_message(exc)) from None
        except OSError as exc:
            raise Failure(f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")) from None

    return wrapper  # type: ignore[return-value]


def _spec_message(exc: SpecError) -> str:
    # One line for the first problem; further ones follow on their own lines (still an error).
    lines = [str(issue) for issue in exc.issues]
    return (
        lines[0]
        if len(lines) == 1
        else f"{lines[0]} (and {len(lines) - 1} more)\n"
        + "\n".join(f"  {line}" for line in lines[1:])
    )


def output_option(func: F) -> F:
    """A command's own `-o` (every command gets az's global one; see azstyle)."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(FORMATS, case_sensitive=False),
        default="json",
        show_default=True,
        help="Output format.",
    )(func)


def az_compat(func: F) -> F:
    """Accept az ml's `--local` where it changes nothing locally (the workspace flags come
    with every command; see azstyle)."""
    return click.option("--local", hidden=True, is_flag=True, expose_value=False)(func)


def studio_flags(func: F) -> F:
    """az's `--web` (open the studio page) and, on deployments, flags that only tune az's own
    local Docker mode: accepted so scripts run, with nothing to do here."""
    for name in ("--web", "--skip-script-validation", "--local-enable-gpu"):
        func = click.option(name, is_flag=True, hidden=True, expose_value=False)(func)
    return func


def endpoint_option(required: bool = False, help: str = "Endpoint name.") -> Callable[[F], F]:
    """az's `-e/--endpoint-name`, also spelt `--endpoint`."""
    return click.option(
        "-e", "--endpoint-name", "--endpoint", "endpoint_name", required=required, help=help
    )


def deployment_option(help: str) -> Callable[[F], F]:
    """az's `-d/--deployment-name`, also spelt `--deployment`."""
    return click.option("-d", "--deployment-name", "--deployment", "deployment_name", help=help)


def runtime_option(func: F) -> F:
    return click.option(
        "--runtime",
        type=click.Choice(RUNTIME_NAMES),
        default=None,
        help="How the instances run: this machine's Python (process), an isolated venv built "
        "from the environment, Docker containers, or auto (process when the devserver's Python "
        "has what the environment asks for, else venv). Default: the devserver's (auto).",
    )(func)


def client() -> Client:
    return Client(Connection.discover(Home()))


def parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    """`--set key.path=value`, the value read as YAML (so numbers and booleans keep their type)."""
    result: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise Failure(f"--set {item!r}: use KEY=VALUE, e.g. --set instance_count=2")
        try:
            result[key.strip()] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            result[key.strip()] = raw
    return result


def load_file(path: str, kind: SpecKind, overrides: dict[str, Any] | None = None) -> LoadedSpec:
    # Here rather than at the top: commands that load no file skip the pydantic models.
    from epdev.specs.loader import load_spec

    loaded = load_spec(Path(path), kind, overrides=overrides)
    note = loaded.cloud_only_note()
    if note:
        click.echo(f"note: {note}", err=True)
    return loaded


def spec_from_fields(
    kind: SpecKind, fields: dict[str, Any], overrides: dict[str, Any]
) -> LoadedSpec:
    """A spec given on the command line alone (`create -n NAME`, as az allows), validated."""
    from epdev.specs.loader import validate_spec
    from epdev.specs.overrides import apply_overrides

    return validate_spec(kind, apply_overrides(fields, overrides))


def progress(text: str) -> None:
    if sys.stderr.isatty():
        click.echo(text, err=True, nl=False)
