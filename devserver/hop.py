"""The HTTP client connector for the hop from the devserver to its instances.

Instances of the process and venv runtimes listen on Unix sockets, named by hosts that
epdev.runtimes.unix_hosts registers; Docker's listen on loopback TCP ports. One connector
serves both, so every instance keeps its own pool of keep-alive connections in one session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from aiohttp.client_exceptions import UnixClientConnectorError

from epdev.runtimes import unix_hosts

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ClientRequest


class HopConnector(aiohttp.TCPConnector):
    """TCP, except to the hosts that stand for an instance's Unix socket."""

    async def _create_connection(
        self, req: ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        path = unix_hosts.path_for(req.host)
        if path is None:
            return await super()._create_connection(req, traces, timeout)
        try:
            async with asyncio.timeout(timeout.sock_connect):
                factory = cast("Callable[[], ResponseHandler]", self._factory)
                _, protocol = await self._loop.create_unix_connection(factory, path)
        except OSError as exc:
            # Refused or gone (the instance has just died): a connect error, as TCP's is.
            raise UnixClientConnectorError(path, req.connection_key, exc) from exc
        return protocol
