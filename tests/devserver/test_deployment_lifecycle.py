"""A deployment's lifecycle: its provisioning transitions, what they store, and the restart
backoff, in process with a fake runtime at the edge (instances that start, fail or die on cue)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.online_specs import echo_deployment

from epdev.devserver.endpoints import Control
from epdev.devserver.home import Home
from epdev.devserver.instancehealth import HealthState
from epdev.devserver.logs import DeploymentLog
from epdev.devserver.provisioning import Provisioning, ProvisioningState, stored_spec
from epdev.devserver.restarts import PAUSES, STABLE_SECONDS, Backoff
from epdev.devserver.store import DeploymentRow, Store
from epdev.devserver.supervisor import DeploymentRunner
from epdev.runtimes import InstanceFailed, InstanceSpec, InstanceState, LogSink
from epdev.runtimes.catalog import Runtimes
from epdev.specs import OnlineDeployment

T = TypeVar("T")


class FakeInstance:
    """An instance that becomes ready at once, or fails to start, or exits right after starting."""

    def __init__(self, spec: InstanceSpec, fail: str | None, dies: bool) -> None:
        self.spec = spec
        self.state = InstanceState.STARTING
        self._fail, self._dies = fail, dies
        self._exited = asyncio.Event()

    @property
    def url(self) -> str:
        return "http://fake.invalid"

    @property
    def pid(self) -> int | None:
        return None

    async def start(self, ready_timeout: float) -> None:
        if self._fail is not None:
            self.state = InstanceState.FAILED
            raise InstanceFailed(self._fail)
        self.state = InstanceState.READY
        if self._dies:
            self._exited.set()

    async def stop(self, grace: float = 5.0) -> None:
        self.state = InstanceState.STOPPED
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        return 1

    def exit_reason(self, code: int) -> str:
        return f"exit code {code}"


class FakeRuntime:
    """The process runtime's name, so nothing builds an environment for it."""

    name = "process"

    def __init__(self) -> None:
        self.fail: str | None = None
        self.deaths = 0  # how many of the next instances exit as soon as they are up
        self.made: list[FakeInstance] = []

    def create_instance(self, spec: InstanceSpec, sink: LogSink) -> FakeInstance:
        dies = self.deaths > 0
        self.deaths -= dies
        instance = FakeInstance(spec, self.fail, dies)
        self.made.append(instance)
        return instance


def _row(spec: OnlineDeployment) -> DeploymentRow:
    return DeploymentRow("epx", spec.name, stored_spec(spec), None, ProvisioningState.CREATING)


def _stored(store: Store) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    return {row.name: (row.state, row.error, row.spec) for row in store.deployments()}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = Store(tmp_path / "epdev.db")
    store.execute(
        "INSERT INTO endpoints (name, spec, source, primary_key, secondary_key, created_at, "
        "updated_at) VALUES ('epx', '{}', NULL, 'a', 'b', 0, 0)"
    )
    yield store
    store.close()


def test_each_transition_writes_the_row_that_a_restart_restores(
    tmp_path: Path, store: Store
) -> None:
    spec = echo_deployment(tmp_path)
    provisioning = Provisioning(_row(spec), store)
    provisioning.created()
    assert _stored(store) == {"blue": ("Creating", None, stored_spec(spec))}
    provisioning.succeeded()
    assert _stored(store)["blue"][:2] == ("Succeeded", None)

    # A rollout: Updating is stored at once, the new spec only once it serves.
    bigger = echo_deployment(tmp_path, instance_count=2)
    provisioning.updating()
    assert _stored(store) == {"blue": ("Updating", None, stored_spec(spec))}
    provisioning.failed("update failed: init() raised")
    assert _stored(store) == {"blue": ("Failed", "update failed: init() raised", stored_spec(spec))}
    assert (provisioning.state, provisioning.error) == ("Failed", "update failed: init() raised")
    provisioning.updating()
    provisioning.succeeded(bigger)
    assert _stored(store) == {"blue": ("Succeeded", None, stored_spec(bigger))}

    # A restored deployment is Creating again until its instances are back.
    restored = Provisioning(store.deployments()[0], store)
    assert restored.state == ProvisioningState.SUCCEEDED
    restored.restarting()
    assert _stored(store)["blue"][:2] == ("Creating", None)


def test_a_deleted_deployment_leaves_the_store_and_stays_gone(tmp_path: Path, store: Store) -> None:
    provisioning = Provisioning(_row(echo_deployment(tmp_path)), store)
    provisioning.created()
    provisioning.delete()
    assert provisioning.state == ProvisioningState.DELETING
    assert _stored(store) == {}
    # A provisioning that ends after the delete neither brings the row back nor relabels it.
    provisioning.failed("the deployment was deleted")
    provisioning.succeeded()
    assert _stored(store) == {}
    assert provisioning.state == ProvisioningState.DELETING


def test_the_runners_state_is_its_rows(tmp_path: Path, store: Store) -> None:
    spec = echo_deployment(tmp_path)
    row = _row(spec)
    runner = DeploymentRunner(
        "epx",
        spec,
        runtime=FakeRuntime(),
        work_root=tmp_path / "work",
        log=DeploymentLog(tmp_path / "blue.log"),
        provisioning=Provisioning(row, store),
    )
    try:
        runner.provisioning.created()
        runner.provisioning.failed("no instance started")
        assert (runner.state, runner.error) == (ProvisioningState.FAILED, "no instance started")
        assert (row.state, row.error) == (ProvisioningState.FAILED, "no instance started")
        assert runner.health()["state"] == "Unhealthy"
    finally:
        runner.log.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)


def test_backoff_doubles_to_its_cap_and_a_long_run_starts_it_afresh() -> None:
    clock = FakeClock()
    backoff = Backoff(clock=clock, sleep=clock.sleep)

    async def fail_times(n: int) -> None:
        for _ in range(n):
            backoff.running()
            backoff.exited()
            await backoff.wait()

    asyncio.run(fail_times(len(PAUSES) + 2))
    assert clock.pauses == [*PAUSES, PAUSES[-1], PAUSES[-1]]
    assert backoff.crash_loop
    backoff.running()
    clock.now += STABLE_SECONDS
    backoff.exited()
    assert (backoff.failures, backoff.pause, backoff.crash_loop) == (1, PAUSES[0], False)
    backoff.restart_failed()
    backoff.restart_failed()
    assert (backoff.pause, backoff.crash_loop) == (PAUSES[2], True)


def _until(check: Callable[[], bool]) -> Awaitable[None]:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    return asyncio.wait_for(poll(), 10)


def test_an_instance_that_keeps_dying_is_restarted_after_growing_pauses(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = FakeRuntime()
    runner = DeploymentRunner(
        "epx",
        echo_deployment(tmp_path),
        runtime=runtime,
        work_root=tmp_path / "work",
        log=DeploymentLog(tmp_path / "blue.log"),
        backoff=lambda: Backoff(clock=clock, sleep=clock.sleep),
    )

    async def scenario() -> None:
        runtime.deaths = 4  # the first instance and three replacements exit at once
        await runner.start()
        try:
            await _until(lambda: len(runtime.made) == 5 and runner.ready_instances == 1)
            assert clock.pauses == list(PAUSES[:4])
            health = runner.health()["instances"]
            assert isinstance(health, list)
            assert health[0]["restarts"] == 4
            assert health[0]["state"] == HealthState.READY
        finally:
            await runner.stop()

    try:
        asyncio.run(scenario())
        assert "crash loop: 3 failures in a row" in (tmp_path / "blue.log").read_text()
    finally:
        runner.log.close()


def _control(home: Path, runtime: FakeRuntime) -> Control:
    runtimes = Runtimes(default="process", _made={"process": runtime})
    return Control(Home(home).ensure(), runtimes, "https://127.0.0.1:1")


def _run(control: Control, steps: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        await control.restore()
        try:
            return await steps()
        finally:
            await control.shutdown()

    return asyncio.run(main())


async def _settled(control: Control, name: str) -> dict[str, Any]:
    task = control.deployment("epx", name).task
    assert task is not None
    await task
    return control.deployments.view("epx", name)


def test_create_update_fail_and_restore_through_the_control_plane(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    home = tmp_path / "home"
    spec = echo_deployment(tmp_path).model_dump(mode="json", exclude_unset=True)
    control = _control(home, runtime)

    async def first_life() -> list[tuple[str, str | None]]:
        seen = []
        await control.create_endpoint({"name": "epx"}, None)
        view = await control.deployments.create("epx", spec, None, all_traffic=True)
        seen.append((view["provisioning_state"], view["error"]))
        view = await _settled(control, "blue")
        seen.append((view["provisioning_state"], view["error"]))
        assert control.endpoint("epx").row.traffic == {"blue": 100}

        runtime.fail = "init() raised: model file is corrupt"
        view = await control.deployments.update(
            "epx", "blue", data=None, overrides={"instance_count": 2}, source=None
        )
        seen.append((view["provisioning_state"], view["error"]))
        view = await _settled(control, "blue")
        seen.append((view["provisioning_state"], view["error"]))
        assert view["instance_count"] == 1  # the previous version keeps serving

        runtime.fail = None
        await control.deployments.create("epx", {**spec, "name": "green"}, None, False)
        await _settled(control, "green")
        return seen

    seen = _run(control, first_life)
    failed = (
        "update failed, the previous version keeps serving: init() raised: model file is corrupt"
    )
    assert seen == [("Creating", None), ("Succeeded", None), ("Updating", None), ("Failed", failed)]

    # Restarted on the same home: the Failed one stays Failed, the other comes back.
    again = _control(home, runtime)

    async def second_life() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        blue = again.deployments.view("epx", "blue")
        green = again.deployments.view("epx", "green")
        return blue, green, await _settled(again, "green")

    blue, green, green_later = _run(again, second_life)
    assert (blue["provisioning_state"], blue["error"]) == ("Failed", failed)
    assert green["provisioning_state"] == "Creating"
    assert green_later["provisioning_state"] == "Succeeded"


def test_delete_removes_the_row_and_stops_the_instances(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    control = _control(tmp_path / "home", runtime)
    spec = echo_deployment(tmp_path).model_dump(mode="json", exclude_unset=True)

    async def steps() -> None:
        await control.create_endpoint({"name": "epx"}, None)
        await control.deployments.create("epx", spec, None, all_traffic=False)
        await _settled(control, "blue")
        await control.deployments.delete("epx", "blue")

    _run(control, steps)
    assert [i.state for i in runtime.made] == [InstanceState.STOPPED]
    store = Store(tmp_path / "home" / "epdev.db")
    try:
        assert store.deployments() == []
    finally:
        store.close()
