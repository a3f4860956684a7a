"""The Docker runtime and Python versions against a real engine: which Python an image runs, the
base chosen for the version an environment asks for, the layer refusing a wheelhouse of another
Python, and a start cancelled while its container is being made leaving no container."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
from docker.models.containers import ContainerCollection
from runtime_helpers import Sink, write_script

from epdev.runtimes import InstanceSpec
from epdev.runtimes.baseimages import SUITES, ImagePythons, base_image_for
from epdev.runtimes.container_orphans import LABEL_HOME, cleanup_orphans
from epdev.runtimes.docker import DockerRuntime
from epdev.runtimes.docker_instance import DockerInstance
from epdev.runtimes.environment import RuntimeEnvironment, resolve
from epdev.runtimes.imagebuild import layer_dockerfile
from epdev.runtimes.substitutes import SUBSTITUTE_IMAGE, Substitutes

pytestmark = pytest.mark.docker

TRIXIE = str(base_image_for("3.13"))
SOURCE = "conda file /src/conda.yaml"


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    engine = docker.from_env()
    yield engine
    engine.close()


def require_image(client: docker.DockerClient, name: str, command: str) -> str:
    """The image's id; skips without it (fails under EPDEV_REQUIRE_DOCKER=1, as in CI)."""
    try:
        return client.images.get(name).id or name
    except docker.errors.ImageNotFound:
        message = f"{name} is missing: build it with {command}"
        if os.environ.get("EPDEV_REQUIRE_DOCKER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def bases(client: docker.DockerClient) -> tuple[str, str]:
    """The ids of the bookworm and trixie base images."""
    return (
        require_image(client, SUBSTITUTE_IMAGE, "scripts/build-base-image"),
        require_image(client, TRIXIE, "scripts/build-base-image --suite trixie"),
    )


def test_an_image_is_asked_its_python_once(
    client: docker.DockerClient, bases: tuple[str, str], tmp_path: Path
) -> None:
    bookworm, trixie = bases
    pythons = ImagePythons()
    assert pythons.version(client, bookworm, tmp_path) == "3.11"
    assert pythons.version(client, trixie, tmp_path) == "3.13"
    # Image ids are content hashes: the answer is kept for the next devserver run.
    stored = tmp_path / "image-pythons" / trixie.replace(":", "-")
    assert stored.read_text() == "3.13"
    stored.write_text("3.99")
    assert ImagePythons().version(client, trixie, tmp_path) == "3.99"


def test_an_image_without_python_has_no_version(
    client: docker.DockerClient, bases: tuple[str, str], tmp_path: Path
) -> None:
    # A shell but no python: the base with its python3 removed.
    image, _ = client.images.build(
        fileobj=io.BytesIO(f"FROM {SUBSTITUTE_IMAGE}\nRUN rm -f /usr/bin/python3*\n".encode()),
        rm=True,
        labels={"epdev.test": "no-python"},
    )
    try:
        assert ImagePythons().version(client, image.id or "", tmp_path) is None
    finally:
        client.images.remove(image.id or "", force=True)


def test_a_python_with_a_local_base_builds_on_it(
    client: docker.DockerClient, bases: tuple[str, str], tmp_path: Path
) -> None:
    builder = Substitutes()
    chosen = builder.stand_in(client, "3.13", tmp_path, SOURCE)
    assert chosen.reference == TRIXIE and chosen.image_id == bases[1]
    assert chosen.note == f"(Python 3.13, as the {SOURCE} asks)"
    assert builder.stand_in(client, "3.11", tmp_path, SOURCE).reference == SUBSTITUTE_IMAGE
    assert builder.stand_in(client, None, tmp_path, SOURCE).note is None


def test_a_python_without_a_local_base_says_how_to_build_one(
    client: docker.DockerClient,
    bases: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builder = Substitutes()
    monkeypatch.setitem(SUITES, "3.13", "epdev-test-unbuilt")
    chosen = builder.stand_in(client, "3.13", tmp_path, SOURCE)
    assert chosen.reference == SUBSTITUTE_IMAGE
    assert chosen.note == (
        f"(Python 3.11): the {SOURCE} asks for python 3.13, but no local base image has Python "
        "3.13 (build one with `scripts/build-base-image --suite epdev-test-unbuilt`)"
    )
    unknown = builder.stand_in(client, "3.12", tmp_path, SOURCE).note or ""
    assert (
        "no local base image has Python 3.12 (epdev's base images have 3.11 from bookworm, "
        "3.13 from epdev-test-unbuilt: name an image of Python 3.12 as environment.image or "
        "serve with --base-image)"
    ) in unknown
    # As the create output and the logs say it, once, for an environment naming no image:
    named_none = builder.resolve(client, None, "3.13", tmp_path, SOURCE)
    assert named_none.note == (
        f"the environment names no image; building on {SUBSTITUTE_IMAGE} (Python 3.11): the "
        f"{SOURCE} asks for python 3.13, but no local base image has Python 3.13 (build one "
        "with `scripts/build-base-image --suite epdev-test-unbuilt`)"
    )


def test_the_layer_refuses_an_image_of_another_python_plainly(
    client: docker.DockerClient, bases: tuple[str, str]
) -> None:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = layer_dockerfile(SUBSTITUTE_IMAGE, "3.13").encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("wheelhouse")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    context.seek(0)
    events: list[dict[str, Any]] = list(
        client.api.build(fileobj=context, custom_context=True, rm=True, forcerm=True, decode=True)
    )
    output = "".join(str(e.get("stream", "")) + str(e.get("error", "")) for e in events)
    assert any("error" in e for e in events)
    assert (
        "epdev: the image runs Python 3.11.2, but its wheelhouse was prepared for Python 3.13"
        in output
    )


class _SlowToCreate(docker.DockerClient):
    """A real client whose `containers.run` starts a second late, saying when it was called."""

    called = threading.Event()

    @property
    def containers(self) -> ContainerCollection:
        collection = super().containers
        run = collection.run

        def late(*args: Any, **kwargs: Any) -> Any:
            self.called.set()
            time.sleep(1.0)
            return run(*args, **kwargs)

        collection.run = late  # type: ignore[method-assign]
        return collection


@pytest.mark.slow
def test_a_start_cancelled_while_its_container_is_made_leaves_no_container(
    client: docker.DockerClient, bases: tuple[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code = write_script(
        tmp_path / "code", "def init():\n    pass\n\ndef run(raw_data):\n    return 1\n"
    )
    spec = InstanceSpec(
        endpoint="ep",
        deployment="cancelled",
        index=0,
        code_dir=code,
        scoring_script="score.py",
        model_path=None,
        environment=RuntimeEnvironment(),
        cache_dir=home / "cache",
    )
    runtime = DockerRuntime(client_factory=lambda: _SlowToCreate.from_env())

    async def scenario() -> None:
        instance = runtime.create_instance(spec, Sink())
        starting = asyncio.ensure_future(instance.start(60))
        while not _SlowToCreate.called.is_set():
            assert not starting.done(), starting
            await asyncio.sleep(0.02)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting

    try:
        asyncio.run(scenario())
        time.sleep(1.5)  # past the late creation, had it been left to run on its own
        label = f"{LABEL_HOME}={os.path.realpath(home)}"
        assert client.containers.list(all=True, filters={"label": label}) == []
    finally:
        cleanup_orphans(home)


VERSION_SCRIPT = """
import sys

def init():
    pass

def run(raw_data):
    return sys.version.split()[0]
"""


def _spec(code: Path, home: Path, environment: RuntimeEnvironment) -> InstanceSpec:
    return InstanceSpec(
        endpoint="ep",
        deployment="version",
        index=0,
        code_dir=code,
        scoring_script="score.py",
        model_path=None,
        environment=environment,
        cache_dir=home / "cache",
    )


async def _answer(instance: DockerInstance) -> Any:
    async with httpx.AsyncClient(base_url=instance.url, timeout=30) as http:
        return (await http.post("/score", json={})).json()


@pytest.mark.slow
def test_an_image_the_environment_names_keeps_its_own_python(
    client: docker.DockerClient, bases: tuple[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code = write_script(tmp_path / "code", VERSION_SCRIPT)
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python=3.11\n")
    environment = resolve(conda_file=conda, code_dir=code, model_path=None, image=TRIXIE)
    sink = Sink()

    instance = DockerRuntime().create_instance(_spec(code, home, environment), sink)

    async def scenario() -> Any:
        await instance.start(60)
        try:
            return await _answer(instance)
        finally:
            await instance.stop()

    try:
        assert str(asyncio.run(scenario())).startswith("3.13.")
    finally:
        cleanup_orphans(home)
        if instance.image is not None:  # built again next time, so the notes below are said
            client.images.remove(instance.image, force=True)
    assert instance.built
    assert (
        f"the conda file {conda} asks for python 3.11 but the image {TRIXIE} runs Python "
        "3.13; the environment uses 3.13, the image's"
    ) in sink.text("build")
    assert "preparing the wheelhouse for Python 3.13" in sink.text("build")


@pytest.mark.slow
def test_a_python_older_than_the_workers_says_which_is_used_instead(
    bases: tuple[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code = write_script(tmp_path / "code", VERSION_SCRIPT)
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python=3.8\n")
    environment = resolve(conda_file=conda, code_dir=code, model_path=None)
    sink = Sink()

    async def scenario() -> Any:
        instance = DockerRuntime().create_instance(_spec(code, home, environment), sink)
        await instance.start(60)
        try:
            return await _answer(instance)
        finally:
            await instance.stop()

    try:
        assert str(asyncio.run(scenario())).startswith("3.11.")
    finally:
        cleanup_orphans(home)
    assert (
        f"the conda file {conda} asks for python 3.8 but epdev's worker runs on Python 3.11 or "
        f"later; the image uses {SUBSTITUTE_IMAGE}'s Python 3.11 instead"
    ) in sink.text("epdev")
