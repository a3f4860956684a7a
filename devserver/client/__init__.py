"""The devserver's HTTP client, shared by the CLI and the dashboard: a table of operations
(`operations`), each a request as data (`request`), sent by a sync and an async client
(`senders`)."""

from epdev.devserver.client.connection import SERVER_ENV, Connection, ssl_context
from epdev.devserver.client.errors import ClientError, NotRunning
from epdev.devserver.client.request import ASSET_KINDS, bearer_credential
from epdev.devserver.client.senders import AsyncClient, Client

__all__ = [
    "ASSET_KINDS",
    "SERVER_ENV",
    "AsyncClient",
    "Client",
    "ClientError",
    "Connection",
    "NotRunning",
    "bearer_credential",
    "ssl_context",
]
