"""The workspace and compute of `az ml`, answered locally, and the cloud-only command groups.

epdev is its own workspace: `workspace show` describes it (location `local`, no container
registry). Compute is this machine, so `compute create|show|list|delete` answer a local compute
and say that compute is not applicable locally. Every other az ml group that only exists in
the cloud fails with one line that says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from epdev.devserver.cli.azstyle import AzGroup, add_cloud_only, cloud_only
from epdev.devserver.cli.common import Failure, fails_cleanly
from epdev.devserver.cli.output import emit
from epdev.devserver.home import Home

# az ml's command groups that manage cloud resources with no local counterpart.
CLOUD_ONLY_GROUPS = (
    "azure-openai-deployment",
    "capability-host",
    "component",
    "connection",
    "datastore",
    "feature-set",
    "feature-store",
    "feature-store-entity",
    "index",
    "marketplace-subscription",
    "registry",
    "schedule",
    "serverless-endpoint",
)
LOCAL_NAME = "local"
_ANY_OPTIONS = {"ignore_unknown_options": True, "allow_extra_args": True}
_COMPUTE_NOTE = (
    "note: compute is not applicable locally: deployments and jobs run on this machine "
    "(the command changes nothing)"
)


def workspace_view(name: str | None, resource_group: str | None) -> dict[str, Any]:
    return {
        "name": name or LOCAL_NAME,
        "display_name": name or LOCAL_NAME,
        "description": f"epdev's local workspace (EPDEV_HOME={Home().root})",
        "location": LOCAL_NAME,
        "resource_group": resource_group,
        "container_registry": None,
        "storage_account": None,
        "key_vault": None,
        "application_insights": None,
        "mlflow_tracking_uri": os.environ.get("MLFLOW_TRACKING_URI"),
        "public_network_access": "Disabled",
        "tags": {},
    }


@click.group("workspace", cls=AzGroup)
def workspace() -> None:
    """The local workspace (az ml workspace)."""


@workspace.command("show")
@click.option("-n", "--name", "-w", "--workspace-name", "name", help="Accepted as az's.")
@click.option("-g", "--resource-group", help="Accepted as az's.")
@fails_cleanly
def show_workspace(name: str | None, resource_group: str | None) -> None:
    """Describe the local workspace: location local, no container registry."""
    emit(workspace_view(name, resource_group))


@workspace.command("list")
@click.option("-g", "--resource-group", help="Accepted as az's.")
@fails_cleanly
def list_workspaces(resource_group: str | None) -> None:
    """The one local workspace."""
    emit([workspace_view(None, resource_group)])


add_cloud_only(
    workspace,
    "workspace",
    (
        "create",
        "update",
        "delete",
        "diagnose",
        "list-keys",
        "sync-keys",
        "provision-network",
        "share",
        "outbound-rule",
    ),
)


def compute_view(name: str, compute_type: str | None, size: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "type": compute_type or "amlcompute",
        "location": LOCAL_NAME,
        "provisioning_state": "Succeeded",
        "size": size,
        "description": "this machine: epdev runs deployments and jobs here",
    }


@click.group("compute", cls=AzGroup)
def compute() -> None:
    """Compute is this machine (az ml compute): accepted, not applicable locally."""


@compute.command("create", context_settings=_ANY_OPTIONS)
@click.option("-n", "--name")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, exists=True))
@click.option("--type", "compute_type")
@click.option("--size")
@fails_cleanly
def create_compute(
    name: str | None,
    file: str | None,
    compute_type: str | None,
    size: str | None,
) -> None:
    """Accept a compute (any of az's options) and answer a local one."""
    spec: dict[str, Any] = {}
    if file:
        loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        spec = loaded if isinstance(loaded, dict) else {}
    name = name or spec.get("name")
    if not name:
        raise Failure("give the compute's --name (or a --file that names it)")
    click.echo(_COMPUTE_NOTE, err=True)
    emit(compute_view(str(name), compute_type or spec.get("type"), size or spec.get("size")))


@compute.command("show", context_settings=_ANY_OPTIONS)
@click.option("-n", "--name", required=True)
@fails_cleanly
def show_compute(name: str) -> None:
    """Answer a local compute of that name."""
    click.echo(_COMPUTE_NOTE, err=True)
    emit(compute_view(name, None, None))


@compute.command("list", context_settings=_ANY_OPTIONS)
@fails_cleanly
def list_compute() -> None:
    """The one local compute."""
    click.echo(_COMPUTE_NOTE, err=True)
    emit([compute_view(LOCAL_NAME, None, None)])


@compute.command("delete", context_settings=_ANY_OPTIONS)
@click.option("-n", "--name", required=True)
@click.option("-y", "--yes", is_flag=True)
@fails_cleanly
def delete_compute(name: str, yes: bool) -> None:
    """Accepted; nothing to delete."""
    click.echo(_COMPUTE_NOTE, err=True)


add_cloud_only(
    compute,
    "compute",
    (
        "attach",
        "connect-ssh",
        "detach",
        "enable-sso",
        "list-nodes",
        "list-sizes",
        "list-usage",
        "restart",
        "start",
        "stop",
        "update",
    ),
)


def cloud_only_groups() -> list[click.Command]:
    """One command per cloud-only az ml group; each fails with one line, whatever follows."""
    return [cloud_only(name) for name in CLOUD_ONLY_GROUPS]
