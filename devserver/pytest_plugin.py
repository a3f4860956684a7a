"""pytest plugin: real local HTTPS scoring endpoints inside a user's own test suite.

Registered through the `pytest11` entry point, so installing epdev is enough:

    def test_scores(epdev_endpoint):
        ep = epdev_endpoint("deploy/")          # a spec file or folder, as `epdev apply -f`
        r = requests.post(ep.scoring_uri, json=payload, headers=ep.headers, verify=ep.ca_bundle)

`epdev_server` (session scope) is a headless devserver in a temporary home; `epdev_endpoint`
applies specs, waits until every deployment is ready (failing the test with the deployment's
logs otherwise) and deletes what it created when the test ends.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from epdev.devserver.client import Client


@dataclass
class Endpoint:
    """An applied endpoint, ready to call."""

    name: str
    scoring_uri: str
    keys: dict[str, str]
    ca_bundle: str | None
    deployments: list[str]
    client: httpx.Client = field(repr=False)

    @property
    def key(self) -> str:
        from epdev.devserver.client import bearer_credential

        return bearer_credential(self.keys)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def invoke(
        self, json: Any = None, *, deployment: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """POST to the scoring URI with the key (and optionally to one deployment)."""
        headers = dict(kwargs.pop("headers", {}))
        if deployment:
            headers["azureml-model-deployment"] = deployment
        return self.client.post(self.scoring_uri, json=json, headers=headers, **kwargs)


@dataclass
class EpdevServer:
    """A devserver started for this test session."""

    home: Path
    url: str
    ca_bundle: str | None
    api: Client = field(repr=False)
    _clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        """Environment for subprocesses (such as the `epdev` CLI) that should use this server."""
        return {**os.environ, "EPDEV_HOME": str(self.home)}

    def apply(
        self, target: str | os.PathLike[str], *, name: str | None = None, timeout: float = 300
    ) -> Endpoint:
        """Apply specs, wait until they serve, and return the endpoint (`name` picks one)."""
        from epdev.devserver.applying import ApplyError, execute, plan

        try:
            steps = plan(self.api, Path(target))
            execute(self.api, steps, wait=True, timeout=timeout)
        except ApplyError as exc:
            logs = f"\n--- deployment logs ---\n{exc.logs}" if exc.logs else ""
            pytest.fail(f"epdev could not apply {target}: {exc}{logs}", pytrace=False)
        names = steps.endpoints or sorted({e for e, _ in steps.deployments})
        if name is None:
            if len(names) != 1:
                pytest.fail(
                    f"{target} describes endpoints {names}; pick one with name=", pytrace=False
                )
            name = names[0]
        return self.endpoint(name)

    def endpoint(self, name: str) -> Endpoint:
        import httpx

        from epdev.devserver.client import bearer_credential

        view = self.api.get_endpoint(name)
        keys = self.api.get_credentials(name)
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True
        )
        client = httpx.Client(
            headers={"Authorization": f"Bearer {bearer_credential(keys)}"},
            verify=verify,
            timeout=60,
        )
        self._clients.append(client)
        return Endpoint(
            name=name,
            scoring_uri=view["scoring_uri"],
            keys=keys,
            ca_bundle=self.ca_bundle,
            deployments=list(view["deployments"]),
            client=client,
        )

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.api.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("epdev", "local managed-endpoint twin")
    group.addoption(
        "--epdev-insecure-http",
        action="store_true",
        default=False,
        help="Serve the test devserver over plain HTTP instead of HTTPS.",
    )


@pytest.fixture(scope="session")
def epdev_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[EpdevServer]:
    """A headless devserver in a temporary home, stopped (with its instances) at the end."""
    from epdev.devserver.client import Client, Connection
    from epdev.devserver.detached import start_detached, stop
    from epdev.devserver.home import Home
    from epdev.devserver.serveoptions import ServeOptions

    home = Home(tmp_path_factory.mktemp("epdev-home"))
    options = ServeOptions(insecure_http=bool(pytestconfig.getoption("epdev_insecure_http")))
    info = start_detached(home, options)
    token = home.admin_token()
    assert token is not None
    server = EpdevServer(
        home=home.root,
        url=info.url,
        ca_bundle=info.ca_bundle,
        api=Client(Connection(info.url, token, info.ca_bundle)),
    )
    try:
        yield server
    finally:
        server.close()
        stop(home)


@pytest.fixture
def epdev_endpoint(epdev_server: EpdevServer) -> Iterator[Callable[..., Endpoint]]:
    """Factory: `epdev_endpoint(path, name=None, timeout=300)` applies specs and returns the
    endpoint; endpoints it created are deleted when the test ends."""
    before = {e["name"] for e in epdev_server.api.list_endpoints()}
    made: list[Endpoint] = []

    def factory(
        target: str | os.PathLike[str], *, name: str | None = None, timeout: float = 300
    ) -> Endpoint:
        endpoint = epdev_server.apply(target, name=name, timeout=timeout)
        made.append(endpoint)
        return endpoint

    yield factory
    for endpoint in made:
        endpoint.client.close()
    for entry in epdev_server.api.list_endpoints():
        if entry["name"] not in before:
            epdev_server.api.delete_endpoint(entry["name"])
