"""The online deployment lifecycle: create, update (a rollout), provision, fail, succeed, delete.

`Control` (endpoints.py) keeps the endpoints and holds one `Deployments`, which keeps each
endpoint's deployments in its `EndpointEntry`. A deployment's `DeploymentRunner`
(supervisor.py) runs its instances and owns its provisioning state (provisioning.py); the
transitions are called from here, under the control plane's lock where routes or traffic change.
Every change is validated in full before anything is written or started.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.limits import check_instance_counts, start_parallelism
from epdev.devserver.logs import DeploymentLog
from epdev.devserver.logsearch import SearchPage, find_request, request_lines, search
from epdev.devserver.logtail import follow, tail
from epdev.devserver.provisioning import (
    DeploymentFailed,
    Provisioning,
    ProvisioningState,
    stored_spec,
)
from epdev.devserver.runtimechoice import RuntimeChoice, check_mlflow
from epdev.devserver.store import DeploymentRow
from epdev.devserver.supervisor import DeploymentRunner
from epdev.devserver.watching import CodeWatcher
from epdev.specs import OnlineDeployment, OnlineEndpoint, SpecError
from epdev.specs.kinds import SpecKind
from epdev.specs.loader import LoadedSpec, validate_spec
from epdev.specs.overrides import apply_overrides

if TYPE_CHECKING:
    from epdev.devserver.endpoints import Control, EndpointEntry

log = logging.getLogger("epdev.devserver")


@dataclass
class DeploymentEntry:
    """A deployment as the control plane holds it: its runner, and the tasks that drive it."""

    runner: DeploymentRunner
    task: asyncio.Task[None] | None = None
    code: CodeWatcher = field(init=False)

    def __post_init__(self) -> None:
        self.code = CodeWatcher(self.runner)

    @property
    def row(self) -> DeploymentRow:
        return self.runner.row


class Deployments:
    """Owns the lifecycle of every online deployment of one devserver."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.home = control.home
        self.store = control.store
        self.runtimes = control.runtimes
        self.choice = RuntimeChoice(control.runtimes, control.environments, control.registry)
        # Shared by every deployment: many instances asked for at once start a few at a time.
        self._start_gate = asyncio.Semaphore(start_parallelism())

    # Life cycle of the devserver

    def restore(self) -> None:
        """Bring back the stored deployments of the endpoints `control` has restored: each one
        not Failed starts its instances again."""
        for row in self.store.deployments():
            entry = self.control.endpoints.get(row.endpoint)
            if entry is None:
                continue
            if row.state == ProvisioningState.DELETING:
                self.store.delete_deployment(row.endpoint, row.name)
                continue
            spec = validated_stored("online-deployment", row.spec, row.name)
            if not isinstance(spec, OnlineDeployment):
                continue
            dentry = DeploymentEntry(self._runner(spec, Provisioning(row, self.store)))
            entry.deployments[row.name] = dentry
            if dentry.runner.state != ProvisioningState.FAILED:
                dentry.runner.provisioning.restarting()
                dentry.runner.note("devserver restarted: bringing the instances back")
                dentry.task = asyncio.create_task(self._provision(entry, dentry, None, False))

    async def shutdown(self) -> None:
        """Stop every instance; the store keeps everything for the next start."""
        entries = [d for e in self.control.endpoints.values() for d in e.deployments.values()]
        for dentry in entries:
            if dentry.task is not None:
                dentry.task.cancel()
        await asyncio.gather(*(d.code.turn(False) for d in entries), return_exceptions=True)
        runners = [d.runner for d in entries]
        await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)
        for runner in runners:
            runner.log.close()

    # Requests

    async def create(
        self,
        endpoint: str,
        data: dict[str, Any],
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> dict[str, Any]:
        control = self.control
        async with control.lock:
            entry = control.endpoint(endpoint)
            spec = self._validate(endpoint, data)
            if spec.name in entry.deployments:
                raise Conflict(
                    f"deployment {spec.name!r} already exists in online endpoint {endpoint!r}; "
                    "use `online-deployment update`"
                )
            asked = runtime or self.runtimes.default
            runtime_name, notes = await self.choice.choose(asked, spec)
            runtime_name = await self.choice.ready(runtime_name)
            check_mlflow(spec, runtime_name)
            provisioning = Provisioning.new(
                endpoint,
                spec,
                runtime_name,
                self.store,
                source=source,
                watch=watch,
                asked_runtime=asked,
            )
            runner = self._runner(spec, provisioning)
            runner.provisioning.created()
            for note in notes:
                runner.note(note)
            dentry = DeploymentEntry(runner)
            entry.deployments[spec.name] = dentry
            control.rebuild_routes()
            dentry.task = asyncio.create_task(self._provision(entry, dentry, None, all_traffic))
            return self.view(endpoint, spec.name)

    async def update(
        self,
        endpoint: str,
        name: str,
        *,
        data: dict[str, Any] | None,
        overrides: dict[str, Any] | None,
        source: str | None,
        runtime: str | None = None,
        watch: bool | None = None,
        only_if_changed: bool = False,
    ) -> dict[str, Any]:
        """Roll the deployment to a new spec (or runtime); with `only_if_changed`, a request
        that changes nothing leaves the running instances alone."""
        async with self.control.lock:
            dentry = self.control.deployment(endpoint, name)
            runner, row = dentry.runner, dentry.row
            same = (
                data is not None
                and not overrides
                and runtime in (None, row.runtime)
                and watch in (None, row.watch)
            )
            if (
                only_if_changed
                and same
                and data is not None
                and self.unchanged(endpoint, name, data)
            ):
                return self.view(endpoint, name)
            if data is None and not overrides and runtime in (None, row.runtime):
                # Only code watching changes: the running instances stay as they are.
                if watch is not None and watch != row.watch:
                    row.watch = watch
                    runner.provisioning.save()
                    await dentry.code.turn(watch and runner.state == ProvisioningState.SUCCEEDED)
                return self.view(endpoint, name)
            if dentry.task is not None and not dentry.task.done():
                raise Conflict(
                    f"deployment {name!r} is {runner.state.value.lower()}; wait until it "
                    "finishes before updating it again"
                )
            merged = dict(data) if data is not None else dict(row.spec)
            if overrides:
                try:
                    merged = apply_overrides(merged, overrides)
                except SpecError as exc:
                    raise BadRequest(str(exc)) from None
            spec = self._validate(endpoint, merged)
            if spec.name != name:
                raise BadRequest(f"the spec names deployment {spec.name!r}, not {name!r}")
            entry = self.control.endpoint(endpoint)
            # `auto` is asked again: what the updated environment needs may have changed.
            asked = runtime or row.asked_runtime or row.runtime
            runtime, notes = await self.choice.choose(asked, spec)
            check_mlflow(spec, runtime)
            if runtime != row.runtime:
                # The new instances start on the new runtime; the old ones stop where they run.
                runner.use_runtime(self.runtimes.get(await self.choice.ready(runtime)))
            row.asked_runtime = asked
            for note in notes:
                runner.note(note)
            if watch is not None:
                row.watch = watch
                if not watch:
                    await dentry.code.turn(False)
            runner.provisioning.updating()
            if source is not None:
                row.source = source
            dentry.task = asyncio.create_task(self._provision(entry, dentry, spec, False))
            return self.view(endpoint, name)

    def check(self, data: dict[str, Any]) -> None:
        """Validate a deployment spec as create or update would, changing nothing."""
        endpoint = data.get("endpoint_name")
        if not isinstance(endpoint, str):
            raise BadRequest("endpoint_name is not set")
        self._validate(endpoint, data)

    def unchanged(self, endpoint: str, name: str, data: dict[str, Any]) -> bool:
        """True when `data` is exactly the deployment's stored spec, and it is serving."""
        dentry = self.control.deployment(endpoint, name)
        candidate = stored_spec(self._validate(endpoint, data))
        return candidate == dentry.row.spec and dentry.runner.state == ProvisioningState.SUCCEEDED

    async def delete(self, endpoint: str, name: str) -> None:
        control = self.control
        async with control.lock:
            entry = control.endpoint(endpoint)
            dentry = control.deployment(endpoint, name)
            live = entry.row.traffic.get(name, 0)
            mirrored = entry.row.mirror_traffic.get(name, 0)
            if live or mirrored:
                kind = "live" if live else "mirror"
                raise BadRequest(
                    f"deployment {name!r} has {live or mirrored}% of endpoint {endpoint!r}'s "
                    f"{kind} traffic; move that traffic to another deployment first "
                    "(online-endpoint update --traffic ...)"
                )
            dentry.runner.provisioning.delete()
            del entry.deployments[name]
            traffic = {n: p for n, p in entry.row.traffic.items() if n != name}
            if traffic != entry.row.traffic:
                control.set_traffic(entry, traffic, entry.row.mirror_traffic)
            control.rebuild_routes()
        control.observability.forget(endpoint, name)
        await self.retire(dentry)
        self.home.deployment_log(endpoint, name).unlink(missing_ok=True)

    async def retire(self, dentry: DeploymentEntry) -> None:
        """Stop a deleted deployment's watcher, provisioning and instances."""
        await dentry.code.turn(False)
        if dentry.task is not None:
            dentry.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await dentry.task
        await dentry.runner.stop()
        dentry.runner.log.close()

    # Logs

    def logs(self, endpoint: str, name: str, lines: int | None, instance: str | None = None) -> str:
        self.control.deployment(endpoint, name)
        return tail(self.home.deployment_log(endpoint, name), lines, instance)

    def search_logs(
        self,
        endpoint: str,
        name: str,
        pattern: str | None,
        *,
        offset: int = 0,
        limit: int = 100,
        instance: str | None = None,
        context: int = 0,
        request_id: str | None = None,
    ) -> SearchPage:
        """A page of the lines of the whole log (backups too) that contain `pattern`; or, for
        `request_id`, the lines its instance wrote while that scoring call ran. Reads files only
        (callers run it on a thread); call `Control.flush_calls` first for a call just answered."""
        self.control.deployment(endpoint, name)
        path = self.home.deployment_log(endpoint, name)
        if request_id is not None:
            access = self.control.observability.access
            if access is None:
                raise BadRequest("the access log is off in this devserver: no request to find")
            request = find_request(access.path(endpoint), request_id)
            if request is None or request.deployment not in (None, name):
                raise NotFound(f"no call with x-request-id {request_id!r} to {endpoint}/{name}")
            return request_lines(path, request)
        if not pattern:
            raise BadRequest("say what to search for (q) or which request (request_id)")
        return search(path, pattern, offset=offset, limit=limit, instance=instance, context=context)

    def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> AsyncIterator[str]:
        """The logs as `logs` gives them, then each line as it comes, until the deployment goes."""
        control = self.control
        dentry = control.deployment(endpoint, name)
        entry = control.endpoint(endpoint)

        def gone() -> bool:
            return (
                control.closing
                or control.endpoints.get(endpoint) is not entry
                or entry.deployments.get(name) is not dentry
            )

        return follow(self.home.deployment_log(endpoint, name), lines, instance, stop=gone)

    # Views

    def view(self, endpoint: str, name: str) -> dict[str, Any]:
        dentry = self.control.deployment(endpoint, name)
        runner = dentry.runner
        spec = runner.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        spec.pop("$schema", None)
        return {
            **spec,
            "endpoint_name": endpoint,
            "provisioning_state": runner.state.value,
            "error": runner.error,
            "runtime": runner.runtime.name,
            "watch": dentry.row.watch,
            "ready_instances": runner.ready_instances,
            "health": runner.health(),
            "source": dentry.row.source,
            "created_at": iso_time(dentry.row.created_at),
            "updated_at": iso_time(dentry.row.updated_at),
            "cloud_only": runner.spec.cloud_only_in_use(),
            **self.control.observability.deployment_figures(endpoint, name),
        }

    # Internals

    def _runner(self, spec: OnlineDeployment, provisioning: Provisioning) -> DeploymentRunner:
        endpoint = provisioning.row.endpoint

        def record(pid: int, alive: bool) -> None:
            if alive:
                self.store.add_instance_pid(pid, endpoint, spec.name)
            else:
                self.store.remove_instance_pid(pid)

        return DeploymentRunner(
            endpoint,
            spec,
            runtime=self.runtimes.get(provisioning.row.runtime),
            cache_dir=self.home.root / "cache",
            work_root=self.home.instances_dir / endpoint / spec.name,
            log=DeploymentLog(self.home.deployment_log(endpoint, spec.name)),
            on_pids=record,
            models=self.control.registry,
            start_gate=self._start_gate,
            environments=self.control.environments,
            provisioning=provisioning,
        )

    async def _provision(
        self,
        entry: EndpointEntry,
        dentry: DeploymentEntry,
        new_spec: OnlineDeployment | None,
        all_traffic: bool,
    ) -> None:
        """Bring the instances up (with `new_spec`, roll them to it), then mark the deployment
        Succeeded and route to it, or Failed with the reason."""
        runner = dentry.runner
        name = runner.name
        try:
            await runner.start(new_spec)
        except DeploymentFailed as exc:
            runner.provisioning.failed(
                str(exc)
                if new_spec is None
                else f"update failed, the previous version keeps serving: {exc}"
            )
            return
        control = self.control
        async with control.lock:
            if entry.deployments.get(name) is not dentry:
                return  # deleted while starting
            runner.provisioning.succeeded(new_spec)
            if dentry.row.watch:
                await dentry.code.turn(True)
            # A --local endpoint serves its one deployment, as az's local endpoints do.
            if all_traffic or (entry.row.local and not any(entry.row.traffic.values())):
                control.set_traffic(
                    entry,
                    {n: (100 if n == name else 0) for n in entry.deployments},
                    {n: p for n, p in entry.row.mirror_traffic.items() if n != name},
                )
            control.rebuild_routes()

    def _validate(self, endpoint: str, data: dict[str, Any]) -> OnlineDeployment:
        data = dict(data)
        named = data.get("endpoint_name")
        if named is not None and named != endpoint:
            raise BadRequest(
                f"the spec's endpoint_name is {named!r} but the request is for endpoint "
                f"{endpoint!r}"
            )
        data["endpoint_name"] = endpoint
        spec = validated("online-deployment", data).spec
        assert isinstance(spec, OnlineDeployment)
        check_instance_counts(spec)
        if isinstance(spec.model, str):
            # Checked now for a clear 400; resolved again (@latest may move) when it starts.
            self.control.registry.model(spec.model, without_code=spec.code_configuration is None)
        return spec


def validated(kind: SpecKind, data: dict[str, Any]) -> LoadedSpec:
    """A spec from a request, or a 400 that says what is wrong with it."""
    try:
        return validate_spec(kind, data)
    except SpecError as exc:
        raise BadRequest(str(exc)) from None


def validated_stored(
    kind: SpecKind, data: dict[str, Any], name: str
) -> OnlineEndpoint | OnlineDeployment | None:
    """A stored spec again, or None (logged) when this version no longer accepts it."""
    try:
        spec = validate_spec(kind, data, check_files=False).spec
    except SpecError as exc:
        log.error("stored %s %s no longer validates: %s", kind, name, exc)
        return None
    return spec if isinstance(spec, OnlineEndpoint | OnlineDeployment) else None


def iso_time(stamp: float) -> str:
    """A row's time as the API shows it."""
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
