"""Building an image: epdev's layer (a venv from the host's wheelhouse) and the engine's build
itself, streamed to the deployment's logs."""

from __future__ import annotations

import io
import tarfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests

from epdev.runtimes.engine import short_error
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.interpreters import WORKER_MIN_PYTHON
from epdev.runtimes.process import last_meaningful
from epdev.runtimes.threads import in_thread, loop_sink
from epdev.runtimes.wheelhouse import wheels

VENV = "/opt/epdev-env"
"""Where the environment lives in every image; its bin/ comes first on PATH."""
STREAM = "build"
BUILD_TIMEOUT = 3600
"""Seconds the engine may stay silent during a build before the build counts as failed."""
LABEL_ENVIRONMENT = "epdev.environment"

OLDEST = ".".join(map(str, WORKER_MIN_PYTHON))
"""The oldest Python X.Y epdev's worker runs on."""

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
{OLDEST} or later and its wheelhouse is for Python {{python}}" >&2; exit 1; fi; \\
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


def layer_context(context: IO[bytes], dockerfile: str, wheelhouse: Path) -> None:
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


async def build(
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
        raise InstanceFailed(f"building {tag} failed: {short_error(exc)}") from None
    if failure is not None:
        cause = last_meaningful(deque(line for line in tail if not line.startswith("The command")))
        raise InstanceFailed(f"{failure} (last output: {cause})")
