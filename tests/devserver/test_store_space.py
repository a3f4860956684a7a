"""The state store gives space back after large deletes, instead of keeping its largest size."""

from __future__ import annotations

from pathlib import Path

from epdev.devserver.store import RECLAIM_BYTES, DeploymentRow, EndpointRow, Store


def test_space_comes_back_after_a_large_delete(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        big = {"name": "big", "description": "x" * (20 * 1024 * 1024)}
        store.put_endpoint(EndpointRow("big", big, None, "k1", "k2"))
        store.put_endpoint(EndpointRow("small", {"name": "small"}, None, "k1", "k2"))
        assert store.size_on_disk() > 20 * 1024 * 1024
        store.delete_endpoint("big")
        assert store.size_on_disk() < 2 * RECLAIM_BYTES
        assert [row.name for row in store.endpoints()] == ["small"]
    finally:
        store.close()


def test_space_comes_back_after_a_delete_inside_a_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        store.put_endpoint(EndpointRow("ep", {"name": "ep"}, None, "k1", "k2"))
        spec = {"name": "blue", "description": "y" * (8 * 1024 * 1024)}
        store.put_deployment(DeploymentRow("ep", "blue", spec, None, "Succeeded"))
        with store.transaction() as db:
            store.delete_deployment("ep", "blue", db)
        assert store.size_on_disk() < 2 * RECLAIM_BYTES
    finally:
        store.close()


def test_small_deletes_do_not_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    try:
        for i in range(20):
            store.put_endpoint(EndpointRow(f"ep{i}", {"name": f"ep{i}"}, None, "k1", "k2"))
        before = path.stat().st_ino, path.stat().st_size
        store.delete_endpoint("ep3")
        # No VACUUM: the file keeps its size until far more than a spec's worth is free.
        assert (path.stat().st_ino, path.stat().st_size) == before
    finally:
        store.close()
