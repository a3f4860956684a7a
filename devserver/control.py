"""The control plane's state: endpoints, deployments, keys and traffic, kept in step with the store.

Every change is validated in full before anything is written or started, so a rejected request
leaves the stored state, the routes and the running instances exactly as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import urllib.parse
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any, Literal

import psutil

from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.home import Home
from epdev.devserver.keys import new_key
from epdev.devserver.limits import check_instance_counts, start_parallelism
from epdev.devserver.logs import (
    DeploymentLog,
    SearchPage,
    find_request,
    follow,
    request_lines,
    search,
    tail,
)
from epdev.devserver.mirroring import MirrorStats
from epdev.devserver.observability import Observability
from epdev.devserver.registry import Registry
from epdev.devserver.routing import Route, RouteTable
from epdev.devserver.runtimechoice import AUTO, choose_runtime
from epdev.devserver.store import DeploymentRow, EndpointRow, Store
from epdev.devserver.supervisor import DeploymentFailed, DeploymentRunner, ProvisioningState
from epdev.devserver.tokens import DEFAULT_LIFETIME, TokenIssuer, load_secret
from epdev.devserver.watching import watch_code
from epdev.runtimes import InstanceFailed, leftovers
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.registry import Runtimes
from epdev.specs import OnlineDeployment, OnlineEndpoint, SpecError, TrafficError, check_traffic
from epdev.specs.kinds import SpecKind
from epdev.specs.loader import LoadedSpec, apply_overrides, validate_spec

log = logging.getLogger("epdev.devserver")

# Large enough for images and batches of rows sent inline; a caller sending more gets a 413.
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024

# How often, as a subreaper, the devserver reaps detached processes that exited on their own.
ORPHAN_REAP_SECONDS = 5.0

KeyType = Literal["primary", "secondary"]


@dataclass
class EndpointEntry:
    row: EndpointRow
    spec: OnlineEndpoint
    deployments: dict[str, DeploymentEntry] = field(default_factory=dict)


@dataclass
class DeploymentEntry:
    row: DeploymentRow
    runner: DeploymentRunner
    task: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None
    stop_watching: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self, on: bool) -> None:
        """Start or stop restarting the instances when the code folder changes."""
        if self.watcher is not None:
            self.stop_watching.set()
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.watcher
            self.watcher = None
        if on:
            self.stop_watching = asyncio.Event()
            self.watcher = asyncio.create_task(watch_code(self.runner, self.stop_watching))


class Control:
    """Owns the endpoints and deployments of one devserver."""

    def __init__(
        self,
        home: Home,
        runtimes: Runtimes,
        base_url: str,
        token_lifetime: dt.timedelta = DEFAULT_LIFETIME,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.max_request_bytes = max_request_bytes
        self.mirror_stats: dict[str, MirrorStats] = {}
        self.home = home
        self.runtimes = runtimes
        self.tokens = TokenIssuer(load_secret(home.token_secret_file), token_lifetime)
        self.base_url = base_url.rstrip("/")
        self.store = Store(home.database)
        self.registry = Registry(self.store)
        self.environments = Environments(self.store, home.root / "environments")
        self.endpoints: dict[str, EndpointEntry] = {}
        self.routes = RouteTable()
        self.observability = Observability(home, self)
        self._lock = asyncio.Lock()
        self._closing = False
        self._orphan_reaper: asyncio.Task[None] | None = None
        # Shared by every deployment: many instances asked for at once start a few at a time.
        self._start_gate = asyncio.Semaphore(start_parallelism())

    # Life cycle

    async def restore(self) -> None:
        """Bring back what the store holds: endpoints, keys, traffic, and running instances."""
        self._reap_leftover_instances()
        if any(row.runtime == "docker" for row in self.store.deployments()):
            for name in self.runtimes.remove_leftover_containers(self.home.root):
                log.info("removed container %s left by an earlier devserver", name)
        for row in self.store.endpoints():
            spec = self._validated_stored("online-endpoint", row.spec, row.name)
            if not isinstance(spec, OnlineEndpoint):
                continue
            self.endpoints[row.name] = EndpointEntry(row=row, spec=spec)
        for drow in self.store.deployments():
            entry = self.endpoints.get(drow.endpoint)
            if entry is None:
                continue
            if drow.state == ProvisioningState.DELETING:
                self.store.delete_deployment(drow.endpoint, drow.name)
                continue
            dspec = self._validated_stored("online-deployment", drow.spec, drow.name)
            if not isinstance(dspec, OnlineDeployment):
                continue
            runner = self._runner(drow.endpoint, dspec, drow.runtime)
            dentry = DeploymentEntry(row=drow, runner=runner)
            entry.deployments[drow.name] = dentry
            if drow.state == ProvisioningState.FAILED:
                runner.state, runner.error = ProvisioningState.FAILED, drow.error
            else:
                runner.note("devserver restarted: bringing the instances back")
                dentry.task = asyncio.create_task(self._provision(entry, dentry, None, False))
        self._rebuild_routes()
        self.observability.start()
        if leftovers.is_subreaper():
            self._orphan_reaper = asyncio.create_task(_reap_orphans())

    def begin_closing(self) -> None:
        """The devserver is going down: open streams (followed logs) end now."""
        self._closing = True

    async def shutdown(self) -> None:
        """Stop every instance; the store keeps everything for the next start."""
        self._closing = True
        await self.observability.stop()
        if self._orphan_reaper is not None:
            self._orphan_reaper.cancel()
            await asyncio.gather(self._orphan_reaper, return_exceptions=True)
        for entry in self.endpoints.values():
            for dentry in entry.deployments.values():
                if dentry.task is not None:
                    dentry.task.cancel()
        entries = [d for e in self.endpoints.values() for d in e.deployments.values()]
        await asyncio.gather(*(d.watch(False) for d in entries), return_exceptions=True)
        runners = [d.runner for d in entries]
        await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)
        for runner in runners:
            runner.log.close()
        self.store.close()

    def _reap_leftover_instances(self) -> None:
        # What instances of an earlier, killed devserver of this home detached (setsid) has
        # outlived it: found by the mark in its environment.
        for leftover in leftovers.kill_scope(leftovers.scope_of(self.home.root / "cache")):
            log.info("killed %s, left running by an earlier devserver", leftover.describe())
        for pid in self.store.instance_pids():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                proc = psutil.Process(pid)
                if "epdev.runtimes.worker" in " ".join(proc.cmdline()):
                    os.kill(pid, signal.SIGKILL)
            self.store.remove_instance_pid(pid)

    def _validated_stored(
        self, kind: SpecKind, data: dict[str, Any], name: str
    ) -> OnlineEndpoint | OnlineDeployment | None:
        try:
            spec = validate_spec(kind, data, check_files=False).spec
        except SpecError as exc:
            log.error("stored %s %s no longer validates: %s", kind, name, exc)
            return None
        return spec if isinstance(spec, OnlineEndpoint | OnlineDeployment) else None

    # Endpoints

    def endpoint(self, name: str) -> EndpointEntry:
        entry = self.endpoints.get(name)
        if entry is None:
            raise NotFound(f"online endpoint {name!r} does not exist")
        return entry

    async def create_endpoint(
        self, data: dict[str, Any], source: str | None, local: bool = False
    ) -> dict[str, Any]:
        """`local`: as az's `--local` endpoints, calls from this machine need no key."""
        async with self._lock:
            spec = self._validate_endpoint(data)
            if spec.name in self.endpoints:
                raise Conflict(
                    f"online endpoint {spec.name!r} already exists; use `online-endpoint update`"
                )
            self._check_traffic(spec.name, {}, spec.traffic, spec.mirror_traffic)
            row = EndpointRow(
                name=spec.name,
                spec=_dump(spec),
                source=source,
                primary_key=new_key(),
                secondary_key=new_key(),
                traffic=dict(spec.traffic),
                mirror_traffic=dict(spec.mirror_traffic),
                local=local,
            )
            self.store.put_endpoint(row)
            self.endpoints[spec.name] = EndpointEntry(row=row, spec=spec)
            self._rebuild_routes()
            return self.endpoint_view(spec.name)

    async def update_endpoint(
        self,
        name: str,
        *,
        data: dict[str, Any] | None = None,
        source: str | None = None,
        traffic: dict[str, int] | None = None,
        mirror_traffic: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        async with self._lock:
            entry = self.endpoint(name)
            spec = entry.spec
            new_traffic = dict(entry.row.traffic)
            new_mirror = dict(entry.row.mirror_traffic)
            if data is not None:
                spec = self._validate_endpoint(data)
                if spec.name != name:
                    raise BadRequest(f"the spec names endpoint {spec.name!r}, not {name!r}")
                if "traffic" in spec.model_fields_set:
                    new_traffic = dict(spec.traffic)
                if "mirror_traffic" in spec.model_fields_set:
                    new_mirror = dict(spec.mirror_traffic)
            if traffic is not None:
                new_traffic = dict(traffic)
            if mirror_traffic is not None:
                new_mirror = {**new_mirror, **mirror_traffic}
            new_traffic = {n: p for n, p in new_traffic.items() if p or n in entry.deployments}
            new_mirror = {n: p for n, p in new_mirror.items() if p}
            self._check_traffic(name, entry.deployments, new_traffic, new_mirror)
            row = EndpointRow(**{**entry.row.__dict__})
            row.spec, row.traffic, row.mirror_traffic = _dump(spec), new_traffic, new_mirror
            if source is not None:
                row.source = source
            self.store.put_endpoint(row)
            entry.row, entry.spec = row, spec
            self._rebuild_routes()
            return self.endpoint_view(name)

    async def delete_endpoint(self, name: str) -> None:
        async with self._lock:
            entry = self.endpoint(name)
            with self.store.transaction() as db:
                self.store.delete_endpoint(name, db)
            del self.endpoints[name]
            self._rebuild_routes()
        self.observability.forget(name)
        await asyncio.gather(*(self._retire(d) for d in entry.deployments.values()))

    def mirror_report(self, name: str) -> dict[str, Any]:
        """How the mirror deployment's answers compared with the live ones, since start."""
        entry = self.endpoint(name)
        stats = self.mirror_stats.setdefault(name, MirrorStats())
        return {"endpoint": name, **stats.view(entry.row.mirror_traffic)}

    def credentials(self, name: str) -> dict[str, str]:
        """Keys for `auth_mode: key`, a fresh expiring token for the token modes (as Azure)."""
        entry = self.endpoint(name)
        if entry.spec.auth_mode != "key":
            return self.tokens.issue(name)
        return {"primaryKey": entry.row.primary_key, "secondaryKey": entry.row.secondary_key}

    async def regenerate_key(self, name: str, key_type: KeyType) -> dict[str, str]:
        async with self._lock:
            entry = self.endpoint(name)
            row = EndpointRow(**{**entry.row.__dict__})
            if key_type == "primary":
                row.primary_key = new_key()
            else:
                row.secondary_key = new_key()
            self.store.put_endpoint(row)
            entry.row = row
            self._rebuild_routes()
        return self.credentials(name)

    # Deployments

    def deployment(self, endpoint: str, name: str) -> DeploymentEntry:
        entry = self.endpoint(endpoint)
        dentry = entry.deployments.get(name)
        if dentry is None:
            raise NotFound(f"deployment {name!r} does not exist in online endpoint {endpoint!r}")
        return dentry

    async def create_deployment(
        self,
        endpoint: str,
        data: dict[str, Any],
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> dict[str, Any]:
        async with self._lock:
            entry = self.endpoint(endpoint)
            spec = self._validate_deployment(endpoint, data)
            if spec.name in entry.deployments:
                raise Conflict(
                    f"deployment {spec.name!r} already exists in online endpoint {endpoint!r}; "
                    "use `online-deployment update`"
                )
            asked = runtime or self.runtimes.default
            runtime_name, notes = await self._choose_runtime(asked, spec)
            runtime_name = await self._runtime_ready(runtime_name)
            _check_mlflow(spec, runtime_name)
            row = DeploymentRow(
                endpoint=endpoint,
                name=spec.name,
                spec=_dump(spec),
                source=source,
                state=ProvisioningState.CREATING,
                runtime=runtime_name,
                watch=watch,
                asked_runtime=asked,
            )
            self.store.put_deployment(row)
            runner = self._runner(endpoint, spec, runtime_name)
            for note in notes:
                runner.note(note)
            dentry = DeploymentEntry(row=row, runner=runner)
            entry.deployments[spec.name] = dentry
            self._rebuild_routes()
            dentry.task = asyncio.create_task(self._provision(entry, dentry, None, all_traffic))
            return self.deployment_view(endpoint, spec.name)

    async def update_deployment(
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
        async with self._lock:
            dentry = self.deployment(endpoint, name)
            same = (
                data is not None
                and not overrides
                and runtime in (None, dentry.row.runtime)
                and watch in (None, dentry.row.watch)
            )
            if (
                only_if_changed
                and same
                and data is not None
                and self.unchanged(endpoint, name, data)
            ):
                return self.deployment_view(endpoint, name)
            if data is None and not overrides and runtime in (None, dentry.row.runtime):
                # Only code watching changes: the running instances stay as they are.
                if watch is not None and watch != dentry.row.watch:
                    dentry.row.watch = watch
                    self.store.put_deployment(dentry.row)
                    running = dentry.runner.state == ProvisioningState.SUCCEEDED
                    await dentry.watch(watch and running)
                return self.deployment_view(endpoint, name)
            if dentry.task is not None and not dentry.task.done():
                raise Conflict(
                    f"deployment {name!r} is {dentry.runner.state.value.lower()}; wait until it "
                    "finishes before updating it again"
                )
            merged = dict(data) if data is not None else dict(dentry.row.spec)
            if overrides:
                try:
                    merged = apply_overrides(merged, overrides)
                except SpecError as exc:
                    raise BadRequest(str(exc)) from None
            spec = self._validate_deployment(endpoint, merged)
            if spec.name != name:
                raise BadRequest(f"the spec names deployment {spec.name!r}, not {name!r}")
            entry = self.endpoint(endpoint)
            # `auto` is asked again: what the updated environment needs may have changed.
            asked = runtime or dentry.row.asked_runtime or dentry.row.runtime
            runtime, notes = await self._choose_runtime(asked, spec)
            _check_mlflow(spec, runtime)
            if runtime != dentry.row.runtime:
                # The new instances start on the new runtime; the old ones stop where they run.
                dentry.runner.runtime = self.runtimes.get(await self._runtime_ready(runtime))
                dentry.row.runtime = runtime
            dentry.row.asked_runtime = asked
            for note in notes:
                dentry.runner.note(note)
            if watch is not None:
                dentry.row.watch = watch
                if not watch:
                    await dentry.watch(False)
            dentry.runner.state = ProvisioningState.UPDATING
            dentry.runner.error = None
            self.store.set_deployment_state(endpoint, name, ProvisioningState.UPDATING, None)
            if source is not None:
                dentry.row.source = source
            dentry.task = asyncio.create_task(self._provision(entry, dentry, spec, False))
            return self.deployment_view(endpoint, name)

    def check(self, kind: SpecKind, data: dict[str, Any]) -> None:
        """Validate a spec as create or update would, changing nothing (for apply and dry runs)."""
        if kind == "online-endpoint":
            self._validate_endpoint(data)
            return
        endpoint = data.get("endpoint_name")
        if not isinstance(endpoint, str):
            raise BadRequest("endpoint_name is not set")
        self._validate_deployment(endpoint, data)

    def unchanged(self, endpoint: str, name: str, data: dict[str, Any]) -> bool:
        """True when `data` is exactly the deployment's stored spec."""
        dentry = self.deployment(endpoint, name)
        candidate = _dump(self._validate_deployment(endpoint, data))
        return candidate == dentry.row.spec and dentry.runner.state == ProvisioningState.SUCCEEDED

    async def delete_deployment(self, endpoint: str, name: str) -> None:
        async with self._lock:
            entry = self.endpoint(endpoint)
            dentry = self.deployment(endpoint, name)
            live = entry.row.traffic.get(name, 0)
            mirrored = entry.row.mirror_traffic.get(name, 0)
            if live or mirrored:
                kind = "live" if live else "mirror"
                raise BadRequest(
                    f"deployment {name!r} has {live or mirrored}% of endpoint {endpoint!r}'s "
                    f"{kind} traffic; move that traffic to another deployment first "
                    "(online-endpoint update --traffic ...)"
                )
            self.store.delete_deployment(endpoint, name)
            del entry.deployments[name]
            traffic = {n: p for n, p in entry.row.traffic.items() if n != name}
            if traffic != entry.row.traffic:
                row = EndpointRow(**{**entry.row.__dict__})
                row.traffic = traffic
                self.store.put_endpoint(row)
                entry.row = row
            self._rebuild_routes()
        self.observability.forget(endpoint, name)
        await self._retire(dentry)
        self.home.deployment_log(endpoint, name).unlink(missing_ok=True)

    def logs(self, endpoint: str, name: str, lines: int | None, instance: str | None = None) -> str:
        self.deployment(endpoint, name)
        return tail(self.home.deployment_log(endpoint, name), lines, instance)

    def flush_calls(self) -> None:
        """Write out the access log's buffered calls (the last second's), on the loop's thread."""
        self.observability.drain()
        if self.observability.access is not None:
            self.observability.access.flush()

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
        (callers run it on a thread); call `flush_calls` first for a call just answered."""
        self.deployment(endpoint, name)
        path = self.home.deployment_log(endpoint, name)
        if request_id is not None:
            access = self.observability.access
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
        dentry = self.deployment(endpoint, name)
        entry = self.endpoint(endpoint)

        def gone() -> bool:
            return (
                self._closing
                or self.endpoints.get(endpoint) is not entry
                or entry.deployments.get(name) is not dentry
            )

        return follow(self.home.deployment_log(endpoint, name), lines, instance, stop=gone)

    # Views

    def scoring_uri(self, endpoint: str) -> str:
        entry = self.endpoints.get(endpoint)
        if entry is not None and entry.row.local:
            # az's local endpoints answer on localhost; so does this one, keyless from there.
            parts = urllib.parse.urlsplit(self.base_url)
            host = f"localhost:{parts.port}" if parts.port else "localhost"
            return f"{parts.scheme}://{host}/endpoints/{endpoint}/score"
        return f"{self.base_url}/endpoints/{endpoint}/score"

    def endpoint_view(self, name: str) -> dict[str, Any]:
        entry = self.endpoint(name)
        spec = entry.spec
        return {
            "name": name,
            "description": spec.description,
            "tags": spec.tags,
            "properties": spec.properties,
            "auth_mode": spec.auth_mode,
            "kind": "Managed",
            "local": entry.row.local,
            "provisioning_state": "Succeeded",
            "scoring_uri": self.scoring_uri(name),
            "openapi_uri": f"{self.base_url}/endpoints/{name}/swagger.json",
            "traffic": entry.row.traffic,
            "mirror_traffic": entry.row.mirror_traffic,
            "deployments": list(entry.deployments),
            "source": entry.row.source,
            "created_at": _iso(entry.row.created_at),
            "updated_at": _iso(entry.row.updated_at),
            "cloud_only": spec.cloud_only_in_use(),
            **self.observability.endpoint_figures(name),
        }

    def deployment_view(self, endpoint: str, name: str) -> dict[str, Any]:
        dentry = self.deployment(endpoint, name)
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
            "created_at": _iso(dentry.row.created_at),
            "updated_at": _iso(dentry.row.updated_at),
            "cloud_only": runner.spec.cloud_only_in_use(),
            **self.observability.deployment_figures(endpoint, name),
        }

    # Internals

    async def _choose_runtime(
        self, requested: str | None, spec: OnlineDeployment
    ) -> tuple[str, list[str]]:
        """The runtime `requested` (or the devserver's default) means for this deployment, and
        the notes saying why and what of its environment that runtime leaves out."""
        name = requested or self.runtimes.default
        if name not in (AUTO, "process", "venv"):
            return name, []
        environment = await asyncio.to_thread(self._deployment_environment, spec)
        return choose_runtime(name, environment)

    def _deployment_environment(self, spec: OnlineDeployment) -> RuntimeEnvironment:
        model_path = spec.model_path
        if isinstance(spec.model, str):
            model_path = self.registry.model(spec.model, spec.code_configuration is None).path
        code = spec.code_configuration
        return self.environments.runtime_environment(
            spec.environment,
            code_dir=code.code if code else None,
            model_path=model_path,
            serves_mlflow=code is None,
        )

    async def _runtime_ready(self, name: str | None) -> str:
        """The runtime's name, once it is known and able to run (a Docker engine answers)."""
        name = name or self.runtimes.default
        try:
            runtime = self.runtimes.get(name)
            # Runtimes that depend on something outside (an engine) can say at once that it
            # is missing, rather than failing each instance later.
            preflight = getattr(runtime, "preflight", None)
            if preflight is not None:
                await preflight()
        except (ValueError, InstanceFailed) as exc:
            raise BadRequest(str(exc)) from None
        return name

    def _runner(self, endpoint: str, spec: OnlineDeployment, runtime: str) -> DeploymentRunner:
        def record(pid: int, alive: bool) -> None:
            if alive:
                self.store.add_instance_pid(pid, endpoint, spec.name)
            else:
                self.store.remove_instance_pid(pid)

        return DeploymentRunner(
            endpoint,
            spec,
            runtime=self.runtimes.get(runtime),
            cache_dir=self.home.root / "cache",
            work_root=self.home.instances_dir / endpoint / spec.name,
            log=DeploymentLog(self.home.deployment_log(endpoint, spec.name)),
            on_pids=record,
            models=self.registry,
            start_gate=self._start_gate,
            environments=self.environments,
        )

    async def _provision(
        self,
        entry: EndpointEntry,
        dentry: DeploymentEntry,
        new_spec: OnlineDeployment | None,
        all_traffic: bool,
    ) -> None:
        runner = dentry.runner
        name = runner.name
        try:
            await runner.start(new_spec)
        except DeploymentFailed as exc:
            runner.state = ProvisioningState.FAILED
            runner.error = (
                str(exc)
                if new_spec is None
                else f"update failed, the previous version keeps serving: {exc}"
            )
            self.store.set_deployment_state(entry.row.name, name, runner.state, runner.error)
            return
        async with self._lock:
            if entry.deployments.get(name) is not dentry:
                return  # deleted while starting
            runner.state, runner.error = ProvisioningState.SUCCEEDED, None
            if new_spec is not None:
                dentry.row.spec = _dump(new_spec)
            dentry.row.state, dentry.row.error = runner.state, None
            self.store.put_deployment(dentry.row)
            if dentry.row.watch:
                await dentry.watch(True)
            # A --local endpoint serves its one deployment, as az's local endpoints do.
            if all_traffic or (entry.row.local and not any(entry.row.traffic.values())):
                row = EndpointRow(**{**entry.row.__dict__})
                row.traffic = {n: (100 if n == name else 0) for n in entry.deployments}
                row.mirror_traffic = {n: p for n, p in row.mirror_traffic.items() if n != name}
                self.store.put_endpoint(row)
                entry.row = row
            self._rebuild_routes()

    async def _retire(self, dentry: DeploymentEntry) -> None:
        await dentry.watch(False)
        dentry.runner.state = ProvisioningState.DELETING
        if dentry.task is not None:
            dentry.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await dentry.task
        await dentry.runner.stop()
        dentry.runner.log.close()

    def _validate_endpoint(self, data: dict[str, Any]) -> OnlineEndpoint:
        spec = _validate("online-endpoint", data).spec
        assert isinstance(spec, OnlineEndpoint)
        return spec

    def _validate_deployment(self, endpoint: str, data: dict[str, Any]) -> OnlineDeployment:
        data = dict(data)
        named = data.get("endpoint_name")
        if named is not None and named != endpoint:
            raise BadRequest(
                f"the spec's endpoint_name is {named!r} but the request is for endpoint "
                f"{endpoint!r}"
            )
        data["endpoint_name"] = endpoint
        spec = _validate("online-deployment", data).spec
        assert isinstance(spec, OnlineDeployment)
        check_instance_counts(spec)
        if isinstance(spec.model, str):
            # Checked now for a clear 400; resolved again (@latest may move) when it starts.
            self.registry.model(spec.model, without_code=spec.code_configuration is None)
        return spec

    def _check_traffic(
        self,
        endpoint: str,
        deployments: Collection[str],
        traffic: dict[str, int],
        mirror: dict[str, int],
    ) -> None:
        try:
            check_traffic(traffic, mirror, deployments, endpoint=endpoint)
        except TrafficError as exc:
            raise BadRequest(str(exc)) from None

    def _rebuild_routes(self) -> None:
        routes: dict[str, Route] = {}
        for name, entry in self.endpoints.items():
            pools = {d: dentry.runner.pool for d, dentry in entry.deployments.items()}
            timeouts = {
                d: dentry.runner.spec.request_settings.request_timeout_ms / 1000
                for d, dentry in entry.deployments.items()
            }
            routes[name] = Route(
                name=name,
                auth_mode=entry.spec.auth_mode,
                local=entry.row.local,
                keys=(entry.row.primary_key, entry.row.secondary_key),
                tokens=None if entry.spec.auth_mode == "key" else self.tokens,
                pools=pools,
                timeouts=timeouts,
                limits={
                    d: (
                        dentry.runner.spec.concurrent_requests_per_instance,
                        dentry.runner.spec.request_settings.max_queue_wait_ms / 1000,
                    )
                    for d, dentry in entry.deployments.items()
                },
                max_body=self.max_request_bytes,
                mirror=next(((d, p) for d, p in entry.row.mirror_traffic.items() if p), None),
                mirror_stats=self.mirror_stats.setdefault(name, MirrorStats()),
                traffic={d: p for d, p in entry.row.traffic.items() if p > 0 and d in pools},
                v2=frozenset(
                    d
                    for d, dentry in entry.deployments.items()
                    if dentry.runner.spec.code_configuration is None
                ),
            )
        self.routes.replace(routes)


async def _reap_orphans() -> None:
    """As a subreaper, reap the detached processes of scripts that exit on their own."""
    while True:
        await asyncio.sleep(ORPHAN_REAP_SECONDS)
        await asyncio.to_thread(leftovers.reap_adopted)


def _check_mlflow(spec: OnlineDeployment, runtime: str) -> None:
    """An MLflow model with no scoring script needs mlflow where it is served or fetched."""
    if spec.code_configuration is not None or not spec.is_mlflow:
        return
    # The process runtime serves on the devserver's Python; a registry URI is fetched by it.
    if (runtime == "process" or spec.model_uri is not None) and find_spec("mlflow") is None:
        raise BadRequest(
            "model: an MLflow model with no code_configuration is served with mlflow, which "
            "the devserver's Python does not have: pip install 'epdev[mlflow]' (or add a "
            "code_configuration with a scoring script)"
        )


def _validate(kind: SpecKind, data: dict[str, Any]) -> LoadedSpec:
    try:
        return validate_spec(kind, data)
    except SpecError as exc:
        raise BadRequest(str(exc)) from None


def _dump(spec: OnlineEndpoint | OnlineDeployment) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
