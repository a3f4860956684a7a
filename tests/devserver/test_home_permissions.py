"""An epdev home is private: the folder 0700 and every secret-bearing file 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from epdev.devserver.home import Home, HomeError
from epdev.devserver.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_an_existing_open_home_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / "home"
    (root / "tls").mkdir(parents=True)
    root.chmod(0o755)
    secrets = [
        root / "state.db",
        root / "state.db-wal",
        root / "state.db-shm",
        root / "admin-token",
        root / "token-secret",
        root / "tls" / "server-key.pem",
        root / "tls" / "ca-key.pem",
    ]
    for path in secrets:
        path.write_text("x")
        path.chmod(0o644)
    Home(root).ensure()
    assert mode(root) == 0o700
    assert {p.name: mode(p) for p in secrets} == {p.name: 0o600 for p in secrets}


def test_the_store_and_its_wal_and_shm_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with umask(0o022):
        store = Store(path)
        try:
            files = [path, path.with_name("state.db-wal"), path.with_name("state.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            store.close()


@pytest.mark.skipif(os.getuid() != 0, reason="changing a folder's owner needs root")
def test_a_home_that_belongs_to_another_user_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir()
    os.chown(root, 65534, 65534)
    with pytest.raises(HomeError) as refused:
        Home(root).ensure()
    assert str(root) in str(refused.value)
    assert "belongs to another user" in str(refused.value)
