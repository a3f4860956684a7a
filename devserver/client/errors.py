"""The client's errors: one line a user can act on, naming what failed."""

from __future__ import annotations

import httpx


class ClientError(Exception):
    """A call to the devserver failed; the message is one line a user can act on."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotRunning(ClientError):
    pass


def error_message(response: httpx.Response) -> str:
    """The devserver's own words for a refused request (Azure's `error.message` shape, ours, or
    FastAPI's `detail`), else the status and the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:500]}"
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if "message" in payload:
            return str(payload["message"])
        if "detail" in payload:
            return str(payload["detail"])
    return f"HTTP {response.status_code}: {payload}"
