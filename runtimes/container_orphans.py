"""Containers labelled with the instance and epdev home they belong to, and the sweep that
removes what an earlier devserver run left behind."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import docker.errors

from epdev.runtimes.engine import ClientFactory, connect, default_client
from epdev.runtimes.instance import InstanceFailed, InstanceSpec

LABEL_ENDPOINT = "epdev.endpoint"
LABEL_DEPLOYMENT = "epdev.deployment"
LABEL_INSTANCE = "epdev.instance"
LABEL_HOME = "epdev.home"
LABEL_RUN = "epdev.run"
"""Unique to one start of one instance: finds its container even if `run` never returned."""


def home_of(spec: InstanceSpec) -> str:
    """The epdev home an instance belongs to: its cache folder's parent (EPDEV_HOME/cache)."""
    return os.path.realpath(spec.cache_dir.absolute().parent)


def cleanup_orphans(home: Path, factory: ClientFactory = default_client) -> list[str]:
    """Remove every container of the epdev home `home`; return their names.

    Meant for devserver start: containers still labelled with this home were left by a run
    that did not stop them. Without an engine there is nothing to clean: returns [].
    """
    try:
        client = connect(factory)
    except InstanceFailed:
        return []
    removed: list[str] = []
    try:
        label = f"{LABEL_HOME}={os.path.realpath(home.absolute())}"
        # sparse: the list's own answer, without a per-container inspect that fails with
        # NotFound for one removed in between.
        for container in client.containers.list(all=True, filters={"label": label}, sparse=True):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
                names = container.attrs.get("Names") or [container.id or "?"]
                removed.append(names[0].lstrip("/"))
    finally:
        client.close()
    return removed
