"""The client against the real devserver app in this process (httpx.ASGITransport): the sync
client answers the JSON the CLI prints, the async one the API's views, both from the one table of
operations; refusals and bad names are one-line errors naming what failed."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from epdev.devserver import views
from epdev.devserver.app import DevserverApp
from epdev.devserver.client import AsyncClient, Client, ClientError, Connection, NotRunning
from epdev.devserver.client import operations as ops
from epdev.devserver.client.request import Answer
from epdev.devserver.endpoints import Control
from epdev.devserver.home import Home
from epdev.runtimes.catalog import Runtimes

TOKEN = "the-admin-token"
URL = "https://127.0.0.1:1"
CONNECTION = Connection(URL, TOKEN, None)


class SyncASGI(httpx.BaseTransport):
    """httpx has no sync ASGI transport: the async one, run to completion per request."""

    def __init__(self, app: DevserverApp) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)

        async def answer() -> httpx.Response:
            response = await self.asgi.handle_async_request(request)
            return httpx.Response(
                response.status_code, headers=response.headers, content=await response.aread()
            )

        return asyncio.run(answer())


@pytest.fixture
def app(tmp_path: Path) -> Iterator[DevserverApp]:
    control = Control(Home(tmp_path / "home").ensure(), Runtimes(), URL)
    yield DevserverApp(control, TOKEN)
    control.store.close()


@pytest.fixture
def transport(app: DevserverApp) -> SyncASGI:
    return SyncASGI(app)


@pytest.fixture
def client(transport: SyncASGI) -> Iterator[Client]:
    with Client(CONNECTION, transport=transport) as client:
        yield client


def typed(app: DevserverApp, calls: Any) -> Any:
    """Run `calls(client)` with an async client over `app`, as the dashboard would."""

    async def run() -> Any:
        async with AsyncClient(CONNECTION, transport=httpx.ASGITransport(app=app)) as client:
            return await calls(client)

    return asyncio.run(run())


def test_each_answer_names_the_view_its_annotation_declares() -> None:
    hints = typing.get_type_hints(ops, localns={"views": views})
    answers = {name: getattr(ops, name) for name in ops.__annotations__}
    assert all(isinstance(answer, Answer) for answer in answers.values())
    assert len(answers) >= 18
    for name, answer in answers.items():
        (declared,) = typing.get_args(hints[name])
        assert answer.view is not None, name
        kind = getattr(views, answer.view)
        assert declared == (list[kind] if answer.many else kind), name


def test_the_sync_client_answers_the_json_the_cli_prints(client: Client) -> None:
    created = client.create_endpoint({"name": "plain-ep", "auth_mode": "key"}, "ep.yml")
    assert isinstance(created, dict) and created["name"] == "plain-ep"
    assert created["source"] == "ep.yml" and created["deployments"] == []
    shown = client.get_endpoint("plain-ep")
    assert shown["scoring_uri"] == created["scoring_uri"]
    assert [e["name"] for e in client.list_endpoints()] == ["plain-ep"]
    spec = {"name": "plain-ep", "auth_mode": "key", "description": "changed"}
    updated = client.update_endpoint("plain-ep", spec=spec, traffic=None)
    assert updated["description"] == "changed"
    keys = client.get_credentials("plain-ep")
    assert set(keys) == {"primaryKey", "secondaryKey"}
    again = client.regenerate_keys("plain-ep", "secondary")
    assert again["primaryKey"] == keys["primaryKey"]
    assert again["secondaryKey"] != keys["secondaryKey"]
    assert client.mirror_report("plain-ep")["mirror_traffic"] == {}
    assert client.list_deployments("plain-ep") == []
    assert client.list_jobs() == [] and client.list_batch_endpoints() == []
    assert client.validate("online-endpoint", {"name": "other-ep"}) is None
    assert client.delete_endpoint("plain-ep") is None
    assert client.list_endpoints() == []


def test_the_async_client_answers_views_of_the_same_json(app: DevserverApp, client: Client) -> None:
    client.create_endpoint({"name": "typed-ep", "auth_mode": "key", "tags": {"a": "b"}}, None)
    plain = client.get_endpoint("typed-ep")

    async def calls(api: AsyncClient) -> tuple[Any, ...]:
        return (
            await api.get_endpoint("typed-ep"),
            await api.list_endpoints(),
            await api.get_credentials("typed-ep"),
            await api.endpoint_metrics("typed-ep", window="60s", step="10s"),
            await api.update_endpoint("typed-ep", spec={"name": "typed-ep", "description": "t"}),
        )

    endpoint, listed, keys, metrics, updated = typed(app, calls)
    assert isinstance(endpoint, views.EndpointView) and endpoint.tags == {"a": "b"}
    # The view writes back the very JSON the devserver sent, as the CLI would print it.
    assert endpoint.model_dump(mode="json") == plain
    assert [e.name for e in listed] == ["typed-ep"]
    assert isinstance(keys, views.EndpointKeys)
    assert keys.primaryKey == client.get_credentials("typed-ep")["primaryKey"]
    assert isinstance(metrics, views.EndpointMetrics) and metrics.step_seconds == 10
    assert isinstance(updated, views.EndpointView) and updated.description == "t"


def test_a_token_endpoint_answers_a_token_view(app: DevserverApp, client: Client) -> None:
    client.create_endpoint({"name": "token-ep", "auth_mode": "aml_token"}, None)
    token = typed(app, lambda api: api.get_credentials("token-ep"))
    assert isinstance(token, views.EndpointToken) and token.tokenType == "Bearer"
    assert TypeAdapter(views.Credentials).validate_python(client.get_credentials("token-ep"))


def test_a_refusal_is_one_line_naming_the_resource(app: DevserverApp, client: Client) -> None:
    with pytest.raises(ClientError) as refused:
        client.get_deployment("no-such-ep", "blue")
    assert refused.value.status == 404
    assert "no-such-ep" in str(refused.value) and "\n" not in str(refused.value)

    async def missing(api: AsyncClient) -> ClientError:
        try:
            await api.get_job("no-such-job")
        except ClientError as exc:
            return exc
        raise AssertionError("the job was found")

    error = typed(app, missing)
    assert error.status == 404 and "no-such-job" in str(error)


@pytest.mark.parametrize("name", ["a/../b", "ep?x=1", "x"])
def test_a_bad_name_is_refused_before_anything_is_sent(
    app: DevserverApp, client: Client, transport: SyncASGI, name: str
) -> None:
    with pytest.raises(ClientError, match="endpoint"):
        client.get_endpoint(name)
    with pytest.raises(ClientError, match="deployment"):
        client.restart_deployment("good-ep", name)
    assert transport.sent == []
    with pytest.raises(ClientError, match="endpoint"):
        typed(app, lambda api: api.search_logs(name, "blue", "init"))


def test_invoke_finds_the_scoring_uri_and_key_then_hands_back_the_answer(
    client: Client, transport: SyncASGI
) -> None:
    client.create_endpoint({"name": "score-ep", "auth_mode": "key"}, None)
    key = client.get_credentials("score-ep")["primaryKey"]
    transport.sent.clear()
    # No deployment takes traffic: the router's refusal is the caller's to read, not an error.
    response = client.invoke("score-ep", b'{"data": [1]}', deployment="blue")
    assert isinstance(response, httpx.Response) and response.status_code >= 400
    scoring = transport.sent[-1]
    assert [r.url.path for r in transport.sent[:2]] == [
        "/api/v1/online-endpoints/score-ep",
        "/api/v1/online-endpoints/score-ep/list-keys",
    ]
    assert str(scoring.url) == client.get_endpoint("score-ep")["scoring_uri"]
    assert scoring.headers["authorization"] == f"Bearer {key}"
    assert scoring.headers["azureml-model-deployment"] == "blue"


def test_an_unreachable_devserver_is_not_running() -> None:
    nowhere = Connection("http://127.0.0.1:9", TOKEN, None)
    with Client(nowhere, timeout=2) as client, pytest.raises(NotRunning, match="cannot reach"):
        client.list_endpoints()

    async def call() -> None:
        async with AsyncClient(nowhere, timeout=2) as api:
            await api.list_jobs()

    with pytest.raises(NotRunning, match=r"cannot reach the devserver at http://127\.0\.0\.1:9"):
        asyncio.run(call())
