"""Base images by Python version: the Debian suite whose python3 it is, and an image's own Python.

scripts/build-base-image makes `epdev/python-base:<suite>` from a Debian suite's packages, so the
suite decides the Python. An environment asking for Python X.Y builds on the suite's image when
it is here; an image of any other origin is asked which Python it runs, once per image id, so
the wheelhouse prepared for it matches.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import docker
import docker.errors
import requests

BASE_REPOSITORY = "epdev/python-base"
DEFAULT_SUITE = "bookworm"

# python3 of each Debian release with debootstrap support (bookworm 12: 3.11.2; trixie 13:
# 3.13.5). No Debian release ships 3.12.
SUITES = {"3.11": "bookworm", "3.13": "trixie"}

_VERSION = re.compile(r"^(\d+)\.(\d+)$")
# Some images have python but no python3; an ENTRYPOINT of the image's own is set aside.
_PROBE = [
    'py="$(command -v python3 || command -v python)" && '
    'exec "$py" -c \'import sys; print("%d.%d" % sys.version_info[:2])\''
]


def suite_for(version: str) -> str | None:
    """The Debian suite whose python3 is `version` (X.Y), None when no suite epdev knows has it."""
    return SUITES.get(version)


def base_image_for(version: str) -> str | None:
    """The name scripts/build-base-image gives the base image of Python `version`, if any."""
    suite = suite_for(version)
    return None if suite is None else f"{BASE_REPOSITORY}:{suite}"


def build_command(version: str) -> str | None:
    """The command that builds the base image of Python `version`, if a suite has it."""
    suite = suite_for(version)
    if suite is None:
        return None
    return "scripts/build-base-image" + ("" if suite == DEFAULT_SUITE else f" --suite {suite}")


def known_versions() -> str:
    """The table, for messages: `3.11 from bookworm, 3.13 from trixie`."""
    return ", ".join(f"{version} from {suite}" for version, suite in SUITES.items())


class ImagePythons:
    """Which Python (X.Y) an image runs, asked once per image id in a throwaway container.

    Image ids are content hashes, so answers are kept on disk too (`cache_dir/image-pythons`)
    and a devserver's next run asks nothing it asked before.
    """

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    def version(self, client: docker.DockerClient, image_id: str, cache_dir: Path) -> str | None:
        """The image's Python as X.Y; None when it has no python3 (or python) that answers."""
        if image_id in self._known:
            return self._known[image_id]
        stored = cache_dir / "image-pythons" / image_id.replace(":", "-")
        with contextlib.suppress(OSError):
            answer = stored.read_text(encoding="utf-8").strip()
            if _VERSION.match(answer):
                self._known[image_id] = answer
                return answer
        found = _ask(client, image_id)
        self._known[image_id] = found
        if found is not None:
            with contextlib.suppress(OSError):
                stored.parent.mkdir(parents=True, exist_ok=True)
                stored.write_text(found, encoding="utf-8")
        return found


def _ask(client: docker.DockerClient, image_id: str) -> str | None:
    try:
        output = client.containers.run(
            image_id,
            _PROBE,
            entrypoint=["/bin/sh", "-c"],
            remove=True,
            network_disabled=True,
            stdout=True,
            stderr=False,
        )
    except (docker.errors.DockerException, requests.RequestException):
        return None
    text = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
    lines = text.splitlines()
    answer = lines[-1].strip() if lines else ""
    return answer if _VERSION.match(answer) else None
