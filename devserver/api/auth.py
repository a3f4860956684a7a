"""The admin token that guards the control plane."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from epdev.devserver.errors import ApiError

SCHEME = "AdminToken"
"""The security scheme's name in the OpenAPI document (what Swagger's "Authorize" fills in)."""

# Checked by require_admin, which says what is wrong in epdev's error body: auto_error would
# answer FastAPI's own 403.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=SCHEME,
    description="The admin token from $EPDEV_HOME/admin-token",
)


class Unauthorized(ApiError):
    status = 401
    code = "Unauthorized"


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The routers' dependency: as a dependency on the bearer scheme, it declares the scheme on
    every operation it guards."""
    check_admin(request, credentials)


async def admin_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """The bearer credentials of a request that a route checks by itself (not as a dependency)."""
    return await _bearer(request)


def check_admin(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    expected: str = request.app.state.admin_token
    if credentials is None:
        raise Unauthorized(
            "missing admin token: send 'Authorization: Bearer <$EPDEV_HOME/admin-token>'"
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("the admin token is not valid for this devserver")
