"""The store on a full disk: a write that fails leaves no transaction open behind it, so writes
work again as soon as there is space."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support.small_disk import fill, small_tmpfs

from epdev.devserver.store import Store


def test_a_failed_commit_does_not_wedge_later_writes(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        store = Store(disk / "state.db")
        try:
            store.execute("CREATE TABLE t (v TEXT)")
            fill(disk / "filler")
            with pytest.raises(sqlite3.OperationalError, match="full"), store.transaction() as db:
                db.execute("INSERT INTO t VALUES (?)", ("x" * 200_000,))
            (disk / "filler").unlink()
            with store.transaction() as db:
                db.execute("INSERT INTO t VALUES (?)", ("after",))
            assert [row[0] for row in store.query("SELECT v FROM t")] == ["after"]
        finally:
            store.close()
