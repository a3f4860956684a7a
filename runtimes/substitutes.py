"""Base images and their local substitutes: a named image as it is, pulled when it can be, else
the local base image of the Python the environment asks for, with a note that says so.

No registry is reachable on epdev's machines, so a base image that is neither present nor
pullable is replaced by a local substitute (epdev/python-base:bookworm, which
scripts/build-base-image makes from Debian's packages). The Python an environment asks for
(`python=3.X`) picks that substitute: the configured one when it runs that version, else the
local `epdev/python-base:<suite>` of the Debian suite that ships it (epdev.runtimes.baseimages),
else the substitute with a note naming the command that builds the missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

from epdev.runtimes.baseimages import ImagePythons, base_image_for, build_command, known_versions
from epdev.runtimes.engine import short_error
from epdev.runtimes.instance import InstanceFailed

SUBSTITUTE_IMAGE = "epdev/python-base:bookworm"


@dataclass(frozen=True)
class Base:
    """A base image to build on."""

    reference: str
    """What to build FROM: the requested name, or the substitute standing in for it."""
    image_id: str
    note: str | None = None
    stand_in: bool = False
    """Whether epdev chose it (no image named, or the named one is missing), not the user."""

    def noted(self, note: str) -> Base:
        return replace(self, note=note)


class Substitutes:
    """Finds the base image for a name (or none), standing in a local one for what is missing.

    One per runtime: it remembers which images could not be pulled, so a registry that does not
    answer costs one attempt per devserver run rather than one per instance, and which Python
    each base image runs.
    """

    def __init__(self, substitute: str = SUBSTITUTE_IMAGE, pull: bool = True) -> None:
        self.substitute = substitute
        self.pull = pull
        self.pythons = ImagePythons()
        self._unpullable: dict[str, str] = {}

    def resolve(
        self,
        client: docker.DockerClient,
        name: str | None,
        asked: str | None,
        cache_dir: Path,
        source: str,
    ) -> Base:
        """The image to use for `name`: itself when present or pullable, else a local base of the
        Python `asked` (see stand_in); with no name, that local base."""
        if name is None:
            stand_in = self.stand_in(client, asked, cache_dir, source)
            note = f"the environment names no image; building on {stand_in.reference}"
            return stand_in.noted(_joined(note, stand_in.note))
        try:
            return Base(name, client.images.get(name).id or name)
        except docker.errors.ImageNotFound:
            pass
        if name != self.substitute and self.pull and name not in self._unpullable:
            try:
                repository, tag = _split_reference(name)
                return Base(name, client.images.pull(repository, tag=tag).id or name)
            except docker.errors.DockerException as exc:
                self._unpullable[name] = short_error(exc)
        if name == self.substitute:
            raise InstanceFailed(
                f"the image {name} is not here: build it with scripts/build-base-image"
            )
        stand_in = self.stand_in(client, asked, cache_dir, source, missing=name)
        why = self._unpullable.get(name, "pulling is off")
        note = (
            f"image {name} is not available locally and cannot be pulled ({why}); "
            f"using the local substitute {stand_in.reference} in its place"
        )
        return stand_in.noted(_joined(note, stand_in.note))

    def stand_in(
        self,
        client: docker.DockerClient,
        asked: str | None,
        cache_dir: Path,
        source: str,
        missing: str | None = None,
    ) -> Base:
        """The local base to build on instead of a named image (or none): the substitute, or
        for an environment asking for Python X.Y the first local base that runs X.Y (the
        substitute, then the base of the Debian suite that ships X.Y); its note says when
        none does."""
        substitute = _get_image(client, self.substitute)
        if asked is None:
            if substitute is None:
                raise self._missing(missing)
            return Base(self.substitute, substitute.id or self.substitute, stand_in=True)
        candidates = [(self.substitute, substitute)]
        suite_image = base_image_for(asked)
        if suite_image is not None and suite_image != self.substitute:
            candidates.append((suite_image, _get_image(client, suite_image)))
        for reference, image in candidates:
            if (
                image is not None
                and image.id
                and self.pythons.version(client, image.id, cache_dir) == asked
            ):
                return Base(
                    reference, image.id, f"(Python {asked}, as the {source} asks)", stand_in=True
                )
        if substitute is None:
            raise self._missing(missing)
        command = build_command(asked)
        if command is not None:
            how = f"build one with `{command}`"
        else:
            how = (
                f"epdev's base images have {known_versions()}: name an image "
                f"of Python {asked} as environment.image or serve with --base-image"
            )
        has = self.pythons.version(client, substitute.id or self.substitute, cache_dir)
        return Base(
            self.substitute,
            substitute.id or self.substitute,
            f"(Python {has or 'unknown'}): the {source} asks for python {asked}, but no local "
            f"base image has Python {asked} ({how})",
            stand_in=True,
        )

    def _missing(self, missing: str | None) -> InstanceFailed:
        if missing is None:
            return InstanceFailed(
                f"the environment names no image and the local base image {self.substitute} is "
                "missing: build it with scripts/build-base-image"
            )
        return InstanceFailed(
            f"the image {missing} is not here and cannot be pulled, and the local substitute "
            f"{self.substitute} is missing too: build it with scripts/build-base-image"
        )


def _joined(first: str, second: str | None) -> str:
    return first if second is None else f"{first} {second}"


def _get_image(client: docker.DockerClient, name: str) -> Image | None:
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _split_reference(name: str) -> tuple[str, str]:
    """A reference's repository and tag (or digest), `latest` when it names neither."""
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, digest
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, "latest"
    return repository, tag
