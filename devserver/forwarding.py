"""The router's hop to an instance: one request out, the instance's status, headers and body back.

The rest of the data plane sees only `Forwarder.send` and the two errors below, so the HTTP client
behind it (aiohttp today, over epdev.devserver.hop's connector) can change in this module alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import aiohttp

from epdev.devserver.hop import HopConnector

RawHeaders = Sequence[tuple[bytes, bytes]]
"""The instance's response headers as the bytes they came in, in their order."""


class Refused(Exception):
    """The instance refused the connection: nothing was sent, so another may take the call."""


class Broken(Exception):
    """The exchange with the instance failed after it began."""


class Forwarder:
    """Sends calls to instances over one pooled keep-alive session, made on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = HopConnector(limit=0, force_close=False, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                # A call with no Content-Type reaches the instance with none, not octet-stream.
                skip_auto_headers=("User-Agent", "Content-Type"),
            )
        return self._session

    async def send(
        self,
        address: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        timeout: float,
    ) -> tuple[int, RawHeaders, bytes]:
        """`method` `path` (with its query) at the instance at `address` (its base URL); its
        status, headers and body. TimeoutError past `timeout` seconds, Refused or Broken."""
        try:
            async with self.session().request(
                method,
                address + path,
                data=body,
                headers=headers,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                return upstream.status, upstream.raw_headers, payload
        except TimeoutError:
            raise  # aiohttp's own timeouts are also ClientErrors: they stay timeouts
        except aiohttp.ClientConnectorError as exc:
            raise Refused(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise Broken(str(exc)) from exc


@functools.cache
def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """One timeout object per request_timeout_ms in use, not one per call."""
    return aiohttp.ClientTimeout(total=seconds)
