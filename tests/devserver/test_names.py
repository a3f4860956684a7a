"""Names are checked against Azure's patterns before they reach a URL, and quoted when they do."""

from __future__ import annotations

import pytest

from epdev.devserver import names
from epdev.devserver.client import Client, ClientError, Connection, NotRunning

TRAVERSALS = ["ep-a/../ep-b", "ep-bad/deployments/blue", "a?x=1", "a%2Fb", "..", ".", "a#b", ""]


@pytest.mark.parametrize("value", TRAVERSALS)
@pytest.mark.parametrize("kind", ["endpoint", "deployment", "job", "asset", "version"])
def test_traversal_and_query_forms_are_not_names(kind: names.NameKind, value: str) -> None:
    with pytest.raises(names.InvalidName, match=f"{kind} name"):
        names.check(kind, value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("endpoint", "abc"),
        ("endpoint", "a" * 32),
        ("deployment", "blue-2"),
        ("job", "0-job_x"),
        ("asset", "my.data-1"),
        ("version", "latest"),
    ],
)
def test_azure_names_pass_and_quote_to_themselves(kind: names.NameKind, value: str) -> None:
    assert names.segment(kind, value) == value


@pytest.mark.parametrize(("kind", "value"), [("endpoint", "ab"), ("endpoint", "a" * 33)])
def test_endpoint_names_are_3_to_32_characters(kind: names.NameKind, value: str) -> None:
    assert names.problem(kind, value) is not None


def _client() -> Client:
    # Nothing listens on port 9: a request that were sent would fail with NotRunning.
    return Client(Connection("http://127.0.0.1:9", "token", None), timeout=1)


@pytest.mark.parametrize("value", TRAVERSALS)
def test_the_client_refuses_a_bad_name_before_sending(value: str) -> None:
    with _client() as client:
        calls = [
            lambda: client.get_credentials(value),
            lambda: client.delete_endpoint(value),
            lambda: client.delete_deployment("ep-a", value),
            lambda: client.get_job(value),
            lambda: client.get_asset("models", value, None),
            lambda: client.delete_batch_deployment(value, "blue"),
        ]
        for call in calls:
            with pytest.raises(ClientError, match=r"name .* is not valid") as caught:
                call()
            assert not isinstance(caught.value, NotRunning)
            assert "\n" not in str(caught.value)


def test_the_client_sends_good_names() -> None:
    with _client() as client, pytest.raises(NotRunning):
        client.get_credentials("ep-a")
