"""`AMLResponse`: what `azureml.contrib.services.aml_response` gives a scoring script.

A run() that returns one has its status, headers and body sent as they are, binary included.
As with Azure's class: ``AMLResponse(message, status_code, response_headers={},
json_str=False, run_function_failed=False)``; with ``json_str`` the message is JSON-encoded
and sent as application/json, else it is sent as given (str, bytes, or an iterable of them)
as text/html unless a Content-Type header is given; ``None`` sends ``{}``. A header value with
commas becomes one header per value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from epdev.runtimes.worker.datastructures import ContentTyped, Headers

HTML = "text/html; charset=utf-8"
JSON = "application/json"


class AMLResponse(ContentTyped):
    """An HTTP response run() builds itself."""

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        self.status_code = int(status_code)
        self.headers = Headers()
        given = dict(response_headers or {})
        if message is None:
            self._body = b"{}"
            self.headers.add("Content-Type", JSON)
        elif json_str:
            self._body = json.dumps(message).encode()
            self.headers.add("Content-Type", JSON)
        else:
            self._body = _encode(message)
            if "Content-Type" not in given:
                self.headers.add("Content-Type", HTML)
        self.headers.set("x-ms-run-function-failed", run_function_failed)
        for name, value in given.items():
            for piece in str(value).split(","):
                self.headers.add(name, piece.strip())

    @property
    def status(self) -> str:
        try:
            phrase = HTTPStatus(self.status_code).phrase.upper()
        except ValueError:
            phrase = "UNKNOWN"
        return f"{self.status_code} {phrase}"

    def get_data(self, as_text: bool = False) -> Any:
        return self._body.decode("utf-8", "replace") if as_text else self._body

    def set_data(self, value: str | bytes) -> None:
        self._body = _encode(value)

    @property
    def data(self) -> bytes:
        return self._body

    @data.setter
    def data(self, value: str | bytes) -> None:
        self.set_data(value)

    def get_json(self) -> Any:
        return json.loads(self._body)

    @property
    def json(self) -> Any:
        return self.get_json()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._body)} bytes [{self.status}]>"


def _encode(message: Any) -> bytes:
    if isinstance(message, str):
        return message.encode()
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    if isinstance(message, Iterable):
        return b"".join(_encode(piece) for piece in message)
    raise TypeError(
        f"an AMLResponse message must be str, bytes or an iterable of them, not"
        f" {type(message).__name__} (pass json_str=True to send it as JSON)"
    )
