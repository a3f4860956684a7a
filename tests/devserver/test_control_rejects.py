"""Bad requests to the control plane get a clear error and change nothing."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.sample_project import SampleProject

from epdev.devserver.endpoints import Control
from epdev.devserver.errors import ApiError, BadRequest, Conflict, NotFound
from epdev.devserver.home import Home
from epdev.runtimes.catalog import Runtimes
from epdev.specs import load_spec


class Harness:
    def __init__(self, home: Path, project: SampleProject) -> None:
        self.loop = asyncio.new_event_loop()
        self.control = Control(Home(home).ensure(), Runtimes(), "https://127.0.0.1:1")
        self.project = project
        self.run(self.control.restore())

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.control.shutdown())
        self.loop.close()

    def spec(self, path: Path, **changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = load_spec(path).spec.model_dump(
            mode="json", by_alias=True, exclude_unset=True
        )
        data.update(changes)
        return data

    def snapshot(self) -> Any:
        store = self.control.store
        return (
            copy.deepcopy([row.__dict__ for row in store.endpoints()]),
            copy.deepcopy([row.__dict__ for row in store.deployments()]),
            {name: sorted(e.deployments) for name, e in self.control.endpoints.items()},
            {name: (r.keys, r.traffic) for name, r in self.control.routes.routes.items()},
        )

    def wait_ready(self, endpoint: str, name: str) -> None:
        async def ready() -> None:
            dentry = self.control.deployment(endpoint, name)
            assert dentry.task is not None
            await dentry.task

        self.run(ready())
        assert self.control.deployments.view(endpoint, name)["provisioning_state"] == "Succeeded"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    from support.sample_project import make_sample_project

    root = tmp_path_factory.mktemp("control")
    h = Harness(root / "home", make_sample_project(root / "project"))
    p = h.project
    h.run(h.control.create_endpoint(h.spec(p.endpoint_yml), str(p.endpoint_yml)))
    h.run(h.control.deployments.create("my-endpoint", h.spec(p.blue_yml), None, all_traffic=True))
    h.wait_ready("my-endpoint", "blue")
    yield h
    h.close()


def _cases(h: Harness) -> list[tuple[str, Callable[[], Awaitable[Any]], type[ApiError], str]]:
    c, p = h.control, h.project
    bad_code = h.spec(p.blue_yml, name="bad")
    bad_code["code_configuration"] = {"code": "/does/not/exist", "scoring_script": "score.py"}
    no_run = p.root / "norun"
    no_run.mkdir(exist_ok=True)
    (no_run / "score.py").write_text("def init():\n    pass\n")
    without_run = h.spec(p.blue_yml, name="norun")
    without_run["code_configuration"] = {"code": str(no_run), "scoring_script": "score.py"}
    return [
        (
            "bad endpoint name",
            lambda: c.create_endpoint({"name": "1-bad"}, None),
            BadRequest,
            "not a valid name",
        ),
        (
            "duplicate endpoint",
            lambda: c.create_endpoint({"name": "my-endpoint"}, None),
            Conflict,
            "already exists",
        ),
        (
            "traffic to unknown deployment at create",
            lambda: c.create_endpoint({"name": "other-ep", "traffic": {"x": 100}}, None),
            BadRequest,
            "does not have",
        ),
        (
            "traffic not adding to 100",
            lambda: c.update_endpoint("my-endpoint", traffic={"blue": 90}),
            BadRequest,
            "add up to 100",
        ),
        (
            "traffic to missing deployment",
            lambda: c.update_endpoint("my-endpoint", traffic={"blue": 50, "ghost": 50}),
            BadRequest,
            "'ghost'",
        ),
        (
            "negative traffic",
            lambda: c.update_endpoint("my-endpoint", traffic={"blue": -5}),
            BadRequest,
            "0 to 100",
        ),
        (
            "mirror to a live deployment",
            lambda: c.update_endpoint("my-endpoint", mirror_traffic={"blue": 10}),
            BadRequest,
            "live traffic",
        ),
        (
            "mirror over 50%",
            lambda: c.update_endpoint("my-endpoint", mirror_traffic={"blue": 60}),
            BadRequest,
            "at most 50%",
        ),
        (
            "update missing endpoint",
            lambda: c.update_endpoint("nope-ep", traffic={}),
            NotFound,
            "'nope-ep' does not exist",
        ),
        (
            "deployment for a missing endpoint",
            lambda: c.deployments.create("nope-ep", h.spec(p.green_yml), None, False),
            NotFound,
            "'nope-ep' does not exist",
        ),
        (
            "deployment with a missing code folder",
            lambda: c.deployments.create("my-endpoint", bad_code, None, False),
            BadRequest,
            "does not exist",
        ),
        (
            "script without run()",
            lambda: c.deployments.create("my-endpoint", without_run, None, False),
            BadRequest,
            "does not define run()",
        ),
        (
            "unregistered model reference",
            lambda: c.deployments.create(
                "my-endpoint", h.spec(p.green_yml, model="azureml:m:1"), None, False
            ),
            BadRequest,
            "model: 'azureml:m:1': model asset 'm' does not exist",
        ),
        (
            "duplicate deployment",
            lambda: c.deployments.create("my-endpoint", h.spec(p.blue_yml), None, False),
            Conflict,
            "already exists",
        ),
        (
            "endpoint_name mismatch",
            lambda: c.deployments.create(
                "my-endpoint", h.spec(p.green_yml, endpoint_name="other-ep"), None, False
            ),
            BadRequest,
            "endpoint_name",
        ),
        (
            "unknown key",
            lambda: c.deployments.create(
                "my-endpoint", h.spec(p.green_yml, instance_cont=2), None, False
            ),
            BadRequest,
            "did you mean 'instance_count'",
        ),
        (
            "bad --set value",
            lambda: c.deployments.update(
                "my-endpoint", "blue", data=None, overrides={"instance_count": 0}, source=None
            ),
            BadRequest,
            "instance_count",
        ),
        (
            "update a missing deployment",
            lambda: c.deployments.update(
                "my-endpoint", "ghost", data=None, overrides={"x": 1}, source=None
            ),
            NotFound,
            "'ghost' does not exist",
        ),
        (
            "delete a deployment with traffic",
            lambda: c.deployments.delete("my-endpoint", "blue"),
            BadRequest,
            "100% of endpoint",
        ),
        (
            "bad deployment name",
            lambda: c.deployments.create("my-endpoint", h.spec(p.green_yml, name="g"), None, False),
            BadRequest,
            "not a valid name",
        ),
    ]


def test_every_bad_request_is_refused_and_changes_nothing(harness: Harness) -> None:
    cases = _cases(harness)
    assert len(cases) >= 15
    for label, action, error, fragment in cases:
        before = harness.snapshot()
        with pytest.raises(error) as caught:
            harness.run(action())
        assert fragment in caught.value.message, f"{label}: {caught.value.message}"
        assert harness.snapshot() == before, label
    # The deployment that was there keeps serving.
    assert harness.control.deployment("my-endpoint", "blue").runner.ready_instances == 1


def test_a_deployment_whose_init_fails_is_failed_with_the_traceback(harness: Harness) -> None:
    p = harness.project
    broken = p.root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "score.py").write_text(
        "def init():\n    raise RuntimeError('model file is corrupt')\n\n"
        "def run(data):\n    return 1\n"
    )
    spec = harness.spec(p.green_yml, name="broken")
    spec["code_configuration"] = {"code": str(broken), "scoring_script": "score.py"}
    harness.run(harness.control.deployments.create("my-endpoint", spec, None, False))

    async def settle() -> None:
        task = harness.control.deployment("my-endpoint", "broken").task
        assert task is not None
        await task

    harness.run(settle())
    view = harness.control.deployments.view("my-endpoint", "broken")
    assert view["provisioning_state"] == "Failed"
    assert "model file is corrupt" in view["error"]
    logs = harness.control.deployments.logs("my-endpoint", "broken", None)
    assert "Traceback" in logs
    assert "RuntimeError: model file is corrupt" in logs
    harness.run(harness.control.deployments.delete("my-endpoint", "broken"))
