"""Fixtures shared by every test room."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

import pytest
from support.sample_project import SampleProject, make_sample_project

import epdev.devserver


def pytest_configure(config: pytest.Config) -> None:
    """Compile epdev's modules once, before any test starts a process that imports them.

    An editable install has no bytecode until an import writes it, and none is ever written
    where PYTHONDONTWRITEBYTECODE is set (as on CI machines): every devserver, CLI call and
    instance the suite starts (some 500) would compile epdev from source, 0.75 s of CPU for a
    devserver. compileall writes the cache whatever that variable says; files already compiled
    are left alone. In the controller only: xdist's workers start after it."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(Path(epdev.devserver.__file__).parents[1], quiet=1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker per core, and one more (`-n auto`).

    Much of an e2e test is waiting on real processes (a devserver starting, instances
    initialising, a container building): with a worker per core, a quarter of the CPU stood
    idle. On 2 cores the suite took about 540 s with 2 workers, 457 s with 3 and 455 s with 4."""
    return len(os.sched_getaffinity(0)) + 1


@pytest.fixture
def sample_project(tmp_path: Path) -> SampleProject:
    return make_sample_project(tmp_path / "project")


@pytest.fixture
def epdev_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "epdev-home"
    monkeypatch.setenv("EPDEV_HOME", str(home))
    return home


# A user's project with its own tests: run in a subprocess by tests/e2e/test_pytest_plugin.py.
collect_ignore = ["sample_user_project"]


# Tests marked `docker` need a Docker engine. Without one they skip, except under
# EPDEV_REQUIRE_DOCKER=1 (CI), where a missing engine is a failure: a green run must mean they ran.
_docker_problem: list[str | None] = []


def docker_engine_problem() -> str | None:
    """Why no Docker engine answers (None when one does); asked once per test session."""
    if not _docker_problem:
        from epdev.runtimes.engine import connect
        from epdev.runtimes.instance import InstanceFailed

        try:
            connect().close()
        except InstanceFailed as exc:
            _docker_problem.append(str(exc))
        else:
            _docker_problem.append(None)
    return _docker_problem[0]


def require_docker_engine() -> None:
    """Skip the calling test without an engine, or fail it under EPDEV_REQUIRE_DOCKER=1."""
    import os

    problem = docker_engine_problem()
    if problem is None:
        return
    if os.environ.get("EPDEV_REQUIRE_DOCKER") == "1":
        pytest.fail(f"EPDEV_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        require_docker_engine()
