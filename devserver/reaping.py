"""What earlier devservers of this home left running, stopped when a devserver starts; and, while
it runs as a subreaper, the detached processes of scripts that exit on their own, reaped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import psutil

from epdev.devserver.home import Home
from epdev.devserver.store import Store
from epdev.runtimes import leftovers
from epdev.runtimes.catalog import Runtimes

log = logging.getLogger("epdev.devserver")

# How often, as a subreaper, the devserver reaps detached processes that exited on their own.
ORPHAN_REAP_SECONDS = 5.0


def stop_leftovers(home: Home, store: Store, runtimes: Runtimes) -> None:
    """Kill the instances (and what they detached) and remove the containers that an earlier,
    killed devserver of this home left behind."""
    # What its instances detached (setsid) outlived it: found by the mark in its environment.
    for leftover in leftovers.kill_scope(leftovers.scope_of(home.root / "cache")):
        log.info("killed %s, left running by an earlier devserver", leftover.describe())
    for pid in store.instance_pids():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            proc = psutil.Process(pid)
            if "epdev.runtimes.worker" in " ".join(proc.cmdline()):
                os.kill(pid, signal.SIGKILL)
        store.remove_instance_pid(pid)
    if any(row.runtime == "docker" for row in store.deployments()):
        for name in runtimes.remove_leftover_containers(home.root):
            log.info("removed container %s left by an earlier devserver", name)


def reap_orphans() -> asyncio.Task[None] | None:
    """Reap, in the background, the orphans this devserver adopts as a subreaper (None when it
    is not one)."""
    if not leftovers.is_subreaper():
        return None
    return asyncio.create_task(_reap_orphans())


async def _reap_orphans() -> None:
    while True:
        await asyncio.sleep(ORPHAN_REAP_SECONDS)
        await asyncio.to_thread(leftovers.reap_adopted)
