"""Open the dashboard on a devserver connection (the CLI decides whether it embeds one)."""

from __future__ import annotations

import gc
import importlib
import pkgutil

from epdev.devserver.client import AsyncClient, Connection
from epdev.tui.app import EpdevApp
from epdev.tui.textual_workarounds import compact_style_meta, free_rendered_lines_promptly


def load_every_view() -> None:
    """Import each view's module, which screens otherwise do on first use.

    Done before the freeze in `run`, what their modules make at import is frozen with the rest
    instead of being walked by every full collection: over live graphs about 17,000 objects
    (most of them plotext's documentation), a quarter of what each walked. The cost is a
    quarter of a second more at start, which the first visit to the endpoint view saves.
    """
    from epdev.tui import screens

    for module in pkgutil.iter_modules(screens.__path__):
        importlib.import_module(f"{screens.__name__}.{module.name}")


def run(connection: Connection, *, read_only: bool = False, embedded: bool = False) -> None:
    compact_style_meta()
    free_rendered_lines_promptly()
    app = EpdevApp(
        AsyncClient(connection),
        server_url=connection.url,
        read_only=read_only,
        embedded=embedded,
    )
    # A full collection stops the dashboard (no key is answered meanwhile), and live figures
    # made them frequent: each redraw's strips and styles live about a second, long enough to
    # be promoted, which soon calls for a full collection (every 5-10 s with the default 700).
    # With a young generation of 3,000 most of them die young: over live graphs one full
    # collection every half minute, of 20-60 ms. 10,000 makes them rarer still but holds about
    # 5 MiB more garbage (bench/dashboard_idle.py, one hour each). What exists by now (modules,
    # classes, an embedded devserver, every view's module) lives as long as the process:
    # frozen, no collection walks it again.
    load_every_view()
    gc.collect()
    gc.freeze()
    gc.set_threshold(3_000, 10, 10)
    app.run()
