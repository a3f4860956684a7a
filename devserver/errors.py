"""Errors the devserver reports: the control plane's to its callers, and its own start and stop."""

from __future__ import annotations


class ApiError(Exception):
    """A request that cannot be carried out; nothing was changed."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    pass


class NotFound(ApiError):
    status = 404
    code = "NotFound"


class Conflict(ApiError):
    status = 409
    code = "Conflict"


class ServerError(Exception):
    """The devserver cannot start or stop; the message says why in one line."""
