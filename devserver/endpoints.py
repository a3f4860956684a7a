"""The control plane's state: endpoints, their keys and traffic, and the routes built from them.

The deployments' lifecycle is `Deployments` (deployments.py), which this holds. Every change is
validated in full before anything is written or started, so a rejected request leaves the
stored state, the routes and the running instances exactly as they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from epdev.devserver import reaping
from epdev.devserver.assets import Registry
from epdev.devserver.deployments import (
    DeploymentEntry,
    Deployments,
    iso_time,
    validated,
    validated_stored,
)
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.home import Home
from epdev.devserver.keys import new_key
from epdev.devserver.mirroring import MirrorStats
from epdev.devserver.observability import Observability
from epdev.devserver.routing import Route, RouteTable
from epdev.devserver.serveoptions import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_TOKEN_LIFETIME
from epdev.devserver.store import EndpointRow, Store
from epdev.devserver.tokens import TokenIssuer, load_secret
from epdev.runtimes.catalog import Runtimes
from epdev.specs import OnlineEndpoint, TrafficError, check_traffic
from epdev.specs.kinds import SpecKind

KeyType = Literal["primary", "secondary"]


@dataclass
class EndpointEntry:
    row: EndpointRow
    spec: OnlineEndpoint
    deployments: dict[str, DeploymentEntry] = field(default_factory=dict)


class Control:
    """Owns the endpoints of one devserver; `deployments` owns their deployments' lifecycle."""

    def __init__(
        self,
        home: Home,
        runtimes: Runtimes,
        base_url: str,
        token_lifetime: dt.timedelta = DEFAULT_TOKEN_LIFETIME,
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
        # Held by every change to endpoints or deployments, and while routes are rebuilt.
        self.lock = asyncio.Lock()
        self.closing = False
        self._orphan_reaper: asyncio.Task[None] | None = None
        self.deployments = Deployments(self)

    # Life cycle

    async def restore(self) -> None:
        """Bring back what the store holds: endpoints, keys, traffic, and running instances."""
        reaping.stop_leftovers(self.home, self.store, self.runtimes)
        for row in self.store.endpoints():
            spec = validated_stored("online-endpoint", row.spec, row.name)
            if isinstance(spec, OnlineEndpoint):
                self.endpoints[row.name] = EndpointEntry(row=row, spec=spec)
        self.deployments.restore()
        self.rebuild_routes()
        self.observability.start()
        self._orphan_reaper = reaping.reap_orphans()

    def begin_closing(self) -> None:
        """The devserver is going down: open streams (followed logs) end now."""
        self.closing = True

    async def shutdown(self) -> None:
        """Stop every instance; the store keeps everything for the next start."""
        self.closing = True
        await self.observability.stop()
        if self._orphan_reaper is not None:
            self._orphan_reaper.cancel()
            await asyncio.gather(self._orphan_reaper, return_exceptions=True)
        await self.deployments.shutdown()
        self.store.close()

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
        async with self.lock:
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
            self.rebuild_routes()
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
        async with self.lock:
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
            self.rebuild_routes()
            return self.endpoint_view(name)

    async def delete_endpoint(self, name: str) -> None:
        async with self.lock:
            entry = self.endpoint(name)
            with self.store.transaction() as db:
                for dentry in entry.deployments.values():
                    dentry.runner.provisioning.delete(db)
                self.store.delete_endpoint(name, db)
            del self.endpoints[name]
            self.rebuild_routes()
        self.observability.forget(name)
        await asyncio.gather(*(self.deployments.retire(d) for d in entry.deployments.values()))

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
        async with self.lock:
            entry = self.endpoint(name)
            row = EndpointRow(**{**entry.row.__dict__})
            if key_type == "primary":
                row.primary_key = new_key()
            else:
                row.secondary_key = new_key()
            self.store.put_endpoint(row)
            entry.row = row
            self.rebuild_routes()
        return self.credentials(name)

    # Deployments

    def deployment(self, endpoint: str, name: str) -> DeploymentEntry:
        entry = self.endpoint(endpoint)
        dentry = entry.deployments.get(name)
        if dentry is None:
            raise NotFound(f"deployment {name!r} does not exist in online endpoint {endpoint!r}")
        return dentry

    def check(self, kind: SpecKind, data: dict[str, Any]) -> None:
        """Validate a spec as create or update would, changing nothing (for apply and dry runs)."""
        if kind == "online-endpoint":
            self._validate_endpoint(data)
        else:
            self.deployments.check(data)

    def set_traffic(
        self, entry: EndpointEntry, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        """Store an endpoint's new split; the caller holds the lock and rebuilds the routes."""
        row = EndpointRow(**{**entry.row.__dict__})
        row.traffic, row.mirror_traffic = traffic, mirror
        self.store.put_endpoint(row)
        entry.row = row

    def flush_calls(self) -> None:
        """Write out the access log's buffered calls (the last second's), on the loop's thread."""
        self.observability.drain()
        if self.observability.access is not None:
            self.observability.access.flush()

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
            "created_at": iso_time(entry.row.created_at),
            "updated_at": iso_time(entry.row.updated_at),
            "cloud_only": spec.cloud_only_in_use(),
            **self.observability.endpoint_figures(name),
        }

    def _validate_endpoint(self, data: dict[str, Any]) -> OnlineEndpoint:
        spec = validated("online-endpoint", data).spec
        assert isinstance(spec, OnlineEndpoint)
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

    def rebuild_routes(self) -> None:
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


def _dump(spec: OnlineEndpoint) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
