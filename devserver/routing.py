"""The data plane: authenticate a scoring call, pick a deployment and an instance, forward it.

This is the hot path, so it is a plain ASGI callable rather than a FastAPI route, and it reads
an immutable route table that the control plane swaps whole on every change.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from epdev.devserver import hop, openinference
from epdev.devserver.calls import Call, CallRecorder
from epdev.devserver.keys import bearer, key_matches
from epdev.devserver.mirroring import MirrorStats
from epdev.devserver.pool import Pool
from epdev.devserver.tokens import TokenIssuer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/endpoints/"
DEPLOYMENT_HEADER = "azureml-model-deployment"

# Request headers that belong to the hop between caller and router, or must never reach the
# scoring script (the caller's key).
_HOP_HEADERS = frozenset(
    {
        b"authorization",
        b"host",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"te",
        b"upgrade",
        b"proxy-authorization",
        b"expect",
    }
)
# A request refused at connect never reached an instance; it is tried this many times in all.
_CONNECT_ATTEMPTS = 3
_CONNECT_RETRY_PAUSE = 0.05
_ID_TAIL_MASK = (1 << 48) - 1
_RESPONSE_SKIP = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"server", b"date"}
)


@dataclass
class Route:
    """What the router needs to know about one endpoint."""

    name: str
    auth_mode: str
    keys: tuple[str, str]
    # Set for token auth modes: the issuer that checks the callers' tokens.
    tokens: TokenIssuer | None
    pools: dict[str, Pool]
    timeouts: dict[str, float]
    # Per deployment: (max_concurrent_requests_per_instance, max_queue_wait_ms in seconds).
    limits: dict[str, tuple[int, float]]
    max_body: int
    # The mirror deployment and its percentage, and where the comparisons go.
    mirror: tuple[str, int] | None
    mirror_stats: MirrorStats
    traffic: dict[str, int]
    # Deployments that speak the Open Inference Protocol (MLflow models with no script).
    v2: frozenset[str] = frozenset()
    # Created with --local: calls from loopback addresses need no key or token.
    local: bool = False
    _names: list[str] = field(default_factory=list)
    _bounds: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        total = 0
        for name, percent in sorted(self.traffic.items()):
            total += percent
            self._names.append(name)
            self._bounds.append(total)

    def choose(self) -> str | None:
        """A deployment drawn by traffic weight, or None when no deployment has traffic."""
        if not self._bounds:
            return None
        draw = random.randrange(self._bounds[-1])
        return self._names[bisect.bisect_right(self._bounds, draw)]


class RouteTable:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def replace(self, routes: dict[str, Route]) -> None:
        self.routes = routes


class ScoringRouter:
    """ASGI app for `/endpoints/{name}/score` (and `/endpoints/{name}/swagger.json`)."""

    def __init__(self, table: RouteTable, recorder: CallRecorder | None = None) -> None:
        self.table = table
        self.recorder = recorder
        self._session: hop.HopClient | None = None
        # Mirror copies in flight: held so they are not collected before they finish.
        self._mirrors: set[asyncio.Task[None]] = set()
        # Request ids are UUIDs in form (8-4-4-4-12, version 4) as Azure's are: a random head
        # per router and a counter from a random start in the last 48 bits, so an id costs a
        # format, not a urandom call and a UUID object.
        head = uuid.uuid4()
        self._id_head = str(head)[:24]
        self._id_counter = itertools.count(head.int & _ID_TAIL_MASK)

    def _new_request_id(self) -> str:
        return f"{self._id_head}{next(self._id_counter) & _ID_TAIL_MASK:012x}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> hop.HopClient:
        if self._session is None:
            self._session = hop.HopClient()
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or self._new_request_id()
        call = Call()
        try:
            await self._handle(scope, receive, send, request_id, call)
        except _Reply as reply:
            call.status = reply.status
            # V2 calls get their errors in the protocol's own shape.
            key = openinference.ERROR_KEY if _is_v2(scope) else "message"
            call.bytes_out = await _send_json(
                send, reply.status, {key: reply.message}, request_id, reply.extra
            )
        # Calls to endpoints that do not exist are not recorded: their names are anything.
        endpoint = call.endpoint
        if endpoint is not None and self.recorder is not None:
            call.seconds = time.perf_counter() - started
            call.stamp = time.time()
            call.request_id = request_id
            call.method = scope["method"]
            self.recorder.note(call, endpoint)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, call: Call
    ) -> None:
        endpoint_name, _, action = scope["path"][len(PREFIX) :].partition("/")
        route = self.table.routes.get(endpoint_name)
        if route is None:
            raise _Reply(404, f"online endpoint {endpoint_name!r} does not exist")
        call.endpoint = endpoint_name
        v2 = openinference.is_v2(action)
        if action not in ("score", "swagger.json") and not v2:
            raise _Reply(404, f"no such path on endpoint {endpoint_name!r}: use /score")
        # An endpoint created with --local takes keyless calls, as az's do, from this machine only.
        keyless = route.local and _from_this_machine(scope)
        token = bearer(_header(scope, b"authorization"))
        what = "key" if route.tokens is None else "token"
        if token is None and not keyless:
            raise _Reply(
                401,
                f"missing credentials: send the endpoint {what} as "
                f"'Authorization: Bearer <{what}>'",
            )
        if route.tokens is not None and token is not None and not keyless:
            problem = route.tokens.problem(token, route.name)
            if problem is not None:
                raise _Reply(401, problem)
        elif token is not None and not keyless and not key_matches(token, *route.keys):
            raise _Reply(401, "the key is not valid for this endpoint")
        # The endpoint's openapi_uri: the document of the deployment the call is routed to.
        worker_path = "/swagger.json" if action == "swagger.json" else "/score"
        targeted = _header(scope, DEPLOYMENT_HEADER.encode())
        if v2:
            try:
                target = openinference.resolve(action, scope["method"], route.pools, route.v2)
            except openinference.V2Failure as failure:
                raise _Reply(failure.status, failure.message) from None
            if isinstance(target, openinference.Direct):
                call.status, call.bytes_out = (
                    target.status,
                    await _send_json(send, target.status, target.body, request_id, {}),
                )
                return
            targeted, worker_path = target.deployment, target.path
        if targeted:
            deployment = targeted
            if deployment not in route.pools:
                raise _Reply(
                    404, f"deployment {deployment!r} does not exist in endpoint {endpoint_name!r}"
                )
        else:
            chosen = route.choose()
            if chosen is None:
                raise _Reply(
                    404,
                    "no deployment of this endpoint has traffic: set a traffic split "
                    "(online-endpoint update --traffic) or target one deployment with the "
                    f"{DEPLOYMENT_HEADER} header",
                )
            deployment = chosen
        call.deployment = deployment
        call.routed_by = "v2" if v2 else "header" if targeted else "traffic"
        pool = route.pools[deployment]
        if not pool.slots:
            raise _Reply(
                503,
                f"deployment {deployment!r} has no ready instance",
                {DEPLOYMENT_HEADER: deployment},
            )
        body = await _read_body(receive, route.max_body)
        call.bytes_in = len(body)
        limit, queue_wait = route.limits.get(deployment, (1, 0.5))
        headers = _forward_headers(scope, request_id)
        url = worker_path
        query = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        timeout = route.timeouts.get(deployment, 5.0)
        mirrored: _Mirrored | None = None
        for attempt in range(1, _CONNECT_ATTEMPTS + 1):
            slot = await pool.acquire(limit, queue_wait)
            if slot is None:
                raise _Reply(
                    429,
                    f"deployment {deployment!r} is busy: every instance is at "
                    f"max_concurrent_requests_per_instance ({limit}) and the request waited "
                    f"max_queue_wait_ms ({int(queue_wait * 1000)} ms) without a turn",
                    {DEPLOYMENT_HEADER: deployment, "retry-after": "1"},
                )
            call.instance = slot.instance.spec.name
            mirror = route.mirror
            if (
                attempt == 1
                and worker_path == "/score"
                and mirror is not None
                and not targeted
                and random.randrange(100) < mirror[1]
            ):
                mirrored = self._start_mirror(route, mirror[0], scope, body, request_id)
            try:
                upstream = await self.session().request(
                    scope["method"], slot.url, url, headers, body, timeout
                )
                payload = upstream.body
                status = upstream.status
                # The instance's bytes as they came: nothing decoded to be encoded again.
                out = [
                    (name, value)
                    for k, value in upstream.headers
                    if (name := k.lower()) not in _RESPONSE_SKIP
                ]
                if slot.stuck_since:
                    slot.stuck_since = 0.0  # it answers again: no thread of it is stuck
            except TimeoutError:
                # The caller gets its 408 and the slot is freed; the instance is watched in
                # case its scoring thread never comes back (the request began `timeout` ago).
                pool.timed_out(slot, time.monotonic() - timeout)
                raise _Reply(
                    408,
                    f"deployment {deployment!r} did not answer within request_timeout_ms "
                    f"({int(timeout * 1000)} ms)",
                    {DEPLOYMENT_HEADER: deployment},
                ) from None
            except hop.ConnectError:
                # Refused before anything was sent: the instance has just died and its slot is
                # about to leave the pool, so another instance may safely take the request.
                if attempt < _CONNECT_ATTEMPTS:
                    await asyncio.sleep(_CONNECT_RETRY_PAUSE)
                    continue
                raise _Reply(
                    502,
                    f"deployment {deployment!r}: instance {slot.instance.spec.name} refused "
                    "the connection",
                    {DEPLOYMENT_HEADER: deployment},
                ) from None
            except hop.HopError:
                raise _Reply(
                    502,
                    f"deployment {deployment!r}: instance {slot.instance.spec.name} failed "
                    "while handling the request",
                    {DEPLOYMENT_HEADER: deployment},
                ) from None
            finally:
                pool.release(slot, limit)
            break
        out.append((DEPLOYMENT_HEADER.encode(), deployment.encode()))
        if not any(k == b"x-request-id" for k, _ in out):
            out.append((b"x-request-id", request_id.encode("latin-1")))
        out.append((b"content-length", str(len(payload)).encode()))
        call.status, call.bytes_out = status, len(payload)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})
        if mirrored is not None:
            mirrored.live = (deployment, status, payload)

    def _start_mirror(
        self, route: Route, target: str, scope: Scope, body: bytes, request_id: str
    ) -> _Mirrored:
        """Send a copy to the mirror deployment beside the live call, never in its way."""
        mirrored = _Mirrored()
        task = asyncio.create_task(self._mirror(route, target, scope, body, request_id, mirrored))
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)
        return mirrored

    async def _mirror(
        self,
        route: Route,
        target: str,
        scope: Scope,
        body: bytes,
        request_id: str,
        mirrored: _Mirrored,
    ) -> None:
        stats = route.mirror_stats
        pool = route.pools.get(target)
        limit, _ = route.limits.get(target, (1, 0.0))
        slot = None if pool is None else await pool.acquire(limit, 0)
        if pool is None or slot is None:
            stats.skipped_busy += 1  # the candidate is full: a copy never queues
            return
        stats.sent += 1
        stats.by_deployment[target] = stats.by_deployment.get(target, 0) + 1
        call = Call()
        call.endpoint, call.deployment, call.routed_by = route.name, target, "mirror"
        call.instance, call.method, call.request_id = (
            slot.instance.spec.name,
            scope["method"],
            request_id,
        )
        call.bytes_in = len(body)
        started = time.perf_counter()
        try:
            upstream = await self.session().request(
                scope["method"],
                slot.url,
                "/score",
                _forward_headers(scope, request_id),
                body,
                route.timeouts.get(target, 5.0),
            )
            payload, status = upstream.body, upstream.status
        except (TimeoutError, hop.HopError):
            stats.failed += 1
            status, payload = 0, b""
        finally:
            pool.release(slot, limit)
        if self.recorder is not None:
            call.status, call.bytes_out = status or 502, len(payload)
            call.seconds, call.stamp = time.perf_counter() - started, time.time()
            self.recorder.note(call, route.name)
        # The live answer may still be on its way; wait for it briefly before comparing.
        for _ in range(100):
            if mirrored.live is not None:
                break
            await asyncio.sleep(0.01)
        if status and mirrored.live is not None:
            live, live_status, live_body = mirrored.live
            stats.record(
                request_id=request_id,
                live=live,
                mirror=target,
                live_status=live_status,
                live_body=live_body,
                mirror_status=status,
                mirror_body=payload,
            )


class _Mirrored:
    """The live side of a mirrored call, filled in once the caller has its answer."""

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live: tuple[str, int, bytes] | None = None


class _Reply(Exception):
    def __init__(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.extra = extra or {}


def _is_v2(scope: Scope) -> bool:
    _, _, action = scope["path"][len(PREFIX) :].partition("/")
    return openinference.is_v2(action)


def _from_this_machine(scope: Scope) -> bool:
    """The caller's address is a loopback one."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _forward_headers(scope: Scope, request_id: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in _HOP_HEADERS:
            continue
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    headers["x-request-id"] = request_id
    return headers


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Reply(
                413,
                f"the request body is larger than this devserver's limit of {limit} bytes "
                "(epdev serve --max-request-mb)",
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], request_id: str, extra: dict[str, str]
) -> int:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    headers.extend((k.encode(), v.encode()) for k, v in extra.items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return len(body)
