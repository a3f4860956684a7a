"""The Docker runtime against a real engine: images, containers, failures and leftovers.

Images built here from fixed environments (the sample project's, the worker's alone) keep their
content-hash tags across runs, so only the first run on a machine pays for them; the tests that
must build every time use environments unique to the run and remove their images afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest
from runtime_helpers import Sink, write_script
from support.sample_project import SAMPLE_REQUEST, SampleProject, make_sample_project

from epdev.runtimes import InstanceFailed, InstanceSpec, InstanceState
from epdev.runtimes.container_orphans import (
    LABEL_DEPLOYMENT,
    LABEL_ENDPOINT,
    LABEL_HOME,
    LABEL_INSTANCE,
    cleanup_orphans,
)
from epdev.runtimes.docker import DockerRuntime
from epdev.runtimes.docker_instance import DockerInstance
from epdev.runtimes.environment import PythonEnvironment, RuntimeEnvironment, resolve
from epdev.runtimes.substitutes import SUBSTITUTE_IMAGE

REGISTRY_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"

ECHO = """
def init():
    pass

def run(raw_data):
    return raw_data
"""


@dataclass
class Scored:
    """What the module's first docker instance did: the sample project, scored."""

    image: str
    image_id: str
    built: bool
    predictions: list[float]
    usage: tuple[float, int] | None
    labels: dict[str, str]
    port_bindings: list[dict[str, str]]
    removed_on_stop: bool
    sink: Sink


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    engine = docker.from_env()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("epdev-home")
    yield home
    # A failed assertion may have skipped a stop(): nothing of this module outlives it.
    cleanup_orphans(home)


@pytest.fixture(scope="module")
def runtime() -> DockerRuntime:
    return DockerRuntime()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    return make_sample_project(tmp_path_factory.mktemp("docker-project"))


def sample_spec(project: SampleProject, home: Path, index: int = 0) -> InstanceSpec:
    conda = project.root / "model-1/environment/conda.yaml"
    return InstanceSpec(
        endpoint="ep",
        deployment="blue",
        index=index,
        code_dir=project.code_dir(1),
        scoring_script="score.py",
        model_path=project.model_file(1).parent,
        environment_variables={"MODEL_TAG": "blue"},
        environment=resolve(
            conda_file=conda,
            code_dir=project.code_dir(1),
            model_path=project.model_file(1).parent,
            image=REGISTRY_IMAGE,
        ),
        cache_dir=home / "cache",
    )


def script_spec(
    code_dir: Path,
    home: Path,
    environment: RuntimeEnvironment | None = None,
    deployment: str = "echo",
) -> InstanceSpec:
    return InstanceSpec(
        endpoint="ep",
        deployment=deployment,
        index=0,
        code_dir=code_dir,
        scoring_script="score.py",
        model_path=None,
        environment=environment or RuntimeEnvironment(),
        cache_dir=home / "cache",
    )


async def post(instance: DockerInstance, body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=instance.url, timeout=30) as http:
        return await http.post("/score", json=body)


def gone(client: docker.DockerClient, container_id: str | None) -> bool:
    assert container_id is not None
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return True
    return False


def remove_images(client: docker.DockerClient, label: str, first: str | None) -> None:
    """Remove the images a test made for itself: `first` (the top), then its bases."""
    names = [first] if first else []
    names += [image.id for image in client.images.list(filters={"label": label}) if image.id]
    for name in names:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(name, force=True)


def probe_wheel(folder: Path, token: str) -> Path:
    """A pure-Python wheel of one module, `epdev_probe`, whose TOKEN is `token`."""
    folder.mkdir(parents=True, exist_ok=True)
    info = "epdev_probe-1.0.dist-info"
    files = {
        "epdev_probe.py": f"TOKEN = {token!r}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: epdev-probe\nVersion: 1.0\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: epdev-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = folder / "epdev_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def scored(
    runtime: DockerRuntime, project: SampleProject, home: Path, client: docker.DockerClient
) -> Scored:
    """The sample project on the docker runtime, scored once; later tests reuse its image."""
    spec = sample_spec(project, home)
    sink = Sink()

    async def scenario() -> Scored:
        instance = runtime.create_instance(spec, sink)
        await instance.start(60)
        try:
            assert instance.state == InstanceState.READY
            response = await post(instance, SAMPLE_REQUEST)
            assert response.status_code == 200, response.text
            usage = await instance.usage()
            container = client.containers.get(instance.container_id or "")
            bindings = container.attrs["HostConfig"]["PortBindings"]["5001/tcp"]
            predictions = response.json()
        finally:
            await instance.stop()
        assert instance.image is not None
        return Scored(
            image=instance.image,
            image_id=client.images.get(instance.image).id or "",
            built=instance.built,
            predictions=predictions,
            usage=usage,
            labels=dict(container.labels),
            port_bindings=bindings,
            removed_on_stop=gone(client, instance.container_id),
            sink=sink,
        )

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def echo_image(runtime: DockerRuntime, home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image of an environment with the worker's packages only."""
    code = write_script(tmp_path_factory.mktemp("echo"), ECHO)

    async def scenario() -> str:
        instance = runtime.create_instance(script_spec(code, home), Sink())
        await instance.start(30)
        await instance.stop()
        assert instance.image is not None
        return instance.image

    return asyncio.run(scenario())


@pytest.mark.docker
@pytest.mark.slow
def test_the_sample_project_scores_in_a_container_of_the_substitute_image(
    scored: Scored, project: SampleProject, home: Path
) -> None:
    assert scored.predictions == pytest.approx(project.expected_predictions(1))
    # The registry image cannot be pulled here: the logs say what stands in for it.
    note = scored.sink.wait_for(f"using the local substitute {SUBSTITUTE_IMAGE}", "epdev")
    assert REGISTRY_IMAGE in note
    assert "Init complete" in scored.sink.text("stderr")
    assert scored.labels[LABEL_ENDPOINT] == "ep"
    assert scored.labels[LABEL_DEPLOYMENT] == "blue"
    assert scored.labels[LABEL_INSTANCE] == "blue-0"
    assert scored.labels[LABEL_HOME] == str(home.resolve())
    assert scored.port_bindings == [{"HostIp": "127.0.0.1", "HostPort": "0"}]
    assert scored.usage is not None
    cpu_seconds, memory = scored.usage
    assert cpu_seconds > 0 and 10_000_000 < memory < 4_000_000_000
    assert scored.removed_on_stop


@pytest.mark.docker
@pytest.mark.slow
def test_a_second_instance_of_the_same_environment_reuses_the_image(
    scored: Scored,
    runtime: DockerRuntime,
    project: SampleProject,
    home: Path,
    client: docker.DockerClient,
) -> None:
    sink = Sink()

    async def scenario() -> float:
        instance = runtime.create_instance(sample_spec(project, home, index=1), sink)
        started = time.monotonic()
        await instance.start(60)
        elapsed = time.monotonic() - started
        try:
            response = await post(instance, SAMPLE_REQUEST)
            assert response.json() == pytest.approx(project.expected_predictions(1))
            assert instance.image == scored.image
            assert not instance.built
        finally:
            await instance.stop()
        return elapsed

    elapsed = asyncio.run(scenario())
    assert client.images.get(scored.image).id == scored.image_id
    assert sink.text("build") == ""
    assert "no build needed" in sink.text("epdev")
    assert elapsed < 15, f"a cached image took {elapsed:.1f} s to serve"


@pytest.mark.docker
@pytest.mark.slow
def test_another_requirement_rebuilds_and_the_script_imports_it(
    echo_image: str,
    runtime: DockerRuntime,
    home: Path,
    tmp_path: Path,
    client: docker.DockerClient,
) -> None:
    token = uuid.uuid4().hex
    wheel = probe_wheel(tmp_path / "wheels", token)
    environment = RuntimeEnvironment(PythonEnvironment((str(wheel),)))
    code = write_script(
        tmp_path / "code",
        """
        import epdev_probe

        def init():
            pass

        def run(raw_data):
            return epdev_probe.TOKEN
        """,
    )
    sink = Sink()

    async def scenario() -> DockerInstance:
        instance = runtime.create_instance(script_spec(code, home, environment), sink)
        await instance.start(30)
        try:
            assert (await post(instance, {})).json() == token
        finally:
            await instance.stop()
        return instance

    instance = asyncio.run(scenario())
    try:
        assert instance.built
        assert instance.image is not None and instance.image != echo_image
        assert "epdev_probe-1.0-py3-none-any.whl" in sink.text("build")
    finally:
        remove_images(client, f"epdev.environment={(instance.image or ':').split(':')[1]}", None)


@pytest.mark.docker
@pytest.mark.slow
def test_a_user_dockerfile_from_a_registry_image_builds_on_the_substitute(
    runtime: DockerRuntime, home: Path, tmp_path: Path, client: docker.DockerClient
) -> None:
    token = uuid.uuid4().hex
    context = tmp_path / "context"
    context.mkdir()
    (context / "greeting.txt").write_text("hello from the build context\n")
    (context / "ignored.bin").write_text("not sent\n")
    (context / ".dockerignore").write_text("ignored.bin\n")
    (context / "docker").mkdir()
    (context / "docker/Dockerfile").write_text(
        "FROM mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest\n"
        f"LABEL epdev.test={token}\n"
        "COPY greeting.txt /etc/epdev-greeting.txt\n"
        f"RUN echo {token} > /etc/epdev-token.txt\n"
    )
    code = write_script(
        tmp_path / "code",
        """
        from pathlib import Path

        def init():
            global answer
            names = ("greeting", "token")
            answer = [Path(f"/etc/epdev-{n}.txt").read_text().strip() for n in names]

        def run(raw_data):
            return answer
        """,
    )
    environment = RuntimeEnvironment(build_context=context, dockerfile="docker/Dockerfile")
    sink = Sink()

    async def scenario() -> DockerInstance:
        instance = runtime.create_instance(script_spec(code, home, environment), sink)
        await instance.start(30)
        try:
            assert (await post(instance, {})).json() == ["hello from the build context", token]
        finally:
            await instance.stop()
        return instance

    instance = asyncio.run(scenario())
    try:
        assert instance.built
        note = sink.wait_for("using the local substitute", "epdev")
        assert "minimal-ubuntu22.04-py39-cpu-inference" in note
        assert f"FROM {SUBSTITUTE_IMAGE}" in sink.text("build")
    finally:
        remove_images(client, f"epdev.test={token}", instance.image)


@pytest.mark.docker
@pytest.mark.slow
def test_a_container_killed_behind_epdevs_back_ends_wait(
    echo_image: str, runtime: DockerRuntime, home: Path, tmp_path: Path, client: docker.DockerClient
) -> None:
    code = write_script(tmp_path / "code", ECHO)

    async def scenario() -> None:
        instance = runtime.create_instance(script_spec(code, home), Sink())
        await instance.start(30)
        try:
            assert instance.image == echo_image and not instance.built
            assert (await post(instance, {"ping": 1})).json() == '{"ping":1}'
            await asyncio.to_thread(client.containers.get(instance.container_id or "").kill)
            assert await asyncio.wait_for(instance.wait(), 10) == 137
            assert instance.state == InstanceState.FAILED
        finally:
            await instance.stop()
        await instance.stop()
        assert gone(client, instance.container_id)

    asyncio.run(scenario())


@pytest.mark.docker
@pytest.mark.slow
def test_init_failing_in_the_container_fails_start_with_the_reason(
    echo_image: str, runtime: DockerRuntime, home: Path, tmp_path: Path, client: docker.DockerClient
) -> None:
    code = write_script(
        tmp_path / "code",
        """
        def init():
            raise RuntimeError("no weights in this container")

        def run(raw_data):
            return raw_data
        """,
    )

    async def scenario() -> None:
        instance = runtime.create_instance(script_spec(code, home), Sink())
        with pytest.raises(InstanceFailed) as failed:
            await instance.start(30)
        message = str(failed.value)
        assert message == "init() failed: RuntimeError: no weights in this container (exit code 3)"
        assert instance.state == InstanceState.FAILED
        assert gone(client, instance.container_id)

    asyncio.run(scenario())


@pytest.mark.docker
@pytest.mark.slow
def test_stop_during_start_fails_start_and_leaves_no_container(
    echo_image: str, runtime: DockerRuntime, home: Path, tmp_path: Path, client: docker.DockerClient
) -> None:
    code = write_script(
        tmp_path / "code",
        """
        import time

        def init():
            print("init is slow", flush=True)
            time.sleep(60)

        def run(raw_data):
            return raw_data
        """,
    )
    sink = Sink()

    async def scenario() -> None:
        instance = runtime.create_instance(script_spec(code, home), sink)
        starting = asyncio.ensure_future(instance.start(60))
        while "init is slow" not in sink.text("stdout"):
            assert not starting.done()
            await asyncio.sleep(0.05)
        stopped = time.monotonic()
        await instance.stop(grace=1)
        with pytest.raises(InstanceFailed):
            await starting
        assert time.monotonic() - stopped < 10
        assert instance.state == InstanceState.FAILED
        assert gone(client, instance.container_id)

    asyncio.run(scenario())


@pytest.mark.docker
@pytest.mark.slow
def test_cleanup_orphans_removes_the_containers_of_its_home_only(
    echo_image: str,
    runtime: DockerRuntime,
    tmp_path: Path,
    client: docker.DockerClient,
) -> None:
    old_home = tmp_path / "old-home"
    code = write_script(tmp_path / "code", ECHO)
    stranger = client.containers.create(
        SUBSTITUTE_IMAGE, ["true"], labels={LABEL_HOME: str(tmp_path / "another-home")}
    )

    async def scenario() -> None:
        # A devserver that died without stopping its instance leaves its container running.
        instance = runtime.create_instance(script_spec(code, old_home), Sink())
        await instance.start(30)
        container_id = instance.container_id
        removed = await asyncio.to_thread(cleanup_orphans, old_home)
        assert len(removed) == 1 and removed[0].startswith("epdev-ep-echo-0-")
        assert gone(client, container_id)
        assert await asyncio.wait_for(instance.wait(), 10) != 0
        await instance.stop()

    try:
        asyncio.run(scenario())
        assert not gone(client, stranger.id)
    finally:
        stranger.remove(force=True)
        cleanup_orphans(old_home)


def test_without_an_engine_start_fails_at_once_naming_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/nope.sock")
    code = write_script(tmp_path / "code", ECHO)
    instance = DockerRuntime().create_instance(script_spec(code, tmp_path / "home"), Sink())

    async def scenario() -> str:
        with pytest.raises(InstanceFailed) as failed:
            await instance.start(30)
        await instance.stop()
        return str(failed.value)

    started = time.monotonic()
    message = asyncio.run(scenario())
    assert time.monotonic() - started < 5
    assert "unix:///tmp/nope.sock" in message
    assert "--runtime process" in message
    assert "\n" not in message
    assert instance.state == InstanceState.FAILED
    assert cleanup_orphans(tmp_path / "home") == []
