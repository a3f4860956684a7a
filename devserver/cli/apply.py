"""`epdev apply -f FILE|DIR`: create or update whatever the files describe, endpoints first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from epdev.devserver.cli.common import (
    Failure,
    client,
    fails_cleanly,
    spec_payload,
)
from epdev.devserver.cli.deployments import wait_for
from epdev.devserver.client import Client, ClientError
from epdev.specs import LoadedSpec, load_specs


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "target",
    required=True,
    type=click.Path(exists=True),
    help="A spec file or a folder of them.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate everything and print the plan; change nothing."
)
@click.option("--no-wait", is_flag=True, help="Do not wait for deployments to become ready.")
@fails_cleanly
def apply_command(target: str, dry_run: bool, no_wait: bool) -> None:
    """Create or update endpoints and deployments from YAML specs."""
    specs, skipped = load_specs(Path(target))
    for path in skipped:
        click.echo(f"skipped {path}: not an endpoint or deployment spec", err=True)
    for loaded in specs:
        note = loaded.cloud_only_note()
        if note:
            click.echo(f"note: {note}", err=True)
    with client() as api:
        plan = _plan(api, specs)
        for action, loaded in plan:
            click.echo(
                f"{action} {loaded.kind} {_label(loaded)}" + (" (dry run)" if dry_run else "")
            )
        if dry_run:
            return
        _apply(api, plan, wait=not no_wait)


def _label(loaded: LoadedSpec) -> str:
    endpoint = getattr(loaded.spec, "endpoint_name", None)
    return f"{endpoint}/{loaded.name}" if endpoint else loaded.name


def _plan(api: Client, specs: list[LoadedSpec]) -> list[tuple[str, LoadedSpec]]:
    """Check every spec with the devserver before anything changes; say what would happen."""
    existing = {e["name"]: set(e["deployments"]) for e in api.list_endpoints()}
    described = {s.name for s in specs if s.kind == "online-endpoint"}
    deployments = {
        (str(getattr(s.spec, "endpoint_name", "")), s.name)
        for s in specs
        if s.kind == "online-deployment"
    }
    plan: list[tuple[str, LoadedSpec]] = []
    for loaded in specs:
        where = f"{loaded.path}: " if loaded.path else ""
        payload = spec_payload(loaded)
        if loaded.kind == "online-endpoint":
            traffic: dict[str, int] = payload.get("traffic", {})
            known = existing.get(loaded.name, set()) | {
                d for e, d in deployments if e == loaded.name
            }
            missing = sorted(n for n, p in traffic.items() if p and n not in known)
            if missing:
                names = ", ".join(missing)
                raise Failure(
                    f"{where}traffic names deployment(s) {names} that neither exist nor are "
                    "described"
                )
            action = "update" if loaded.name in existing else "create"
            _check(
                api,
                loaded,
                {k: v for k, v in payload.items() if k not in ("traffic", "mirror_traffic")},
                where,
            )
        else:
            endpoint = str(payload.get("endpoint_name") or "")
            if not endpoint:
                raise Failure(f"{where}endpoint_name is not set")
            if endpoint not in existing and endpoint not in described:
                raise Failure(
                    f"{where}endpoint {endpoint!r} neither exists on the devserver nor is "
                    "described by the applied files"
                )
            action = "update" if loaded.name in existing.get(endpoint, set()) else "create"
            _check(api, loaded, payload, where)
        plan.append((action, loaded))
    return plan


def _check(api: Client, loaded: LoadedSpec, payload: dict[str, Any], where: str) -> None:
    try:
        api.validate(loaded.kind, payload)
    except ClientError as exc:
        raise Failure(f"{where}{exc}") from None


def _apply(api: Client, plan: list[tuple[str, LoadedSpec]], *, wait: bool) -> None:
    splits: list[tuple[str, dict[str, Any]]] = []
    started: list[tuple[str, str]] = []
    for action, loaded in plan:
        payload = spec_payload(loaded)
        source = str(loaded.path) if loaded.path else None
        if loaded.kind == "online-endpoint":
            # Traffic waits until the deployments it names are there.
            split: dict[str, Any] = {
                k: payload.pop(k) for k in ("traffic", "mirror_traffic") if k in payload
            }
            if split:
                splits.append((loaded.name, split))
            if action == "create":
                api.create_endpoint(payload, source)
            else:
                api.update_endpoint(loaded.name, spec=payload, source=source)
        else:
            endpoint = str(payload["endpoint_name"])
            if action == "create":
                api.create_deployment(endpoint, payload, source, all_traffic=False)
            else:
                api.update_deployment(
                    endpoint, loaded.name, spec=payload, source=source, only_if_changed=True
                )
            started.append((endpoint, loaded.name))
    if wait:
        for endpoint, name in started:
            wait_for(api, endpoint, name)
            click.echo(f"{endpoint}/{name} is ready")
    for name, split in splits:
        api.update_endpoint(
            name, traffic=split.get("traffic"), mirror_traffic=split.get("mirror_traffic")
        )
        click.echo(f"{name}: traffic {split}")
