"""uv, which resolves and installs every environment: its binary, the host's pip settings it is
given, its one shared cache, and running it with its output in the deployment's build log.

uv does not read pip's configuration, yet the host's pip is what a user set up to reach their
index, proxy and certificates. So pip's settings (its config files, then PIP_* variables) are
handed to uv as the UV_* variables that mean the same; a UV_* variable the user set wins.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import logging
import os
import signal
import sys
from collections import deque
from pathlib import Path

from epdev.runtimes.instance import InstanceFailed, LogSink

STREAM = "build"
logger = logging.getLogger(__name__)
TAIL_LINES = 400

# The host's settings that would make a build look outside the environment it builds.
_HOST_ONLY = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX"})
# uv's warnings that repeat once per file of a local index (file:// indexes carry no upload
# dates): one summary line says it instead.
_NO_UPLOAD_DATE = "is missing an upload date"


def uv_bin() -> str:
    """The uv binary of the `uv` package installed beside epdev."""
    try:
        import uv
    except ImportError as exc:  # a broken install: uv is a dependency of epdev
        raise InstanceFailed(f"epdev needs the uv package to build environments: {exc}") from None
    return str(uv.find_uv_bin())


def pip_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """pip's effective settings for `pip install`, as pip layers them: config files (global,
    user, site, PIP_CONFIG_FILE), [global] then [install], then PIP_* variables."""
    environ = dict(os.environ) if environ is None else environ
    files: list[Path] = []
    for folder in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":"):
        files.append(Path(folder) / "pip" / "pip.conf")
    files.append(Path("/etc/pip.conf"))
    home = Path(environ.get("HOME") or Path.home())
    files.append(home / ".pip" / "pip.conf")
    config_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    files.append(config_home / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        files = []
    elif named:
        files.append(Path(named))
    settings: dict[str, str] = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    settings[key.replace("_", "-")] = value
    for key, value in environ.items():
        if key.startswith("PIP_") and key != "PIP_CONFIG_FILE":
            settings[key[4:].lower().replace("_", "-")] = value
    return settings


def _words(value: str) -> list[str]:
    return value.split()


def uv_environment(cache_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables uv runs with: the host's, less what would leak the host's packages into a
    build, plus pip's settings in uv's terms and the shared cache under `cache_dir`."""
    environ = dict(os.environ) if environ is None else environ
    pip = pip_settings(environ)
    env = {key: value for key, value in environ.items() if key not in _HOST_ONLY}
    mirrored: dict[str, str] = {"UV_CACHE_DIR": str(cache_dir / "uv")}
    if pip.get("index-url"):
        mirrored["UV_DEFAULT_INDEX"] = pip["index-url"]
    extra = _words(pip.get("extra-index-url", ""))
    if extra:
        mirrored["UV_INDEX"] = " ".join(extra)
        # pip takes the best version across all its indexes; uv's default would take every
        # version of a package from the first index that has one.
        mirrored["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    links = _words(pip.get("find-links", ""))
    if links:
        mirrored["UV_FIND_LINKS"] = ",".join(links)
    if pip.get("constraint"):
        mirrored["UV_CONSTRAINT"] = " ".join(_words(pip["constraint"]))
    if pip.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        mirrored["UV_NO_INDEX"] = "1"
    hosts = _words(pip.get("trusted-host", ""))
    if hosts:
        mirrored["UV_INSECURE_HOST"] = " ".join(hosts)
    timeout = pip.get("timeout") or pip.get("default-timeout")
    if timeout:
        mirrored["UV_HTTP_TIMEOUT"] = timeout
    if pip.get("cert"):
        mirrored["SSL_CERT_FILE"] = pip["cert"]
    if pip.get("client-cert"):
        mirrored["SSL_CLIENT_CERT"] = pip["client-cert"]
    if pip.get("proxy"):
        mirrored["HTTPS_PROXY"] = mirrored["HTTP_PROXY"] = pip["proxy"]
    # No machine here can reach uv's Python downloads; an interpreter is found or named missing.
    mirrored["UV_PYTHON_DOWNLOADS"] = "never"
    for key, value in mirrored.items():
        env.setdefault(key, value)
    if "UV_DEFAULT_INDEX" in env and "UV_INDEX_URL" in env:
        del env["UV_DEFAULT_INDEX"]  # the user's own UV_INDEX_URL says the same, and wins
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def run_uv(args: list[str], sink: LogSink, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run `uv ARGS`, its output (stdout and stderr, in order) going to the build stream as it
    comes; returns the exit code and the last lines. Cancelling kills uv and what it started."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    argv = [uv_bin(), *args]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            limit=1 << 20,
        )
    except OSError as exc:
        raise InstanceFailed(f"could not run {argv[0]}: {exc}") from exc
    undated = 0
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if _NO_UPLOAD_DATE in line:
                undated += 1
                continue
            tail.append(line)
            say(sink, line)
        code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    if undated:
        say(sink, f"({undated} file(s) of local indexes carry no upload date and were left out)")
    return code, list(tail)


def say(sink: LogSink, line: str, stream: str = STREAM) -> None:
    try:
        sink(stream, line)
    except Exception:  # a failing sink must not fail the build
        logger.exception("the log sink failed on a %s line", stream)
