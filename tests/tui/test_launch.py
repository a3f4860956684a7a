"""What the dashboard's launcher prepares before the first screen."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter (this test process has long imported every view), with the app left out:
# is every view loaded when the launcher freezes the heap?
PROBE = """
import gc, pkgutil, sys, types
from epdev.tui import launch, screens

views = {f"{screens.__name__}.{m.name}" for m in pkgutil.iter_modules(screens.__path__)}
print(views <= set(sys.modules), "plotext" in sys.modules)
loaded_at_freeze = []
gc.freeze = lambda: loaded_at_freeze.append(views <= set(sys.modules) and "plotext" in sys.modules)

class NoApp:
    def __init__(self, *args, **kwargs): pass
    def run(self): pass

launch.EpdevApp = NoApp
launch.AsyncClient = lambda connection: None
launch.run(types.SimpleNamespace(url="https://127.0.0.1:1"))
print(loaded_at_freeze)
"""


def test_every_view_is_imported_before_the_heap_is_frozen() -> None:
    """What a view's module makes at import (plotext's documentation, with the endpoint view)
    is frozen with the rest only if it exists by the freeze; otherwise every full collection
    walks it."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False False", "[True]"]
