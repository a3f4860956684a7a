"""Style metadata in exact-size objects, so a long-running dashboard's heap stays compact.

Rich and Textual keep a style's metadata (Textual's mouse offsets, a table cell's row and
column) as `pickle.dumps(meta)`: a few dozen bytes, made for nearly every segment drawn.
CPython's pickler writes into a 4 KiB buffer from the C heap and shrinks it in place when done,
so each of those blobs stays a tiny live chunk in the C heap with a hole beside it that the
next 4 KiB buffer cannot use. The styles live as long as the strips that hold them, scattered
across the heap, and a dashboard redrawing live figures grew its heap by about 0.3 MiB a minute
of free but unreturnable holes while the memory actually in use stayed flat.

Copying each blob into a bytes object of its own size lets the small-object allocator take it
and frees the 4 KiB buffer whole, at once. The blobs are the same bytes, so `Style.meta` and
style equality are unchanged.
"""

from __future__ import annotations

import pickle
from types import ModuleType

import rich.style
import textual.style

# The modules that pickle style metadata through a module-level `dumps` (checked with Rich 15
# and Textual 8). One that stops doing so is left as it is.
_PICKLING_MODULES: tuple[ModuleType, ...] = (rich.style, textual.style)


def _exact_dumps(meta: object) -> bytes:
    return bytes(memoryview(pickle.dumps(meta)))


def compact_style_meta() -> list[str]:
    """Make Rich and Textual store style metadata compactly; returns the modules that do."""
    compact = []
    for module in _PICKLING_MODULES:
        current = getattr(module, "dumps", None)
        if current is pickle.dumps:
            module.dumps = _exact_dumps  # type: ignore[attr-defined]
            compact.append(module.__name__)
        elif current is _exact_dumps:
            compact.append(module.__name__)
    return compact
