"""`AMLRequest` and `@rawhttp`: what `azureml.contrib.services.aml_request` gives a scoring script.

Decorating any function of the script with ``@rawhttp`` makes the worker call ``run(request)``
with the HTTP request itself, as Azure's server does: an ``AMLRequest`` with werkzeug's request
API for what scripts read (``method``, ``headers``, ``args``, ``form``, ``files``,
``get_data()``, ``json``, ``full_path``...). Inside the worker this module is what the
``azureml.contrib.services.aml_request`` and ``azureml_inference_server_http.api.aml_request``
imports resolve to (see epdev.runtimes.worker.aliases), so scripts need no Azure package.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from epdev.runtimes.worker.datastructures import ContentTyped, FileStorage, Headers, MultiDict
from epdev.runtimes.worker.formdata import MULTIPART, URLENCODED, parse_form

F = TypeVar("F", bound=Callable[..., Any])

# The name Azure's module gives the same flag.
_rawHttpRequested = False


def rawhttp(func: F) -> F:
    """Ask for the raw request: the worker calls run() with an AMLRequest."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


def raw_requested() -> bool:
    return _rawHttpRequested


class BadRequest(Exception):
    """The request cannot give what the script asked of it (werkzeug raises its own, alike)."""

    code = 400


class UnsupportedMediaType(BadRequest):
    code = 415


class AMLRequest(ContentTyped):
    """One HTTP request to the scoring route, read whole."""

    def __init__(
        self,
        method: str = "GET",
        path: str = "/score",
        query_string: bytes = b"",
        headers: Headers | None = None,
        body: bytes = b"",
        *,
        scheme: str = "http",
        remote_addr: str | None = None,
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.query_string = query_string
        self.headers = headers if headers is not None else Headers()
        self.scheme = scheme
        self.remote_addr = remote_addr
        self.root_path = ""
        self.script_root = ""
        self._body = body
        self._args: MultiDict[str] | None = None
        self._form: tuple[MultiDict[str], MultiDict[FileStorage]] | None = None
        self._json: Any = _UNSET

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r} [{self.method}]>"

    # Where the request went.
    @property
    def host(self) -> str:
        value: str = self.headers.get("host", "")
        return value

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string.decode('latin-1')}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def url(self) -> str:
        query = self.query_string.decode("latin-1")
        return f"{self.base_url}?{query}" if query else self.base_url

    @property
    def host_url(self) -> str:
        return f"{self.scheme}://{self.host}/"

    url_root = host_url

    @property
    def is_secure(self) -> bool:
        return self.scheme == "https"

    # What it carries.
    @property
    def mimetype_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for item in (self.content_type or "").split(";")[1:]:
            key, _, value = item.partition("=")
            if key.strip():
                params[key.strip().lower()] = value.strip().strip('"')
        return params

    @property
    def content_length(self) -> int | None:
        value: int | None = self.headers.get("content-length", None, type=int)
        return value

    @property
    def content_encoding(self) -> str | None:
        value: str | None = self.headers.get("content-encoding")
        return value

    @property
    def user_agent(self) -> str:
        value: str = self.headers.get("user-agent", "")
        return value

    @property
    def args(self) -> MultiDict[str]:
        if self._args is None:
            query = self.query_string.decode("utf-8", "replace")
            self._args = MultiDict(parse_qsl(query, keep_blank_values=True))
        return self._args

    @property
    def cookies(self) -> MultiDict[str]:
        from http.cookies import SimpleCookie  # few scripts read cookies

        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.getlist("cookie"):
            jar.load(value)
        return MultiDict((name, morsel.value) for name, morsel in jar.items())

    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> Any:
        """The body as sent (bytes, or text with `as_text`)."""
        if parse_form_data and self.mimetype in (URLENCODED, MULTIPART):
            self._parse_form()
            return "" if as_text else b""
        return self._body.decode("utf-8", "replace") if as_text else self._body

    @property
    def data(self) -> bytes:
        """The body, except for form bodies, which are parsed into form and files instead."""
        value: bytes = self.get_data(parse_form_data=True)
        return value

    @property
    def stream(self) -> io.BytesIO:
        return io.BytesIO(self._body)

    input_stream = stream

    def _parse_form(self) -> tuple[MultiDict[str], MultiDict[FileStorage]]:
        if self._form is None:
            self._form = parse_form(self.mimetype, self.content_type or "", self._body)
        return self._form

    @property
    def form(self) -> MultiDict[str]:
        return self._parse_form()[0]

    @property
    def files(self) -> MultiDict[FileStorage]:
        return self._parse_form()[1]

    @property
    def values(self) -> MultiDict[str]:
        combined = self.args.copy()
        if self.method != "GET":
            for key, value in self.form.items(multi=True):
                combined.add(key, value)
        return combined

    @property
    def is_json(self) -> bool:
        mimetype = self.mimetype
        return mimetype == "application/json" or (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        )

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed as JSON; refused unless the Content-Type is JSON or `force`."""
        if cache and self._json is not _UNSET:
            return self._json
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaType(
                "Did not attempt to load JSON data because the request Content-Type was not"
                " 'application/json'."
            )
        try:
            value = json.loads(self._body)
        except ValueError as exc:
            if silent:
                return None
            raise BadRequest(f"Failed to decode JSON object: {exc}") from None
        if cache:
            self._json = value
        return value

    @property
    def json(self) -> Any:
        return self.get_json()


_UNSET: Any = object()
