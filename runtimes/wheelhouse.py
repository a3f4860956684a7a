"""Wheels for an environment, prepared on the host so images install them without a network.

Builds run without network access (no registry, no index), and behind a proxy the host's
settings are the ones that know how to get out. So uv resolves the environment's requirements
plus the worker's packages on the host, as it does for venvs (era-faithful, wheels only, pip's
index settings: epdev.runtimes.resolution), into a lock file (PEP 751's pylock.toml) naming each
wheel's URL and hash; the wheels are fetched once into a content-addressed store shared by every
wheelhouse, and linked into the environment's folder, which the image build installs with
`pip install --no-index`. A wheelhouse is for one Python X.Y (the image's: uv resolves with
`--python-version`, and each wheel is chosen by that version's tags on the host's platform); it
is keyed by that version and the environment's digest, and made once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import ssl
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags, sys_tags
from packaging.utils import parse_wheel_filename

from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.instance import InstanceFailed, LogSink
from epdev.runtimes.interpreters import running
from epdev.runtimes.resolution import requirements_file, resolve_with_uv
from epdev.runtimes.uvtool import say, uv_environment

STREAM = "build"
"""The log stream that the wheelhouse's lines go to."""
DOWNLOADS = 4
"""Wheels fetched at once."""


def wheelhouse_path(
    environment: PythonEnvironment, cache_dir: Path, python_version: str | None = None
) -> Path:
    """Where the wheelhouse of `environment` for Python X.Y (default: the host's) lives."""
    return cache_dir / "wheelhouse" / f"py{python_version or running()}-{environment.digest}"


def wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


async def prepare_wheelhouse(
    environment: PythonEnvironment,
    cache_dir: Path,
    sink: LogSink,
    python_version: str | None = None,
) -> Path:
    """The folder of wheels for `environment` and the worker on Python X.Y (default: the
    host's), made with uv if missing."""
    version = python_version or running()
    target = wheelhouse_path(environment, cache_dir, version)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        requirements = requirements_file(environment, staging, version)
        lock = staging / "pylock.toml"
        say(sink, f"preparing the wheelhouse for Python {version} on the host: resolving with uv")
        await resolve_with_uv(
            [
                "compile",
                "--quiet",
                "--python",
                sys.executable,
                "--python-version",
                version,
                "--format",
                "pylock.toml",
                "-o",
                str(lock),
                str(requirements),
            ],
            environment,
            version,
            cache_dir,
            sink,
        )
        files = chosen_wheels(lock, version)
        say(sink, f"fetching {len(files)} wheel(s) into the wheelhouse (shared store: kept once)")
        await _fetch_all(files, cache_dir / "wheel-store", staging, cache_dir)
        lock.unlink()
        requirements.unlink()
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another devserver made the same wheelhouse meanwhile; theirs is as good.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def wheel_tags(python_version: str) -> list[Tag]:
    """The tags CPython X.Y installs on the host's platform, best first (pip's order)."""
    if python_version == running():
        return list(sys_tags())
    major, minor = (int(part) for part in python_version.split("."))
    platforms = list(platform_tags())
    abi = f"cp{major}{minor}"
    return [
        *cpython_tags((major, minor), abis=[abi], platforms=platforms),
        *compatible_tags((major, minor), interpreter=abi, platforms=platforms),
    ]


def chosen_wheels(lock: Path, python_version: str) -> list[dict[str, Any]]:
    """For each locked package, the wheel Python X.Y installs: the best tag match."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    ranks = {str(tag): rank for rank, tag in enumerate(wheel_tags(python_version))}
    chosen = []
    for package in data.get("packages", []):
        best: tuple[int, dict[str, Any]] | None = None
        archive = package.get("archive")
        candidates = list(package.get("wheels", []))
        if isinstance(archive, dict) and _file_name(archive).endswith(".whl"):
            candidates.append(archive)  # a local wheel the environment names by its path
        for wheel in candidates:
            name = wheel.get("name") or _file_name(wheel)
            try:
                tags = parse_wheel_filename(name)[3]
            except ValueError:
                continue
            rank = min((ranks[str(t)] for t in tags if str(t) in ranks), default=None)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, {**wheel, "name": name})
        if best is None:
            raise InstanceFailed(
                f"{package.get('name')}=={package.get('version')} has no wheel for Python "
                f"{python_version} on this platform, and an image installs wheels only: relax "
                "the pin, pick another Python, or use the venv runtime"
            )
        chosen.append(best[1])
    return chosen


def _file_name(wheel: dict[str, Any]) -> str:
    where = wheel.get("url") or wheel.get("path") or ""
    return unquote(urlparse(str(where)).path.rsplit("/", 1)[-1])


async def _fetch_all(
    files: list[dict[str, Any]], store: Path, folder: Path, cache_dir: Path
) -> None:
    env = uv_environment(cache_dir)
    cafile = env.get("SSL_CERT_FILE")
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=cafile) if cafile else True
    timeout = httpx.Timeout(float(env.get("UV_HTTP_TIMEOUT", "60")))
    limit = asyncio.Semaphore(DOWNLOADS)
    async with httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=True) as client:

        async def one(wheel: dict[str, Any]) -> None:
            async with limit:
                stored = await _stored(client, wheel, store)
            link = folder / wheel["name"]
            try:
                os.link(stored, link)
            except OSError:  # another file system
                shutil.copyfile(stored, link)

        await asyncio.gather(*(one(wheel) for wheel in files))


async def _stored(client: httpx.AsyncClient, wheel: dict[str, Any], store: Path) -> Path:
    """The wheel in the store (by its sha256), fetched or copied there first if missing."""
    name = str(wheel["name"])
    digest = str((wheel.get("hashes") or {}).get("sha256") or "")
    url = str(wheel.get("url") or "")
    path = wheel.get("path")
    if path is not None or url.startswith("file://"):
        source = Path(unquote(urlparse(url).path)) if url else Path(str(path))
        digest = digest or hashlib.sha256(source.read_bytes()).hexdigest()
        stored = store / digest / name
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stored)
        return stored
    stored = store / digest / name
    if digest and stored.exists():
        return stored
    partial = store / f".{name}.{os.getpid()}.{id(wheel)}.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise InstanceFailed(
                    f"could not fetch {name} for the wheelhouse: HTTP "
                    f"{response.status_code} from {url}"
                )
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    hasher.update(chunk)
                    out.write(chunk)
        if digest and hasher.hexdigest() != digest:
            raise InstanceFailed(f"{name} from {url} does not match its sha256")
        stored = store / hasher.hexdigest() / name
        stored.parent.mkdir(parents=True, exist_ok=True)
        partial.replace(stored)
    except httpx.HTTPError as exc:
        raise InstanceFailed(f"could not fetch {name} for the wheelhouse: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return stored
