"""Endpoint keys: made at random, compared in constant time, never logged."""

from __future__ import annotations

import hmac
import secrets


def new_key() -> str:
    return secrets.token_urlsafe(24)


def bearer(header: str | None) -> str | None:
    """The credential in an `Authorization: Bearer ...` header (the scheme's case is ignored)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def key_matches(given: str, primary: str, secondary: str) -> bool:
    raw = given.encode()
    # Both comparisons always run so timing does not tell which key was close.
    first = hmac.compare_digest(raw, primary.encode())
    second = hmac.compare_digest(raw, secondary.encode())
    return first or second
