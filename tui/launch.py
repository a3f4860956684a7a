"""Open the dashboard on a devserver connection (the CLI decides whether it embeds one)."""

from __future__ import annotations

from epdev.devserver.client import AsyncClient, Connection
from epdev.tui.app import EpdevApp
from epdev.tui.style_meta import compact_style_meta


def run(connection: Connection, *, read_only: bool = False, embedded: bool = False) -> None:
    compact_style_meta()
    app = EpdevApp(
        AsyncClient(connection),
        server_url=connection.url,
        read_only=read_only,
        embedded=embedded,
    )
    app.run()
