"""The date an environment's pins come from, so the packages it leaves open resolve as of then.

A conda solve of an environment written in 2023 picks the numpy of 2023; a resolver today picks
numpy 2, which the pinned scikit-learn 1.2.2 cannot load. The newest exactly-pinned package's
release date, from the index's JSON API (PEP 691 with PEP 700's upload times), bounds what uv
may choose for the rest (`--exclude-newer`). Dates are kept in the cache: a release's files do
not move.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import ssl
from collections.abc import Iterable
from pathlib import Path

import httpx
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

PYPI_SIMPLE = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
MARGIN = dt.timedelta(days=1)
"""How long after the newest pin's last file the cut-off lies: its own late wheels count."""
LOOKUP_TIMEOUT = 10.0


def exact_pins(requirements: Iterable[str]) -> list[tuple[str, str]]:
    """(name, version) of the requirements pinned to one release with `==X` (no wildcard)."""
    pins: list[tuple[str, str]] = []
    for line in requirements:
        if line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        specifiers = list(requirement.specifier)
        if (
            len(specifiers) == 1
            and specifiers[0].operator in ("==", "===")
            and ("*" not in specifiers[0].version)
        ):
            pins.append((canonicalize_name(requirement.name), specifiers[0].version))
    return pins


def index_url(uv_env: dict[str, str]) -> str:
    """The index uv resolves against by default, as uv_environment set it."""
    return (uv_env.get("UV_INDEX_URL") or uv_env.get("UV_DEFAULT_INDEX") or PYPI_SIMPLE).rstrip("/")


async def era_cutoff(
    pins: list[tuple[str, str]], uv_env: dict[str, str], cache_dir: Path
) -> tuple[dt.datetime, str] | None:
    """Just after the newest pinned release, and which pin that is; None when no pin's date is
    known (an index without upload times, or no exact pins)."""
    if not pins:
        return None
    store = cache_dir / "release-dates.json"
    known = _load(store)
    missing = [pin for pin in pins if f"{pin[0]}=={pin[1]}" not in known]
    if missing:
        found = await _lookup(missing, index_url(uv_env), uv_env)
        known.update(found)
        with contextlib.suppress(OSError):
            store.parent.mkdir(parents=True, exist_ok=True)
            staging = store.with_suffix(f".{os.getpid()}.tmp")
            staging.write_text(json.dumps(known, sort_keys=True), encoding="utf-8")
            staging.replace(store)
    dated = [
        (dt.datetime.fromisoformat(known[key]), key)
        for key in (f"{name}=={version}" for name, version in pins)
        if known.get(key)
    ]
    if not dated:
        return None
    newest, pin = max(dated)
    return newest + MARGIN, pin


def _load(store: Path) -> dict[str, str]:
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


async def _lookup(
    pins: list[tuple[str, str]], index: str, uv_env: dict[str, str]
) -> dict[str, str]:
    cafile = uv_env.get("SSL_CERT_FILE")
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=cafile) if cafile else True
    timeout = httpx.Timeout(LOOKUP_TIMEOUT)
    async with httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=True) as client:
        results = await asyncio.gather(
            *(_release_date(client, index, name, version) for name, version in pins),
            return_exceptions=True,
        )
    found: dict[str, str] = {}
    for (name, version), result in zip(pins, results, strict=True):
        # An unreachable index or one without dates says nothing; the pin is asked again later.
        if isinstance(result, dt.datetime):
            found[f"{name}=={version}"] = result.isoformat()
    return found


async def _release_date(
    client: httpx.AsyncClient, index: str, name: str, version: str
) -> dt.datetime | None:
    response = await client.get(f"{index}/{name}/", headers={"Accept": SIMPLE_JSON})
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        wanted = Version(version)
    except InvalidVersion:
        return None
    times = []
    for file in response.json().get("files", []):
        uploaded = file.get("upload-time")
        if uploaded and _version_of(str(file.get("filename", "")), name) == wanted:
            times.append(dt.datetime.fromisoformat(str(uploaded).replace("Z", "+00:00")))
    return max(times) if times else None


_SDIST = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)\.(?:tar\.gz|zip|tar\.bz2)$")


def _version_of(filename: str, name: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        match = _SDIST.match(filename)
        if match is not None and canonicalize_name(match.group("name")) == name:
            return Version(match.group("version"))
    except (ValueError, InvalidVersion):
        return None
    return None
