"""One request to the devserver as data, and how its answer is read: what the table of
operations builds and the sync and async senders send.

A request names its answer without importing the views: the dashboard's client decodes JSON into
the named view, while the CLI's client keeps the JSON it prints, so a CLI command never pays for
loading pydantic (about half a second on a busy machine).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from epdev.devserver import names
from epdev.devserver.client.errors import ClientError, NotRunning, error_message

T = TypeVar("T")
P = TypeVar("P")

ASSET_KINDS = ("data", "models")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """How an answer is read: as a view of `epdev.devserver.views` (by the typed client; the
    plain one keeps the JSON), or shaped alike by both clients when it is no view."""

    view: str | None = None
    many: bool = False
    shape: Callable[[Any], T] | None = None

    def adapter(self) -> Any:
        return _adapter(self.view, self.many) if self.view else None


@functools.cache
def _adapter(view: str, many: bool) -> Any:
    from pydantic import TypeAdapter

    from epdev.devserver import views

    kind = getattr(views, view)
    return TypeAdapter(list[kind] if many else kind)  # type: ignore[valid-type]


def nothing(_: object) -> None:
    return None


def text(data: object) -> str:
    return str(data)


NOTHING: Answer[None] = Answer(shape=nothing)
TEXT: Answer[str] = Answer(shape=text)


@dataclass(frozen=True)
class Request(Generic[T, P]):
    """A call and how to read its answer: `T` as the typed (async) client answers, `P` as the
    plain (sync) one does; they differ only for views, which the plain client keeps as JSON."""

    method: str
    path: str
    answer: Answer[T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | float | None = None
    scoring: bool = False
    """A call to a scoring URI: the response is the caller's, whatever its status."""
    doing: str = "request to the devserver"
    """What the one-line error says failed."""

    def url(self) -> str:
        return self.path if self.scoring else f"/api/v1{self.path}"


Json = dict[str, Any]
ViewRequest = Request[T, Json]
"""A request answered by a view: the typed client decodes it, the plain one keeps the JSON."""
ViewsRequest = Request[list[T], list[Json]]
"""A request answered by a list of views."""
SameRequest = Request[T, T]
"""A request both clients answer alike."""
Steps = Generator[SameRequest[Any], Any, Request[T, P]]
"""An operation of several calls: it yields the calls whose answers it needs (answered alike by
both clients) and returns the last one, which its caller receives."""


def view(name: str, *, many: bool = False) -> Answer[Any]:
    return Answer(view=name, many=many)


def shaped(shape: Callable[[Any], T]) -> Answer[T]:
    return Answer(shape=shape)


def read(request: Request[Any, Any], response: httpx.Response, typed: bool) -> Any:
    """The answer to `request`; a refusal is a one-line ClientError."""
    if request.scoring:
        return response
    if response.status_code >= 400:
        raise ClientError(error_message(response), response.status_code)
    data: Any = None
    if response.status_code != 204:
        if response.headers.get("content-type", "").startswith("application/json"):
            data = response.json()
        else:
            data = response.text
    answer = request.answer
    if answer.shape is not None:
        return answer.shape(data)
    return answer.adapter().validate_python(data) if typed else data


def failed(request: Request[Any, Any], server: str, exc: httpx.HTTPError) -> ClientError:
    """The one-line error for a call that got no answer."""
    if isinstance(exc, httpx.ConnectError) and not request.scoring:
        return NotRunning(f"cannot reach the devserver at {server}: {exc}")
    return ClientError(f"{request.doing} failed: {exc}")


PathName = tuple[names.NameKind | Literal["asset kind", "unchecked"], str]


def path(template: str, *named: PathName) -> str:
    """The one way a name enters a URL: checked against Azure's pattern (a one-line ClientError
    before anything is sent), then quoted as a single path segment."""
    segments = []
    for kind, value in named:
        if kind == "asset kind":
            if value not in ASSET_KINDS:
                raise ClientError(f"asset kind {value!r} is not one of {', '.join(ASSET_KINDS)}")
            segments.append(value)
        elif kind == "unchecked":
            # Environments: no pattern is enforced for them; quoting keeps a name one segment.
            segments.append(quote(value, safe=""))
        else:
            try:
                segments.append(names.segment(kind, value))
            except names.InvalidName as exc:
                raise ClientError(str(exc)) from None
    return template.format(*segments)


def params(**values: Any) -> dict[str, Any]:
    """Query parameters, those that are None left out."""
    return {k: v for k, v in values.items() if v is not None}


def bearer_credential(credentials: dict[str, str]) -> str:
    """What goes after `Bearer`: the primary key, or the access token of a token endpoint."""
    return credentials.get("primaryKey") or credentials["accessToken"]
