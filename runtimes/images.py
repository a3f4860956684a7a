"""Images for the Docker runtime: one per environment, tagged by content, built once.

An environment becomes an image in up to two steps:

1. its base: `environment.image` as it is (or a local substitute, epdev.runtimes.substitutes), or
   the image the user's build context (`environment.build`, epdev.runtimes.buildcontext) makes,
   tagged `epdev-build:<digest of the context>`;
2. epdev's layer on top (`epdev-env:<digest>`, epdev.runtimes.imagebuild): a venv at
   /opt/epdev-env with the environment's requirements and the worker's packages, installed with
   `pip install --no-index` from a wheelhouse the host prepared (see epdev.runtimes.wheelhouse).

Tags are content hashes: of the base image's id (or the build context's files) and the
environment's digest (its requirements, the worker's pinned packages, the Python version). An
unchanged environment therefore never rebuilds, across deployments and devserver runs alike.
The wheelhouse is prepared for the base's own Python, asked of the image once per image id.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from epdev.runtimes.buildcontext import digest, plan_build
from epdev.runtimes.engine import short_error
from epdev.runtimes.environment import PythonEnvironment, RuntimeEnvironment
from epdev.runtimes.imagebuild import (
    LABEL_ENVIRONMENT,
    LAYER_DOCKERFILE,
    OLDEST,
    STREAM,
    build,
    layer_context,
    layer_dockerfile,
)
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.interpreters import WORKER_MIN_PYTHON, running, wanted_version
from epdev.runtimes.substitutes import SUBSTITUTE_IMAGE, Substitutes, image_exists
from epdev.runtimes.threads import in_thread
from epdev.runtimes.wheelhouse import prepare_wheelhouse

ENV_REPOSITORY = "epdev-env"
BUILD_REPOSITORY = "epdev-build"

Say = Callable[[str], None]
"""Tells the deployment's logs one thing about the image, once."""


@dataclass(frozen=True)
class PreparedImage:
    tag: str
    built: bool
    """Whether preparing it ran a build (False: the tag was already there)."""


_LAYER_DIGEST = digest(LAYER_DOCKERFILE)


def _env_tag(kind: str, base: str, environment: str) -> str:
    return f"{ENV_REPOSITORY}:{digest(kind, base, environment, _LAYER_DIGEST)}"


class ImageBuilder:
    """Turns environments into image tags, building only what is missing.

    One per runtime, as its substitutes are (they remember what could not be pulled).
    """

    def __init__(self, substitute: str = SUBSTITUTE_IMAGE, pull: bool = True) -> None:
        self.substitutes = Substitutes(substitute, pull)
        self.pythons = self.substitutes.pythons
        self._locks: dict[str, asyncio.Lock] = {}

    async def prepare(
        self,
        client: docker.DockerClient,
        environment: RuntimeEnvironment | None,
        cache_dir: Path,
        say: Say,
        sink: LogSink,
        say_once: Say | None = None,
    ) -> PreparedImage:
        """The environment's image, built if missing.

        `say` tells the deployment's logs what happens; `say_once` (default: `say`) the notes
        worth one line per deployment rather than one per instance, such as a substitution.
        """
        once = say_once or say
        environment = environment or RuntimeEnvironment()
        python = environment.python
        asked, too_old = asked_python(python)
        if environment.build_context is not None:
            if too_old is not None:
                once(_too_old_note(python, too_old, "the Python of the Dockerfile's image"))
            plan = await in_thread(
                lambda: plan_build(self.substitutes, client, environment, cache_dir, asked),
                "plan image build",
            )
            for note in plan.notes:
                once(note)
            tag = _env_tag("build", plan.digest, python.digest)
            chosen = False  # the user's Dockerfile decides the Python
            base_tag = f"{BUILD_REPOSITORY}:{plan.digest}"
            context = environment.build_context

            async def make_base() -> str:
                if not await asyncio.to_thread(image_exists, client, base_tag):
                    sink(STREAM, f"building {base_tag} from {context / environment.dockerfile}")
                    await build(
                        client,
                        sink,
                        tag=base_tag,
                        labels={LABEL_ENVIRONMENT: plan.digest},
                        path=context,
                        dockerfile=plan.dockerfile,
                    )
                return base_tag

        else:
            requested = environment.image
            # A pull may take minutes where a registry answers: not on the shared executor.
            base = await in_thread(
                lambda: self.substitutes.resolve(
                    client, requested, asked, cache_dir, python.source
                ),
                "resolve image",
            )
            if base.note:
                once(base.note)
            if too_old is not None:
                has = await in_thread(
                    lambda: self.pythons.version(client, base.image_id, cache_dir),
                    "ask the base image's python",
                )
                once(_too_old_note(python, too_old, f"{base.reference}'s Python {has or '?'}"))
            tag = _env_tag("image", base.image_id, python.digest)
            chosen = base.stand_in  # its note already said how it meets the Python asked for

            async def make_base() -> str:
                return base.reference

        if await asyncio.to_thread(image_exists, client, tag):
            say(f"image {tag} is up to date; no build needed")
            return PreparedImage(tag, built=False)
        lock = self._locks.setdefault(tag, asyncio.Lock())
        async with lock:
            # Another instance of the same environment may have built it while we waited.
            if await asyncio.to_thread(image_exists, client, tag):
                say(f"image {tag} is up to date; no build needed")
                return PreparedImage(tag, built=False)
            started = time.monotonic()
            for note in python.notes:
                sink(STREAM, note)
            base_reference = await make_base()
            version = await in_thread(
                lambda: self._base_python(
                    client, base_reference, None if chosen else asked, cache_dir, python, sink
                ),
                "ask the base image's python",
            )
            await self._build_layer(client, python, version, base_reference, tag, cache_dir, sink)
            say(f"image {tag} built in {time.monotonic() - started:.1f} s")
            return PreparedImage(tag, built=True)

    def _base_python(
        self,
        client: docker.DockerClient,
        base: str,
        asked: str | None,
        cache_dir: Path,
        python: PythonEnvironment,
        sink: LogSink,
    ) -> str:
        """The Python X.Y the wheelhouse is for: the base image's own."""
        try:
            image_id = client.images.get(base).id or base
        except docker.errors.DockerException as exc:
            raise InstanceFailed(
                f"cannot inspect the base image {base}: {short_error(exc)}"
            ) from None
        found = self.pythons.version(client, image_id, cache_dir)
        if found is None:
            # The layer's own check then says what the image lacks.
            return asked or running()
        if _too_old(found):
            raise InstanceFailed(
                f"the image {base} runs Python {found}, but epdev's worker needs Python {OLDEST} "
                "or later: name an image with a newer Python, or none"
            )
        if asked is not None and found != asked:
            sink(
                STREAM,
                f"the {python.source} asks for python {asked} but the image {base} runs Python "
                f"{found}; the environment uses {found}, the image's",
            )
        return found

    async def _build_layer(
        self,
        client: docker.DockerClient,
        python: PythonEnvironment,
        version: str,
        base: str,
        tag: str,
        cache_dir: Path,
        sink: LogSink,
    ) -> None:
        folder = await prepare_wheelhouse(python, cache_dir, sink, version)
        dockerfile = layer_dockerfile(base, version)
        with tempfile.TemporaryFile(dir=cache_dir if cache_dir.is_dir() else None) as context:
            await asyncio.to_thread(layer_context, context, dockerfile, folder)
            sink(STREAM, f"building {tag} on {base} (Python {version})")
            await build(
                client,
                sink,
                tag=tag,
                labels={LABEL_ENVIRONMENT: tag.partition(":")[2]},
                fileobj=context,
            )


def asked_python(python: PythonEnvironment) -> tuple[str | None, str | None]:
    """(the Python X.Y the environment asks for, None if none or too old for the worker; the
    X.Y it asks for when that is older than the worker's minimum, else None)."""
    asked = wanted_version(python.python)
    if asked is not None and _too_old(asked):
        return None, asked
    return asked, None


def _too_old_note(python: PythonEnvironment, version: str, used: str) -> str:
    return (
        f"the {python.source} asks for python {version} but epdev's worker runs on Python "
        f"{OLDEST} or later; the image uses {used} instead"
    )


def _too_old(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")) < WORKER_MIN_PYTHON
