"""Applying spec files to a devserver: validate everything first, then create or update.

Shared by `epdev apply`, `epdev serve --apply` and the pytest plugin, so all three give the same
plan, the same all-or-nothing checks and the same waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epdev.devserver.client import Client, ClientError
from epdev.specs.traffic import traffic_problem

if TYPE_CHECKING:
    from epdev.specs import LoadedSpec

TERMINAL_STATES = ("Succeeded", "Failed")


class ApplyError(Exception):
    """Nothing could be applied, or a deployment did not become ready; the message says why."""

    def __init__(self, message: str, logs: str | None = None) -> None:
        super().__init__(message)
        self.logs = logs


@dataclass
class Step:
    action: str  # "create" or "update"
    spec: LoadedSpec

    @property
    def label(self) -> str:
        endpoint = getattr(self.spec.spec, "endpoint_name", None)
        name = self.spec.name
        return f"{self.spec.kind} {endpoint}/{name}" if endpoint else f"{self.spec.kind} {name}"


@dataclass
class Plan:
    steps: list[Step]
    skipped: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [s.spec.name for s in self.steps if s.spec.kind == "online-endpoint"]

    @property
    def deployments(self) -> list[tuple[str, str]]:
        return [
            (str(getattr(s.spec.spec, "endpoint_name", "")), s.spec.name)
            for s in self.steps
            if s.spec.kind == "online-deployment"
        ]


def payload(loaded: LoadedSpec) -> dict[str, Any]:
    """A spec as the REST API takes it: what the user set, with paths made absolute."""
    data: dict[str, Any] = loaded.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data


def plan(api: Client, target: Path) -> Plan:
    """Load every spec under `target` and check each with the devserver; change nothing."""
    # Here rather than at the top: commands that load no spec skip the pydantic models.
    from epdev.specs.discovery import load_specs

    specs, skipped = load_specs(target)
    notes = [note for s in specs if (note := s.cloud_only_note())]
    existing = {e["name"]: set(e["deployments"]) for e in api.list_endpoints()}
    batch_existing: dict[str, set[str]] = {}
    if any(s.kind.startswith("batch-") for s in specs):
        batch_existing = {e["name"]: set(e["deployments"]) for e in api.list_batch_endpoints()}
    described = {s.name for s in specs if s.kind == "online-endpoint"}
    deployments = {
        (str(getattr(s.spec, "endpoint_name", "")), s.name)
        for s in specs
        if s.kind == "online-deployment"
    }
    steps: list[Step] = []
    for loaded in specs:
        where = f"{loaded.path}: " if loaded.path else ""
        data = payload(loaded)
        if loaded.kind.startswith("batch-"):
            steps.append(_batch_step(api, loaded, data, batch_existing, specs, where))
            continue
        if loaded.kind == "online-endpoint":
            # What the endpoint will have once the plan has run: what exists and what is described.
            known = existing.get(loaded.name, set()) | {
                d for e, d in deployments if e == loaded.name
            }
            problem = traffic_problem(
                data.get("traffic", {}), data.get("mirror_traffic"), known, endpoint=loaded.name
            )
            if problem:
                raise ApplyError(f"{where}{problem}")
            action = "update" if loaded.name in existing else "create"
            without_split = {
                k: v for k, v in data.items() if k not in ("traffic", "mirror_traffic")
            }
            _check(api, loaded, without_split, where)
        else:
            endpoint = str(data.get("endpoint_name") or "")
            if endpoint not in existing and endpoint not in described:
                raise ApplyError(
                    f"{where}endpoint {endpoint!r} neither exists on the devserver nor is "
                    "described by the applied files"
                )
            action = "update" if loaded.name in existing.get(endpoint, set()) else "create"
            _check(api, loaded, data, where)
        steps.append(Step(action, loaded))
    return Plan(steps, skipped, notes)


def _batch_step(
    api: Client,
    loaded: LoadedSpec,
    data: dict[str, Any],
    existing: dict[str, set[str]],
    specs: list[LoadedSpec],
    where: str,
) -> Step:
    if loaded.kind == "batch-endpoint":
        _check(api, loaded, data, where)
        return Step("update" if loaded.name in existing else "create", loaded)
    endpoint = str(data.get("endpoint_name") or "")
    described = {s.name for s in specs if s.kind == "batch-endpoint"}
    if endpoint not in existing and endpoint not in described:
        raise ApplyError(
            f"{where}batch endpoint {endpoint!r} neither exists on the devserver nor is "
            "described by the applied files"
        )
    _check(api, loaded, data, where)
    return Step("update" if loaded.name in existing.get(endpoint, set()) else "create", loaded)


def _execute_batch(
    api: Client, step: Step, data: dict[str, Any], source: str | None, runtime: str | None
) -> None:
    name = step.spec.name
    if step.spec.kind == "batch-endpoint":
        if step.action == "create":
            api.create_batch_endpoint(data, source)
        else:
            api.update_batch_endpoint(name, spec=data, source=source)
        return
    endpoint = str(data["endpoint_name"])
    # `--runtime docker` is for the online deployments beside them: batch keeps its default.
    runtime = runtime if runtime in ("auto", "process", "venv") else None
    if step.action == "create":
        api.create_batch_deployment(endpoint, data, source, runtime=runtime)
    else:
        api.update_batch_deployment(endpoint, name, spec=data, source=source, runtime=runtime)


def _check(api: Client, loaded: LoadedSpec, data: dict[str, Any], where: str) -> None:
    try:
        api.validate(loaded.kind, data)
    except ClientError as exc:
        raise ApplyError(f"{where}{exc}") from None


def execute(
    api: Client,
    plan: Plan,
    *,
    wait: bool = True,
    timeout: float | None = None,
    runtime: str | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> None:
    """Carry out a plan: endpoints, then deployments, then (once they are ready) traffic."""
    splits: list[tuple[str, dict[str, Any]]] = []
    for step in plan.steps:
        data = payload(step.spec)
        source = str(step.spec.path) if step.spec.path else None
        name = step.spec.name
        if step.spec.kind.startswith("batch-"):
            _execute_batch(api, step, data, source, runtime)
        elif step.spec.kind == "online-endpoint":
            split: dict[str, Any] = {
                k: data.pop(k) for k in ("traffic", "mirror_traffic") if k in data
            }
            if split:
                splits.append((name, split))
            if step.action == "create":
                api.create_endpoint(data, source)
            else:
                api.update_endpoint(name, spec=data, source=source)
        else:
            endpoint = str(data["endpoint_name"])
            if step.action == "create":
                api.create_deployment(endpoint, data, source, all_traffic=False, runtime=runtime)
            else:
                api.update_deployment(
                    endpoint,
                    name,
                    spec=data,
                    source=source,
                    only_if_changed=True,
                    runtime=runtime,
                )
        say(f"{step.action}d {step.label}")
    if wait:
        deadline = None if timeout is None else time.monotonic() + timeout
        for endpoint, name in plan.deployments:
            wait_ready(api, endpoint, name, deadline=deadline)
            say(f"{endpoint}/{name} is ready")
    for name, split in splits:
        api.update_endpoint(
            name, traffic=split.get("traffic"), mirror_traffic=split.get("mirror_traffic")
        )
        say(f"{name}: traffic {split}")


def wait_ready(
    api: Client,
    endpoint: str,
    name: str,
    *,
    deadline: float | None = None,
    interval: float = 0.1,
    tick: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Poll until the deployment is Succeeded; raise ApplyError (with its logs) otherwise."""
    while True:
        view = api.get_deployment(endpoint, name)
        state = view["provisioning_state"]
        if state in TERMINAL_STATES:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise ApplyError(
                f"deployment {endpoint}/{name} is still {state} after the timeout",
                api.deployment_logs(endpoint, name, 200),
            )
        tick()
        time.sleep(interval)
    if state == "Failed":
        raise ApplyError(
            f"deployment {endpoint}/{name} failed: {view.get('error')}",
            api.deployment_logs(endpoint, name, 200),
        )
    return view
