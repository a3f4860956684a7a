"""Images for the Docker runtime: one per environment, tagged by content, built once.

An environment becomes an image in up to two steps:

1. its base: `environment.image` as it is, or the image the user's build context
   (`environment.build`) makes, tagged `epdev-build:<digest of the context>`;
2. epdev's layer on top (`epdev-env:<digest>`): a venv at /opt/epdev-env with the environment's
   requirements and the worker's packages, installed with `pip install --no-index` from a
   wheelhouse the host prepared (see epdev.runtimes.wheelhouse).

Tags are content hashes: of the base image's id (or the build context's files) and the
environment's digest (its requirements, the worker's pinned packages, the Python version). An
unchanged environment therefore never rebuilds, across deployments and devserver runs alike.

No registry is reachable on epdev's machines, so a base image that is neither present nor
pullable is replaced by a local substitute (epdev/python-base:bookworm, which
scripts/build-base-image makes from Debian's packages), and the deployment's logs say so.

The Python an environment asks for (`python=3.X`) picks that substitute, or with no image named
the base: the configured substitute when it runs that version, else the local
`epdev/python-base:<suite>` of the Debian suite that ships it (epdev.runtimes.baseimages), else
the substitute with a note naming the command that builds the missing one. The wheelhouse is then
prepared for the base's own Python, asked of the image once per image id.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests
from docker.models.images import Image
from docker.utils.build import exclude_paths

from epdev.runtimes.baseimages import ImagePythons, base_image_for, build_command, known_versions
from epdev.runtimes.environment import PythonEnvironment, RuntimeEnvironment
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.interpreters import WORKER_MIN_PYTHON, running, wanted_version
from epdev.runtimes.process import last_meaningful
from epdev.runtimes.threads import in_thread, loop_sink
from epdev.runtimes.wheelhouse import prepare_wheelhouse, wheels

SUBSTITUTE_IMAGE = "epdev/python-base:bookworm"
ENV_REPOSITORY = "epdev-env"
BUILD_REPOSITORY = "epdev-build"
VENV = "/opt/epdev-env"
"""Where the environment lives in every image; its bin/ comes first on PATH."""
STREAM = "build"
BUILD_TIMEOUT = 3600
"""Seconds the engine may stay silent during a build before the build counts as failed."""
LABEL_ENVIRONMENT = "epdev.environment"

_OLDEST = ".".join(map(str, WORKER_MIN_PYTHON))

# The wheelhouse holds wheels for one Python X.Y (the base's, as asked of it before the build): any
# other minor version in the image would fail in pip with a cryptic "not a supported wheel", so
# say it plainly. A base that already runs a virtual environment (or conda) gets its packages
# reused rather than hidden behind a new venv. Placeholders: base, python (X.Y), major, minor.
LAYER_DOCKERFILE = f"""\
FROM {{base}}
COPY wheelhouse /tmp/epdev-wheelhouse
RUN set -e; \\
    py="$(command -v python3 || command -v python || true)"; \\
    if [ -z "$py" ]; then \\
        echo "epdev: the image has no python3 on PATH; epdev's worker needs Python \
{_OLDEST} or later and its wheelhouse is for Python {{python}}" >&2; exit 1; fi; \\
    if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != ({{major}}, {{minor}}))'; then \\
        echo "epdev: the image runs $("$py" -V 2>&1), but its wheelhouse was prepared for \
Python {{python}}: the image and the wheelhouse must have the same Python" >&2; exit 1; fi; \\
    mkdir -p "$(dirname {VENV})"; \\
    if "$py" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then \\
        ln -s "$("$py" -c 'import sys; print(sys.prefix)')" {VENV}; \\
    else \\
        "$py" -m venv --system-site-packages {VENV}; \\
    fi; \\
    {VENV}/bin/python -m pip install --no-index --no-cache-dir --disable-pip-version-check \\
        --progress-bar off --find-links /tmp/epdev-wheelhouse /tmp/epdev-wheelhouse/*.whl; \\
    rm -rf /tmp/epdev-wheelhouse
ENV PATH={VENV}/bin:$PATH VIRTUAL_ENV={VENV}
"""


def layer_dockerfile(base: str, python_version: str) -> str:
    """epdev's layer on `base`, for a wheelhouse prepared for Python X.Y."""
    major, minor = python_version.split(".")
    return LAYER_DOCKERFILE.format(base=base, python=python_version, major=major, minor=minor)


_FROM = re.compile(
    r"^(?P<head>\s*FROM\s+(?:--\S+\s+)*)(?P<image>\S+)(?P<tail>(?:\s+AS\s+(?P<stage>\S+))?.*)$",
    re.IGNORECASE,
)

Say = Callable[[str], None]
"""Tells the deployment's logs one thing about the image, once."""


@dataclass(frozen=True)
class PreparedImage:
    tag: str
    built: bool
    """Whether preparing it ran a build (False: the tag was already there)."""


@dataclass(frozen=True)
class _Base:
    reference: str
    """What to build FROM: the requested name, or the substitute standing in for it."""
    image_id: str
    note: str | None = None
    stand_in: bool = False
    """Whether epdev chose it (no image named, or the named one is missing), not the user."""

    def noted(self, note: str) -> _Base:
        return replace(self, note=note)


@dataclass(frozen=True)
class _BuildPlan:
    digest: str
    dockerfile: str
    """The Dockerfile to build with: relative to the context, or a rewritten copy's path."""
    notes: tuple[str, ...]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


_LAYER_DIGEST = _digest(LAYER_DOCKERFILE)


def _env_tag(kind: str, base: str, environment: str) -> str:
    return f"{ENV_REPOSITORY}:{_digest(kind, base, environment, _LAYER_DIGEST)}"


class ImageBuilder:
    """Turns environments into image tags, building only what is missing.

    One per runtime: it remembers which images could not be pulled, so a registry that does not
    answer costs one attempt per devserver run rather than one per instance, and which Python
    each base image runs.
    """

    def __init__(self, substitute: str = SUBSTITUTE_IMAGE, pull: bool = True) -> None:
        self.substitute = substitute
        self.pull = pull
        self.pythons = ImagePythons()
        self._unpullable: dict[str, str] = {}
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
                lambda: self._plan_build(client, environment, cache_dir, asked),
                "plan image build",
            )
            for note in plan.notes:
                once(note)
            tag = _env_tag("build", plan.digest, python.digest)
            chosen = False  # the user's Dockerfile decides the Python
            base_tag = f"{BUILD_REPOSITORY}:{plan.digest}"
            context = environment.build_context

            async def make_base() -> str:
                if not await asyncio.to_thread(_exists, client, base_tag):
                    sink(STREAM, f"building {base_tag} from {context / environment.dockerfile}")
                    await _build(
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
                lambda: self._resolve(client, requested, asked, cache_dir, python.source),
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

        if await asyncio.to_thread(_exists, client, tag):
            say(f"image {tag} is up to date; no build needed")
            return PreparedImage(tag, built=False)
        lock = self._locks.setdefault(tag, asyncio.Lock())
        async with lock:
            # Another instance of the same environment may have built it while we waited.
            if await asyncio.to_thread(_exists, client, tag):
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
            raise InstanceFailed(f"cannot inspect the base image {base}: {_short(exc)}") from None
        found = self.pythons.version(client, image_id, cache_dir)
        if found is None:
            # The layer's own check then says what the image lacks.
            return asked or running()
        if _too_old(found):
            raise InstanceFailed(
                f"the image {base} runs Python {found}, but epdev's worker needs Python {_OLDEST} "
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
            await asyncio.to_thread(_layer_context, context, dockerfile, folder)
            sink(STREAM, f"building {tag} on {base} (Python {version})")
            await _build(
                client,
                sink,
                tag=tag,
                labels={LABEL_ENVIRONMENT: tag.partition(":")[2]},
                fileobj=context,
            )

    def _resolve(
        self,
        client: docker.DockerClient,
        name: str | None,
        asked: str | None,
        cache_dir: Path,
        source: str,
    ) -> _Base:
        """The image to use for `name`: itself when present or pullable, else a local base of the
        Python `asked` (see _stand_in); with no name, that local base."""
        if name is None:
            stand_in = self._stand_in(client, asked, cache_dir, source)
            note = f"the environment names no image; building on {stand_in.reference}"
            return stand_in.noted(_joined(note, stand_in.note))
        try:
            return _Base(name, client.images.get(name).id or name)
        except docker.errors.ImageNotFound:
            pass
        if name != self.substitute and self.pull and name not in self._unpullable:
            try:
                repository, tag = _split(name)
                return _Base(name, client.images.pull(repository, tag=tag).id or name)
            except docker.errors.DockerException as exc:
                self._unpullable[name] = _short(exc)
        if name == self.substitute:
            raise InstanceFailed(
                f"the image {name} is not here: build it with scripts/build-base-image"
            )
        stand_in = self._stand_in(client, asked, cache_dir, source, missing=name)
        why = self._unpullable.get(name, "pulling is off")
        note = (
            f"image {name} is not available locally and cannot be pulled ({why}); "
            f"using the local substitute {stand_in.reference} in its place"
        )
        return stand_in.noted(_joined(note, stand_in.note))

    def _stand_in(
        self,
        client: docker.DockerClient,
        asked: str | None,
        cache_dir: Path,
        source: str,
        missing: str | None = None,
    ) -> _Base:
        """The local base to build on instead of a named image (or none): the substitute, or
        for an environment asking for Python X.Y the first local base that runs X.Y (the
        substitute, then the base of the Debian suite that ships X.Y); its note says when
        none does."""
        substitute = _get(client, self.substitute)
        if asked is None:
            if substitute is None:
                raise self._no_substitute(missing)
            return _Base(self.substitute, substitute.id or self.substitute, stand_in=True)
        candidates = [(self.substitute, substitute)]
        suite_image = base_image_for(asked)
        if suite_image is not None and suite_image != self.substitute:
            candidates.append((suite_image, _get(client, suite_image)))
        for reference, image in candidates:
            if (
                image is not None
                and image.id
                and self.pythons.version(client, image.id, cache_dir) == asked
            ):
                return _Base(
                    reference, image.id, f"(Python {asked}, as the {source} asks)", stand_in=True
                )
        if substitute is None:
            raise self._no_substitute(missing)
        command = build_command(asked)
        if command is not None:
            how = f"build one with `{command}`"
        else:
            how = (
                f"epdev's base images have {known_versions()}: name an image "
                f"of Python {asked} as environment.image or serve with --base-image"
            )
        has = self.pythons.version(client, substitute.id or self.substitute, cache_dir)
        return _Base(
            self.substitute,
            substitute.id or self.substitute,
            f"(Python {has or 'unknown'}): the {source} asks for python {asked}, but no local "
            f"base image has Python {asked} ({how})",
            stand_in=True,
        )

    def _no_substitute(self, missing: str | None) -> InstanceFailed:
        if missing is None:
            return InstanceFailed(
                f"the environment names no image and the local base image {self.substitute} is "
                "missing: build it with scripts/build-base-image"
            )
        return InstanceFailed(
            f"the image {missing} is not here and cannot be pulled, and the local substitute "
            f"{self.substitute} is missing too: build it with scripts/build-base-image"
        )

    def _plan_build(
        self,
        client: docker.DockerClient,
        environment: RuntimeEnvironment,
        cache_dir: Path,
        asked: str | None,
    ) -> _BuildPlan:
        """The user's build, with registry images in FROM lines mapped to a local base."""
        context = environment.build_context
        assert context is not None
        dockerfile_path = context / environment.dockerfile
        try:
            text = dockerfile_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InstanceFailed(f"cannot read the Dockerfile {dockerfile_path}: {exc}") from None
        stages: set[str] = set()
        lines: list[str] = []
        notes: list[str] = []
        ids: list[str] = []
        for line in text.splitlines():
            match = _FROM.match(line)
            if match is not None:
                image = match.group("image")
                if image.lower() != "scratch" and "$" not in image and image not in stages:
                    base = self._resolve(client, image, asked, cache_dir, environment.python.source)
                    ids.append(base.image_id)
                    if base.note:
                        notes.append(f"Dockerfile: {base.note}")
                        line = match.group("head") + base.reference + match.group("tail")
                if match.group("stage"):
                    stages.add(match.group("stage"))
            lines.append(line)
        rewritten = "\n".join(lines) + "\n"
        digest = _digest(
            "context", _context_digest(context, environment.dockerfile), rewritten, *ids
        )
        if not notes:
            return _BuildPlan(digest, environment.dockerfile, ())
        # Outside the context: the SDK then sends it along under a name of its own.
        copy = cache_dir / "dockerfiles" / f"Dockerfile.{digest}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(rewritten, encoding="utf-8")
        return _BuildPlan(digest, str(copy.absolute()), tuple(notes))


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
        f"{_OLDEST} or later; the image uses {used} instead"
    )


def _too_old(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")) < WORKER_MIN_PYTHON


def _joined(first: str, second: str | None) -> str:
    return first if second is None else f"{first} {second}"


def _get(client: docker.DockerClient, name: str) -> Image | None:
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _split(name: str) -> tuple[str, str]:
    """A reference's repository and tag (or digest), `latest` when it names neither."""
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, digest
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, "latest"
    return repository, tag


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _context_digest(root: Path, dockerfile: str) -> str:
    """A hash of exactly the files `docker build` sends: .dockerignore applies."""
    ignore = root / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    digest = hashlib.sha256()
    for relative in sorted(exclude_paths(str(root), patterns, dockerfile=dockerfile)):
        path = root / relative
        info = path.lstat()
        digest.update(f"{relative}\0{info.st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            with path.open("rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def _layer_context(context: IO[bytes], dockerfile: str, wheelhouse: Path) -> None:
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for wheel in wheels(wheelhouse):
            tar.add(wheel, arcname=f"wheelhouse/{wheel.name}")
    context.seek(0)


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip():
            yield line.rstrip()


async def _build(
    client: docker.DockerClient,
    sink: LogSink,
    *,
    tag: str,
    labels: dict[str, str],
    path: Path | None = None,
    dockerfile: str | None = None,
    fileobj: IO[bytes] | None = None,
) -> None:
    """Build and tag an image, streaming the engine's progress to `sink` line by line."""
    threadsafe = loop_sink(sink)
    tail: deque[str] = deque(maxlen=50)

    def post(line: str) -> None:
        tail.append(line)
        threadsafe(STREAM, line)

    def run() -> str | None:
        events: Iterator[dict[str, Any]] = client.api.build(
            path=None if path is None else str(path),
            fileobj=fileobj,
            custom_context=fileobj is not None,
            dockerfile=dockerfile,
            tag=tag,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=BUILD_TIMEOUT,
        )
        image_id: str | None = None
        for event in events:
            if "stream" in event:
                for line in _lines(str(event["stream"])):
                    post(line)
            elif "status" in event:
                post(str(event["status"]))
            if "aux" in event and isinstance(event["aux"], dict) and "ID" in event["aux"]:
                image_id = str(event["aux"]["ID"])
            if "error" in event:
                error = str(event["error"]).strip()
                post(error)
                return f"building {tag} failed: {error}"
        return None if image_id else f"building {tag} failed: the engine reported no image"

    try:
        failure = await in_thread(run, name=f"build {tag}")
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise InstanceFailed(f"building {tag} failed: {_short(exc)}") from None
    if failure is not None:
        cause = last_meaningful(deque(line for line in tail if not line.startswith("The command")))
        raise InstanceFailed(f"{failure} (last output: {cause})")
