"""Which devserver a client talks to: its URL, the admin token and the CA to trust."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from epdev.devserver.client.errors import NotRunning
from epdev.devserver.home import Home

SERVER_ENV = "EPDEV_SERVER"


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Trust epdev's local CA (or the system's store when there is no bundle)."""
    return (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    )


@dataclass(frozen=True)
class Connection:
    url: str
    admin_token: str
    ca_bundle: str | None

    @classmethod
    def discover(cls, home: Home | None = None) -> Connection:
        """Find the devserver: `EPDEV_SERVER`, else this home's `server.json`."""
        home = home or Home()
        explicit = os.environ.get(SERVER_ENV)
        if explicit:
            return cls.at(explicit, home)
        token = _token(home)
        info = home.running_server()
        if info is None or token is None:
            raise NotRunning(
                f"no devserver is running for EPDEV_HOME={home.root}; start one with "
                "`epdev serve --detach`"
            )
        return cls(info.url, token, info.ca_bundle)

    @classmethod
    def at(cls, url: str, home: Home | None = None) -> Connection:
        """The devserver at `url` (as `epdev --server URL` names one): the token and CA come
        from EPDEV_ADMIN_TOKEN and EPDEV_CA_BUNDLE, else from this home."""
        home = home or Home()
        token = _token(home)
        if token is None:
            raise NotRunning(f"no admin token: set EPDEV_ADMIN_TOKEN or EPDEV_HOME for {url}")
        ca = os.environ.get("EPDEV_CA_BUNDLE") or (
            str(home.ca_bundle) if home.ca_bundle.exists() else None
        )
        return cls(url.rstrip("/"), token, ca)

    def verify(self) -> ssl.SSLContext | bool:
        return ssl_context(self.ca_bundle) if self.url.startswith("https") else True


def _token(home: Home) -> str | None:
    return os.environ.get("EPDEV_ADMIN_TOKEN") or home.admin_token()
