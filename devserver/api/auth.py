"""The admin token that guards the control plane."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from epdev.devserver.errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="The admin token from $EPDEV_HOME/admin-token")


class Unauthorized(ApiError):
    status = 401
    code = "Unauthorized"


async def require_admin(request: Request) -> None:
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    expected: str = request.app.state.admin_token
    if credentials is None:
        raise Unauthorized(
            "missing admin token: send 'Authorization: Bearer <$EPDEV_HOME/admin-token>'"
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("the admin token is not valid for this devserver")
