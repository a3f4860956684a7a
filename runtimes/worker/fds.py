"""Close the descriptors a worker inherited by accident, before the user's code can see them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

_FD_DIR = "/proc/self/fd"


def close_inherited(keep: Iterable[int | None] = ()) -> list[int]:
    """Close every descriptor above stdio except `keep`; return those closed.

    The devserver's event loop (uvloop) spawns through libuv, which ignores `close_fds`: the
    parent ends of the stdio pipes and any descriptor the devserver left inheritable reach the
    child. A worker needs only its stdio and what its command line names, so it drops the
    rest at once. Where descriptors cannot be listed (no /proc) nothing is closed.
    """
    wanted = {fd for fd in keep if fd is not None}
    try:
        open_fds = [int(entry.name) for entry in Path(_FD_DIR).iterdir()]
    except (OSError, ValueError):
        return []
    closed = []
    for fd in sorted(open_fds):
        if fd <= 2 or fd in wanted:
            continue
        with contextlib.suppress(OSError):  # the listing's own descriptor, already closed
            os.close(fd)
            closed.append(fd)
    return closed
