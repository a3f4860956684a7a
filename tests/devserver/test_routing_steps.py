"""The scoring router's steps in process: authenticate, select (the split, the header, V2) and
forward (slots, the hop, a mirror copy waiting for its live answer).

Instances are small aiohttp servers on loopback in the test's own loop: the edge of the router.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiohttp import web

from epdev.devserver import mirroring
from epdev.devserver.calls import Call
from epdev.devserver.hop import HopClient
from epdev.devserver.mirroring import Mirrors, MirrorStats
from epdev.devserver.pool import Pool, Slot
from epdev.devserver.routing import (
    Reply,
    Route,
    RouteTable,
    ScoringRouter,
    authenticate,
    select,
)
from epdev.devserver.tokens import TokenIssuer

KEYS = ("primary-key", "secondary-key")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    """The split and the mirror draw from `random`: each test seeds it and leaves it as it was."""
    state = random.getstate()
    yield
    random.setstate(state)


def make_route(**fields: Any) -> Route:
    values: dict[str, Any] = {
        "name": "ep",
        "auth_mode": "key",
        "keys": KEYS,
        "tokens": None,
        "pools": {"blue": Pool(), "green": Pool()},
        "timeouts": {},
        "limits": {},
        "max_body": 1 << 20,
        "mirror": None,
        "mirror_stats": MirrorStats(),
        "traffic": {"blue": 100},
    }
    values.update(fields)
    return Route(**values)


def make_scope(
    *headers: tuple[bytes, bytes], method: str = "POST", client: str = "10.0.0.7"
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/endpoints/ep/score",
        "headers": list(headers),
        "client": (client, 50000),
    }


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


def refusal(step: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(Reply) as caught:
        step()
    return caught.value.status, caught.value.message


# --- authenticate ---------------------------------------------------------------------------


def test_either_key_admits_a_call_and_anything_else_is_a_401() -> None:
    route = make_route()
    authenticate(route, make_scope(bearer("primary-key")))
    authenticate(route, make_scope(bearer("secondary-key")))
    assert refusal(lambda: authenticate(route, make_scope(bearer("guess")))) == (
        401,
        "the key is not valid for this endpoint",
    )
    assert refusal(lambda: authenticate(route, make_scope())) == (
        401,
        "missing credentials: send the endpoint key as 'Authorization: Bearer <key>'",
    )
    # A scheme other than Bearer carries no credentials.
    basic = (b"authorization", b"Basic primary-key")
    assert refusal(lambda: authenticate(route, make_scope(basic)))[0] == 401


def test_a_token_endpoint_checks_tokens_not_keys() -> None:
    issuer = TokenIssuer(b"s" * 32)
    route = make_route(auth_mode="aml_token", tokens=issuer)
    authenticate(route, make_scope(bearer(issuer.issue("ep")["accessToken"])))
    other = issuer.issue("another")["accessToken"]
    assert refusal(lambda: authenticate(route, make_scope(bearer(other)))) == (
        401,
        "the token was issued for another endpoint, not 'ep'",
    )
    assert refusal(lambda: authenticate(route, make_scope(bearer("primary-key"))))[0] == 401
    assert "send the endpoint token as" in refusal(lambda: authenticate(route, make_scope()))[1]


@pytest.mark.parametrize("client", ["127.0.0.1", "::1", "fe80::1%eth0", "not-an-address"])
def test_a_local_endpoint_takes_keyless_calls_from_this_machine_only(client: str) -> None:
    local = make_route(local=True)
    loopback = client in ("127.0.0.1", "::1")
    if loopback:
        authenticate(local, make_scope(client=client))
        # A wrong key from this machine is not looked at either, as before.
        authenticate(local, make_scope(bearer("guess"), client=client))
    else:
        assert refusal(lambda: authenticate(local, make_scope(client=client)))[0] == 401
    # Without --local, this machine needs the key like any other.
    assert refusal(lambda: authenticate(make_route(), make_scope(client=client)))[0] == 401


# --- select ---------------------------------------------------------------------------------


def test_the_split_draws_by_weight_over_names_in_order() -> None:
    route = make_route(traffic={"green": 30, "blue": 70, "grey": 5})
    random.seed(20)
    drawn = [select(route, make_scope(), "score", False, Call()) for _ in range(300)]
    random.seed(20)
    # Bounds over sorted names: blue [0, 70), green [70, 100), grey [100, 105).
    expected = []
    for _ in range(300):
        draw = random.randrange(105)
        expected.append(("blue" if draw < 70 else "green" if draw < 100 else "grey", "/score"))
    assert drawn == expected
    assert {name for name, _ in drawn} == {"blue", "green", "grey"}


def test_select_notes_how_the_call_was_routed() -> None:
    route = make_route(traffic={"blue": 100})
    call = Call()
    assert select(route, make_scope(), "swagger.json", False, call) == ("blue", "/swagger.json")
    assert (call.deployment, call.routed_by) == ("blue", "traffic")
    # The header reaches a deployment with no traffic.
    targeted = make_scope((b"azureml-model-deployment", b"green"))
    call = Call()
    assert select(route, targeted, "score", False, call) == ("green", "/score")
    assert (call.deployment, call.routed_by) == ("green", "header")


def test_select_refuses_what_no_deployment_can_take() -> None:
    route = make_route(traffic={})
    status, text = refusal(lambda: select(route, make_scope(), "score", False, Call()))
    assert status == 404 and "no deployment of this endpoint has traffic" in text
    assert "azureml-model-deployment header" in text
    nosuch = make_scope((b"azureml-model-deployment", b"red"))
    assert refusal(lambda: select(route, nosuch, "score", False, Call())) == (
        404,
        "deployment 'red' does not exist in endpoint 'ep'",
    )


def test_v2_paths_are_answered_or_sent_to_the_model_they_name() -> None:
    route = make_route(v2=frozenset({"green"}))
    # Health needs no instance: the router answers itself.
    with pytest.raises(Reply) as live:
        select(route, make_scope(method="GET"), "v2/health/live", True, Call())
    assert (live.value.status, live.value.body) == (200, {"live": True})
    call = Call()
    infer = select(route, make_scope(), "v2/models/green/infer", True, call)
    assert infer == ("green", "/v2/models/green/infer")
    assert call.routed_by == "v2"
    status, _ = refusal(lambda: select(route, make_scope(), "v2/models/blue/infer", True, Call()))
    assert status == 404


# --- forward, through the whole router ------------------------------------------------------


@asynccontextmanager
async def instance(handler: Handler) -> AsyncIterator[str]:
    """A stand-in instance on a loopback port: its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


def slot_at(url: str, name: str = "blue-1") -> Slot:
    stand_in: Any = SimpleNamespace(spec=SimpleNamespace(name=name))
    return Slot(instance=stand_in, url=url)


async def call_router(
    router: ScoringRouter, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = {"authorization": "Bearer primary-key", **(headers or {})}
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        return await client.post("/endpoints/ep/score?x=1", content=body, headers=sent)


async def call_route(route: Route, headers: dict[str, str] | None = None) -> httpx.Response:
    """One call through a router of its own, closed after."""
    table = RouteTable()
    table.replace({"ep": route})
    router = ScoringRouter(table)
    try:
        return await call_router(router, headers=headers)
    finally:
        await router.close()


def test_the_instances_answer_reaches_the_caller_with_the_deployment_named() -> None:
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        return web.Response(
            status=201, body=b'{"ok": 1}', headers={"X-Custom": "v", "Content-Type": "a/b"}
        )

    async def scenario() -> httpx.Response:
        async with instance(answer) as url:
            pool = Pool(slots=[slot_at(url)])
            reply = await call_route(make_route(pools={"blue": pool}), {"x-request-id": "abc"})
            assert pool.slots[0].inflight == 0
            return reply

    reply = asyncio.run(scenario())
    assert (reply.status_code, reply.content) == (201, b'{"ok": 1}')
    assert reply.headers["azureml-model-deployment"] == "blue"
    assert reply.headers["x-request-id"] == "abc"
    assert reply.headers["x-custom"] == "v" and reply.headers["content-type"] == "a/b"
    assert "server" not in reply.headers and "date" not in reply.headers
    (request,) = seen
    assert request.path_qs == "/score?x=1"
    assert request.headers["x-request-id"] == "abc"
    assert "authorization" not in request.headers


def test_forward_refusals_name_the_deployment() -> None:
    async def scenario() -> dict[str, httpx.Response]:
        released = asyncio.Event()

        async def never(request: web.Request) -> web.Response:
            await released.wait()  # past the router's timeout: until the test ends
            return web.Response()

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        replies: dict[str, httpx.Response] = {}
        async with instance(never) as url:
            busy = slot_at(url)
            busy.inflight = 1
            cases = {
                "none ready": make_route(pools={"blue": Pool()}),
                "busy": make_route(pools={"blue": Pool(slots=[busy])}, limits={"blue": (1, 0)}),
                "refused": make_route(pools={"blue": Pool(slots=[slot_at(refused_url)])}),
                "timeout": make_route(
                    pools={"blue": Pool(slots=[slot_at(url)])}, timeouts={"blue": 0.2}
                ),
                "too large": make_route(pools={"blue": Pool(slots=[slot_at(url)])}, max_body=1),
            }
            for case, route in cases.items():
                replies[case] = await call_route(route)
            released.set()
        return replies

    replies = asyncio.run(scenario())
    expected = {
        "none ready": 503,
        "busy": 429,
        "refused": 502,
        "timeout": 408,
        "too large": 413,
    }
    assert {case: reply.status_code for case, reply in replies.items()} == expected
    for case, reply in replies.items():
        assert reply.headers["content-type"] == "application/json"
        if case != "too large":
            assert reply.headers["azureml-model-deployment"] == "blue"
    assert replies["busy"].headers["retry-after"] == "1"
    assert "refused the connection" in replies["refused"].json()["message"]
    assert "request_timeout_ms (200 ms)" in replies["timeout"].json()["message"]


# --- the mirror -----------------------------------------------------------------------------


async def quiet(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (no clock involved)."""
    while not condition():
        await asyncio.sleep(0)


def test_a_copy_waits_for_the_live_answer_before_comparing() -> None:
    async def candidate(request: web.Request) -> web.Response:
        return web.Response(body=b'{"answer": 3}')

    async def scenario() -> MirrorStats:
        async with instance(candidate) as url:
            slot = slot_at(url, "green-1")
            route = make_route(pools={"green": Pool(slots=[slot])})
            mirrors = Mirrors(HopClient(), None)
            live = mirrors.start(route, "green", "POST", {}, b'{"x": 1}', "id-1")
            (copy,) = mirrors.copies
            # The copy gives its slot back on its way to wait for the live answer.
            await quiet(lambda: route.mirror_stats.sent == 1 and slot.inflight == 0)
            assert route.mirror_stats.compared == 0 and not copy.done() and not live.done()
            mirroring.settle(live, ("blue", 200, b'{"answer": 2}'))
            await copy
            await mirrors.forwarder.close()
            return route.mirror_stats

    stats = asyncio.run(scenario())
    assert (stats.sent, stats.compared, stats.body_differs, stats.status_differs) == (1, 1, 1, 0)
    (example,) = stats.examples
    assert example["live"]["body"] == '{"answer": 2}'
    assert example["mirror"] == {"deployment": "green", "status": 200, "body": '{"answer": 3}'}


def test_a_live_call_with_no_answer_lets_its_copy_end_uncompared() -> None:
    async def candidate(request: web.Request) -> web.Response:
        return web.Response(body=b"{}")

    async def scenario() -> MirrorStats:
        async with instance(candidate) as url:
            route = make_route(pools={"green": Pool(slots=[slot_at(url)])})
            mirrors = Mirrors(HopClient(), None)
            live = mirrors.start(route, "green", "POST", {}, b"{}", "id-2")
            mirroring.settle(live, None)
            mirroring.settle(live, None)  # settling twice is harmless
            await asyncio.gather(*mirrors.copies)
            await mirrors.forwarder.close()
            return route.mirror_stats

    stats = asyncio.run(scenario())
    assert (stats.sent, stats.compared, stats.failed) == (1, 0, 0)


def test_a_full_candidate_skips_the_copy() -> None:
    async def scenario() -> MirrorStats:
        full = slot_at("http://127.0.0.1:1")
        full.inflight = 1
        route = make_route(pools={"green": Pool(slots=[full])}, limits={"green": (1, 5.0)})
        mirrors = Mirrors(HopClient(), None)
        mirrors.start(route, "green", "POST", {}, b"{}", "id-3")
        await asyncio.gather(*mirrors.copies)
        return route.mirror_stats

    stats = asyncio.run(scenario())
    assert (stats.sent, stats.skipped_busy) == (0, 1)


def test_the_router_copies_the_drawn_share_and_never_changes_the_answer() -> None:
    async def live(request: web.Request) -> web.Response:
        return web.Response(body=b'{"answer": "live"}')

    async def candidate(request: web.Request) -> web.Response:
        return web.Response(body=b'{"answer": "candidate"}')

    async def scenario() -> tuple[list[httpx.Response], MirrorStats]:
        async with instance(live) as blue, instance(candidate) as green:
            route = make_route(
                pools={"blue": Pool(slots=[slot_at(blue)]), "green": Pool(slots=[slot_at(green)])},
                limits={"green": (100, 0)},
                mirror=("green", 30),
                traffic={"blue": 100},
            )
            table = RouteTable()
            table.replace({"ep": route})
            router = ScoringRouter(table)
            random.seed(22)
            replies = [await call_router(router) for _ in range(40)]
            await asyncio.gather(*router.mirrors.copies)
            await router.close()
            return replies, route.mirror_stats

    replies, stats = asyncio.run(scenario())
    assert {reply.content for reply in replies} == {b'{"answer": "live"}'}
    # Each call draws the split, then whether it is copied: the same seed gives the same copies.
    random.seed(22)
    copied = 0
    for _ in range(40):
        random.randrange(100)
        copied += random.randrange(100) < 30
    assert 0 < copied < 40
    assert (stats.sent, stats.compared, stats.body_differs) == (copied, copied, copied)
