"""The Open Inference Protocol (KServe V2) paths of an endpoint, as the router maps them.

Under ``/endpoints/<endpoint>/``: ``v2/health/live`` and ``v2/health/ready`` (and ``v2``, the
server's metadata) are answered by the router itself; ``v2/models/<deployment>``, ``.../ready``
and ``.../infer`` go to one instance of that deployment, whose worker translates them
(epdev.runtimes.worker.openinference). Only MLflow deployments with no scoring script speak V2;
the model name is the deployment's name. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from epdev.devserver.pool import Pool

PREFIX = "v2"
ERROR_KEY = "error"


@dataclass(frozen=True)
class Direct:
    """An answer the router gives without an instance."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Forward:
    """Send the call to an instance of `deployment`, at `path` on its worker."""

    deployment: str
    path: str


class V2Failure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_v2(action: str) -> bool:
    return action == PREFIX or action.startswith(PREFIX + "/")


def _server_version() -> str:
    try:
        return version("epdev")
    except PackageNotFoundError:
        return "0"


def resolve(
    action: str, method: str, pools: dict[str, Pool], v2_deployments: frozenset[str]
) -> Direct | Forward:
    """What to do with `action` (the path after the endpoint's name); V2Failure if nothing."""
    parts = action.strip("/").split("/")
    if parts == ["v2"] and method == "GET":
        return Direct(200, {"name": "epdev", "version": _server_version(), "extensions": []})
    if parts == ["v2", "health", "live"] and method == "GET":
        return Direct(200, {"live": True})
    if parts == ["v2", "health", "ready"] and method == "GET":
        # Ready when every V2 model of the endpoint has a ready instance.
        ready = bool(v2_deployments) and all(pools[d].slots for d in v2_deployments if d in pools)
        return Direct(200 if ready else 400, {"ready": ready})
    if len(parts) < 3 or parts[1] != "models":
        raise V2Failure(404, f"no such V2 path: /{action}")
    name = parts[2]
    if name not in pools:
        raise V2Failure(404, f"model {name!r} is not a deployment of this endpoint")
    if name not in v2_deployments:
        raise V2Failure(
            404,
            f"deployment {name!r} runs a scoring script; the V2 protocol is served for MLflow "
            "models deployed with no code_configuration",
        )
    if parts[3:] == ["ready"] and not pools[name].slots:
        return Direct(400, {"name": name, "ready": False})
    return Forward(name, "/" + "/".join(parts))
