"""Access tokens against a clock the test moves: issued, admitted, cached, then expired."""

from __future__ import annotations

import datetime as dt

import jwt

from epdev.devserver.tokens import TokenIssuer

SECRET = b"s" * 32


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_admits_calls_until_its_lifetime_has_passed() -> None:
    clock = FakeClock(1_700_000_000.0)
    issuer = TokenIssuer(SECRET, dt.timedelta(seconds=60), clock=clock)
    creds = issuer.issue("ep")
    assert creds["expiryTimeUtc"] == "2023-11-14T22:14:20Z"
    assert creds["refreshAfterTimeUtc"] == "2023-11-14T22:13:50Z"
    token = creds["accessToken"]
    assert issuer.problem(token, "ep") is None
    clock.now += 59.5
    # Admitted from the cache of verified tokens, which follows the same clock.
    assert issuer.problem(token, "ep") is None
    clock.now += 0.5
    problem = issuer.problem(token, "ep")
    assert problem is not None and "expired" in problem


def test_an_expired_token_is_refused_on_its_first_call_too() -> None:
    clock = FakeClock(1_700_000_000.0)
    issuer = TokenIssuer(SECRET, dt.timedelta(seconds=60), clock=clock)
    token = issuer.issue("ep")["accessToken"]
    clock.now += 3600
    problem = issuer.problem(token, "ep")
    assert problem is not None and "expired" in problem


def test_a_token_from_the_clocks_future_is_still_ours() -> None:
    # Issued by a devserver whose clock ran ahead (or before a restart with the same secret):
    # only the expiry counts.
    ahead = TokenIssuer(SECRET, dt.timedelta(seconds=60), clock=FakeClock(2_000_000_000.0))
    token = ahead.issue("ep")["accessToken"]
    behind = TokenIssuer(SECRET, dt.timedelta(seconds=60), clock=FakeClock(1_999_999_990.0))
    assert behind.problem(token, "ep") is None


def test_other_endpoints_signatures_and_shapes_are_refused() -> None:
    clock = FakeClock(1_700_000_000.0)
    issuer = TokenIssuer(SECRET, dt.timedelta(seconds=60), clock=clock)
    token = issuer.issue("ep")["accessToken"]
    assert "another endpoint" in (issuer.problem(token, "other") or "")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "some other secret of 32 bytes or more!", algorithm="HS256")
    assert "signature is not valid" in (issuer.problem(forged, "ep") or "")
    assert "not a token issued by epdev" in (issuer.problem("not-a-token", "ep") or "")
    odd = jwt.encode({**claims, "exp": "soon"}, SECRET, algorithm="HS256")
    assert "not a token issued by epdev" in (issuer.problem(odd, "ep") or "")
