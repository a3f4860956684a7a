"""Open the dashboard on a devserver connection (the CLI decides whether it embeds one)."""

from __future__ import annotations

import gc

from epdev.devserver.client import AsyncClient, Connection
from epdev.tui.app import EpdevApp
from epdev.tui.rendered_lines import free_rendered_lines_promptly
from epdev.tui.style_meta import compact_style_meta


def run(connection: Connection, *, read_only: bool = False, embedded: bool = False) -> None:
    compact_style_meta()
    free_rendered_lines_promptly()
    app = EpdevApp(
        AsyncClient(connection),
        server_url=connection.url,
        read_only=read_only,
        embedded=embedded,
    )
    # Full collections stop the dashboard (100-200 ms in which no key is answered), and live
    # figures made them frequent: each redraw's strips and styles live about a second, long
    # enough to be promoted, which soon calls for a full collection (every 5-10 s with the
    # default 700). With a young generation of 3,000 most of them die young: a full collection
    # about once a minute. 10,000 makes them rarer still but holds about 5 MiB more garbage
    # (bench/dashboard_idle.py, one hour each). What exists by now (modules, classes, an
    # embedded devserver) lives as long as the process: frozen, no collection walks it again.
    gc.collect()
    gc.freeze()
    gc.set_threshold(3_000, 10, 10)
    app.run()
