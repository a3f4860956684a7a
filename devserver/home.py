"""The epdev home folder (`EPDEV_HOME`, default `~/.epdev`) and what lives in it."""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HOME_ENV = "EPDEV_HOME"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".epdev").expanduser()


def write_private(path: Path, data: str) -> None:
    """Write a file readable by its owner only, atomically (no moment with wider rights)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class HomeError(Exception):
    """The home folder cannot be used safely; the message says why in one line."""


@dataclass(frozen=True)
class ServerInfo:
    """What `server.json` says about the running devserver."""

    url: str
    pid: int
    ca_bundle: str | None
    home: str

    def is_alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


class Home:
    """Paths under one epdev home folder."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_home()).expanduser().resolve()

    def ensure(self) -> Home:
        """Create the folder, or make an existing one private: it holds keys and secrets."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._make_private()
        for sub in (self.logs_dir, self.instances_dir, self.tls_dir):
            sub.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    def _make_private(self) -> None:
        info = self.root.stat()
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise HomeError(
                f"the epdev home {self.root} belongs to another user (uid {info.st_uid}); "
                f"use a folder of your own ({HOME_ENV}=...)"
            )
        try:
            if stat.S_IMODE(info.st_mode) & 0o077:
                self.root.chmod(0o700)
            for path in self.secret_files():
                if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
                    path.chmod(0o600)
        except OSError as exc:
            raise HomeError(f"cannot make the epdev home {self.root} private: {exc}") from None

    def secret_files(self) -> list[Path]:
        """Files that hold keys, tokens or the deployments' environment variables."""
        db = self.database
        return [
            db,
            db.with_name(db.name + "-wal"),
            db.with_name(db.name + "-shm"),
            db.with_name(db.name + "-journal"),
            self.admin_token_file,
            self.token_secret_file,
            *self.tls_dir.glob("*key*.pem"),
        ]

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def ca_bundle(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    @property
    def run_dir(self) -> Path:
        """Private folder of the Unix sockets the instances listen on."""
        return self.root / "run"

    @property
    def admin_token_file(self) -> Path:
        return self.root / "admin-token"

    @property
    def token_secret_file(self) -> Path:
        return self.root / "token-secret"

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    def deployment_log(self, endpoint: str, deployment: str) -> Path:
        return self.logs_dir / endpoint / f"{deployment}.log"

    def admin_token(self, *, create: bool = False) -> str | None:
        """The admin token guarding the control plane; created (0600) when asked to."""
        path = self.admin_token_file
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        if not create:
            return None
        token = secrets.token_urlsafe(32)
        write_private(path, token + "\n")
        return token

    def read_server(self) -> ServerInfo | None:
        try:
            raw: dict[str, Any] = json.loads(self.server_file.read_text(encoding="utf-8"))
            return ServerInfo(
                url=str(raw["url"]),
                pid=int(raw["pid"]),
                ca_bundle=raw.get("ca_bundle"),
                home=str(raw.get("home", self.root)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def running_server(self) -> ServerInfo | None:
        """The devserver of this home if its process is alive, else None."""
        info = self.read_server()
        return info if info is not None and info.is_alive() else None

    def write_server(self, info: ServerInfo) -> None:
        payload = {"url": info.url, "pid": info.pid, "ca_bundle": info.ca_bundle, "home": info.home}
        write_private(self.server_file, json.dumps(payload, indent=2) + "\n")

    def clear_server(self, pid: int) -> None:
        info = self.read_server()
        if info is not None and info.pid == pid:
            self.server_file.unlink(missing_ok=True)
