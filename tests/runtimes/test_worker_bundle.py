"""The worker bundle: made once per cache, also when several instances start at the same time."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from epdev.runtimes.bundle import worker_bundle


def test_instances_starting_at_once_share_one_bundle(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(lambda _: worker_bundle(cache), range(16)))
    (bundle,) = made
    assert (bundle / "epdev" / "runtimes" / "worker" / "__main__.py").is_file()
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o755  # readable by a container's user
    assert [p.name for p in cache.iterdir()] == [bundle.name]  # no staging folder left
