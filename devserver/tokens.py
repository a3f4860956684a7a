"""Access tokens for `auth_mode: aml_token` endpoints: signed by the devserver, expiring.

A token names the endpoint it is for (JWT audience) and is signed with a secret kept 0600 in
the epdev home, so tokens survive a devserver restart and no other devserver's tokens pass.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import jwt

from epdev.devserver.home import write_private
from epdev.devserver.serveoptions import DEFAULT_TOKEN_LIFETIME

ISSUER = "epdev"
# Tokens already verified, remembered until they expire: checking a JWT's signature costs about
# as much as the rest of the router's work on a call, and callers send the same token for an hour.
_VERIFIED_MAX = 4096


def load_secret(path: Path) -> bytes:
    """The signing secret, made on first use."""
    if not path.exists():
        write_private(path, secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


class TokenIssuer:
    def __init__(
        self,
        secret: bytes,
        lifetime: dt.timedelta = DEFAULT_TOKEN_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.lifetime = lifetime
        # Seconds since the epoch; issuing and expiry both read it, so a test can move time on.
        self._clock = clock
        self._verified: dict[str, tuple[str, float]] = {}

    def issue(self, endpoint: str) -> dict[str, str]:
        """A token for one endpoint, in the shape of Azure's `get-credentials` answer."""
        now = dt.datetime.fromtimestamp(int(self._clock()), dt.UTC)
        expiry = now + self.lifetime
        claims = {"iss": ISSUER, "aud": endpoint, "iat": now, "exp": expiry}
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        return {
            "accessToken": token,
            "tokenType": "Bearer",
            "expiryTimeUtc": expiry.isoformat().replace("+00:00", "Z"),
            # Clients renew half-way, as Azure advises, so a token never lapses mid-call.
            "refreshAfterTimeUtc": (now + self.lifetime / 2).isoformat().replace("+00:00", "Z"),
        }

    def problem(self, token: str, endpoint: str) -> str | None:
        """Why `token` does not admit a call to `endpoint`, or None when it does."""
        known = self._verified.get(token)
        if known is not None and known[0] == endpoint and self._clock() < known[1]:
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=endpoint,
                issuer=ISSUER,
                # Times are checked below against this issuer's clock, not PyJWT's own.
                options={
                    "require": ["exp", "aud", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            expiry = float(claims["exp"])
        except jwt.InvalidAudienceError:
            return f"the token was issued for another endpoint, not {endpoint!r}"
        except jwt.InvalidSignatureError:
            return (
                "the token's signature is not valid: it was altered or not issued by this devserver"
            )
        except (jwt.PyJWTError, TypeError, ValueError):
            return (
                "the credential is not a token issued by epdev (for key auth, use auth_mode: key)"
            )
        if expiry <= self._clock():
            return "the token has expired: get a new one with `online-endpoint get-credentials`"
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (endpoint, expiry)
        return None
