"""The data plane: authenticate a scoring call, select a deployment, forward it to an instance.

This is the hot path, so it is a plain ASGI callable rather than a FastAPI route, and it reads
an immutable route table that the control plane swaps whole on every change. A call goes through
three steps: `authenticate` and `select` decide, with no I/O; `ScoringRouter.forward` takes a
slot and sends the call through the hop (epdev.devserver.hop), beside a copy for the mirror
deployment when one is drawn (epdev.devserver.mirroring).
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from epdev.devserver import mirroring, v2paths
from epdev.devserver.calls import Call, CallRecorder
from epdev.devserver.hop import ConnectError, HopClient, HopError, RawHeaders
from epdev.devserver.keys import bearer, key_matches
from epdev.devserver.mirroring import Mirrors, MirrorStats
from epdev.devserver.pool import Pool, Slot
from epdev.devserver.tokens import TokenIssuer
from epdev.runtimes.asgi import (
    BodyTooLarge,
    Disconnected,
    Headers,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_json,
)

PREFIX = "/endpoints/"
DEPLOYMENT_HEADER = "azureml-model-deployment"
_DEPLOYMENT_KEY = DEPLOYMENT_HEADER.encode()
BY_TRAFFIC = "traffic"
"""How a call drawn by the traffic split is routed (`Call.routed_by`); only these are mirrored."""

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

    def mirror_copy(self) -> str | None:
        """The mirror deployment when this call is among the mirror_traffic percent copied."""
        mirror = self.mirror
        if mirror is not None and random.randrange(100) < mirror[1]:
            return mirror[0]
        return None


class RouteTable:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def replace(self, routes: dict[str, Route]) -> None:
        self.routes = routes


class Reply(Exception):
    """The router's own answer to a call: an error, `{"message": ...}` (`{"error": ...}` on V2
    paths) with `status`, or `body` as it is (V2 health and metadata, which need no instance)."""

    def __init__(
        self,
        status: int,
        message: str,
        extra: Headers | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or []
        self.body = body


def authenticate(route: Route, scope: Scope) -> None:
    """Reply 401 unless the call carries the endpoint's key or a token it accepts."""
    if route.local and _from_this_machine(scope):
        return  # an endpoint created with --local takes keyless calls, as az's do, from here
    token = bearer(header(scope["headers"], b"authorization"))
    if token is None:
        what = "key" if route.tokens is None else "token"
        raise Reply(
            401,
            f"missing credentials: send the endpoint {what} as 'Authorization: Bearer <{what}>'",
        )
    if route.tokens is not None:
        problem = route.tokens.problem(token, route.name)
        if problem is not None:
            raise Reply(401, problem)
    elif not key_matches(token, *route.keys):
        raise Reply(401, "the key is not valid for this endpoint")


def select(route: Route, scope: Scope, action: str, v2: bool, call: Call) -> tuple[str, str]:
    """The deployment that takes the call and the path on its worker, noted on `call`. Reply
    404 when no deployment can, or with the answer itself to V2 health and metadata.

    `action` is the path after the endpoint's name: `score`, `swagger.json` (the endpoint's
    openapi_uri: the document of the deployment the call is routed to) or a V2 path.
    """
    path = "/swagger.json" if action == "swagger.json" else "/score"
    targeted = header(scope["headers"], _DEPLOYMENT_KEY)
    if v2:
        try:
            target = v2paths.resolve(action, scope["method"], route.pools, route.v2)
        except v2paths.V2Failure as failure:
            raise Reply(failure.status, failure.message) from None
        if isinstance(target, v2paths.Direct):
            raise Reply(target.status, "", body=target.body)
        targeted, path = target.deployment, target.path
    if targeted:
        if targeted not in route.pools:
            raise Reply(404, f"deployment {targeted!r} does not exist in endpoint {route.name!r}")
        deployment = targeted
    else:
        chosen = route.choose()
        if chosen is None:
            raise Reply(
                404,
                "no deployment of this endpoint has traffic: set a traffic split "
                "(online-endpoint update --traffic) or target one deployment with the "
                f"{DEPLOYMENT_HEADER} header",
            )
        deployment = chosen
    call.deployment = deployment
    call.routed_by = "v2" if v2 else "header" if targeted else BY_TRAFFIC
    return deployment, path


class ScoringRouter:
    """ASGI app for `/endpoints/{name}/score` (and `/endpoints/{name}/swagger.json`)."""

    def __init__(self, table: RouteTable, recorder: CallRecorder | None = None) -> None:
        self.table = table
        self.recorder = recorder
        self.forwarder = HopClient()
        self.mirrors = Mirrors(self.forwarder, recorder)
        # Request ids are UUIDs in form (8-4-4-4-12, version 4) as Azure's are: a random head
        # per router and a counter from a random start in the last 48 bits, so an id costs a
        # format, not a urandom call and a UUID object.
        head = uuid.uuid4()
        self._id_head = str(head)[:24]
        self._id_counter = itertools.count(head.int & _ID_TAIL_MASK)

    def _new_request_id(self) -> str:
        return f"{self._id_head}{next(self._id_counter) & _ID_TAIL_MASK:012x}"

    async def close(self) -> None:
        await self.forwarder.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = header(scope["headers"], b"x-request-id") or self._new_request_id()
        call = Call()
        try:
            endpoint_name, _, action = scope["path"][len(PREFIX) :].partition("/")
            route = self.table.routes.get(endpoint_name)
            if route is None:
                raise Reply(404, f"online endpoint {endpoint_name!r} does not exist")
            call.endpoint = endpoint_name
            v2 = v2paths.is_v2(action)
            if action not in ("score", "swagger.json") and not v2:
                raise Reply(404, f"no such path on endpoint {endpoint_name!r}: use /score")
            authenticate(route, scope)
            deployment, path = select(route, scope, action, v2, call)
            await self.forward(route, scope, receive, send, deployment, path, request_id, call)
        except Reply as reply:
            call.status = reply.status
            body = reply.body
            if body is None:
                # V2 calls get their errors in the protocol's own shape.
                body = {v2paths.ERROR_KEY if _is_v2(scope) else "message": reply.message}
            ids = [(b"x-request-id", request_id.encode("latin-1")), *reply.extra]
            call.bytes_out = await send_json(send, reply.status, body, ids)
        # Calls to endpoints that do not exist are not recorded: their names are anything.
        endpoint = call.endpoint
        if endpoint is not None and self.recorder is not None:
            call.seconds = time.perf_counter() - started
            call.stamp = time.time()
            call.request_id = request_id
            call.method = scope["method"]
            self.recorder.note(call, endpoint)

    async def forward(
        self,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        deployment: str,
        path: str,
        request_id: str,
        call: Call,
    ) -> None:
        """Send the call to an instance of `deployment` (at `path` on its worker) and the
        instance's answer to the caller; Reply when that cannot be done."""
        pool = route.pools[deployment]
        if not pool.slots:
            raise Reply(503, f"deployment {deployment!r} has no ready instance", _named(deployment))
        try:
            body = await read_body(receive, route.max_body, whole=True)
        except BodyTooLarge:
            raise _too_large(route.max_body) from None
        except Disconnected:
            raise asyncio.CancelledError from None
        call.bytes_in = len(body)
        limit, queue_wait = route.limits.get(deployment, (1, 0.5))
        method = scope["method"]
        headers = forward_headers(scope, request_id)
        query = scope.get("query_string", b"")
        url = path + "?" + query.decode("latin-1") if query else path
        timeout = route.timeouts.get(deployment, 5.0)
        live = None
        try:
            for attempt in range(1, _CONNECT_ATTEMPTS + 1):
                # A free slot is taken at once; only a full deployment makes the call wait.
                slot = pool.take(limit) or await pool.wait_turn(limit, queue_wait)
                if slot is None:
                    raise _busy(deployment, limit, queue_wait)
                call.instance = slot.instance.spec.name
                if attempt == 1 and route.mirror is not None:
                    live = self._mirror(route, path, call, method, headers, body, request_id)
                try:
                    answer = await self.forwarder.request(
                        method, slot.url, url, headers, body, timeout
                    )
                    if slot.stuck_since:
                        slot.stuck_since = 0.0  # it answers again: no thread of it is stuck
                except TimeoutError:
                    # The caller gets its 408 and the slot is freed; the instance is watched in
                    # case its scoring thread never comes back (the request began `timeout` ago).
                    pool.timed_out(slot, time.monotonic() - timeout)
                    raise _late(deployment, timeout) from None
                except ConnectError:
                    # Refused before anything was sent: the instance has just died and its slot
                    # is about to leave the pool, so another instance may safely take the call.
                    if attempt < _CONNECT_ATTEMPTS:
                        await asyncio.sleep(_CONNECT_RETRY_PAUSE)
                        continue
                    raise _bad_gateway(deployment, slot, "refused the connection") from None
                except HopError:
                    raise _bad_gateway(
                        deployment, slot, "failed while handling the request"
                    ) from None
                finally:
                    pool.release(slot, limit)
                break
            status, payload = answer.status, answer.body
            call.status, call.bytes_out = status, len(payload)
            out = _answer_headers(answer.headers, deployment, request_id, len(payload))
            # asgi.respond's work, written out: one coroutine fewer on every call.
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": payload})
        except BaseException:
            if live is not None:
                mirroring.settle(live, None)
            raise
        if live is not None:
            mirroring.settle(live, (deployment, status, payload))

    def _mirror(
        self,
        route: Route,
        path: str,
        call: Call,
        method: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> asyncio.Future[mirroring.Live] | None:
        """A copy of a call the split routed to /score, when the mirror's share draws it: the
        future the copy awaits the live answer on."""
        if path != "/score" or call.routed_by != BY_TRAFFIC:
            return None
        target = route.mirror_copy()
        if target is None:
            return None
        return self.mirrors.start(route, target, method, headers, body, request_id)


def _answer_headers(raw: RawHeaders, deployment: str, request_id: str, size: int) -> Headers:
    """The instance's headers as the caller gets them: the instance's bytes as they came (nothing
    decoded to be encoded again) but the framing, with the deployment, id and length added."""
    out = [(name, value) for k, value in raw if (name := k.lower()) not in _RESPONSE_SKIP]
    out.append((_DEPLOYMENT_KEY, deployment.encode()))
    if not any(k == b"x-request-id" for k, _ in out):
        out.append((b"x-request-id", request_id.encode("latin-1")))
    out.append((b"content-length", str(size).encode()))
    return out


def _named(deployment: str) -> Headers:
    """The header that names the deployment an error answer comes from."""
    return [(_DEPLOYMENT_KEY, deployment.encode())]


def _too_large(limit: int) -> Reply:
    return Reply(
        413,
        f"the request body is larger than this devserver's limit of {limit} bytes "
        "(epdev serve --max-request-mb)",
    )


def _busy(deployment: str, limit: int, queue_wait: float) -> Reply:
    return Reply(
        429,
        f"deployment {deployment!r} is busy: every instance is at "
        f"max_concurrent_requests_per_instance ({limit}) and the request waited "
        f"max_queue_wait_ms ({int(queue_wait * 1000)} ms) without a turn",
        [*_named(deployment), (b"retry-after", b"1")],
    )


def _late(deployment: str, timeout: float) -> Reply:
    return Reply(
        408,
        f"deployment {deployment!r} did not answer within request_timeout_ms "
        f"({int(timeout * 1000)} ms)",
        _named(deployment),
    )


def _bad_gateway(deployment: str, slot: Slot, what: str) -> Reply:
    return Reply(
        502,
        f"deployment {deployment!r}: instance {slot.instance.spec.name} {what}",
        _named(deployment),
    )


def _is_v2(scope: Scope) -> bool:
    _, _, action = scope["path"][len(PREFIX) :].partition("/")
    return v2paths.is_v2(action)


def _from_this_machine(scope: Scope) -> bool:
    """The caller's address is a loopback one."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


def forward_headers(scope: Scope, request_id: str) -> dict[str, str]:
    """The caller's headers as the instance gets them: no hop headers, no key, repeats joined,
    and the call's request id."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in _HOP_HEADERS:
            continue
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    headers["x-request-id"] = request_id
    return headers
