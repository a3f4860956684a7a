"""The worker bundle: made once per cache, also when several instances start at the same time."""

from __future__ import annotations

import stat
import subprocess
import sys
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


def test_the_worker_apps_import_from_the_bundle_with_the_standard_library_alone(
    tmp_path: Path,
) -> None:
    """The ASGI pieces the worker shares with the router (epdev.runtimes.asgi) travel with it."""
    bundle = worker_bundle(tmp_path / "cache")
    apps = ", ".join(
        f"epdev.runtimes.worker.{name}"
        for name in ("main", "app", "mlflow_app", "openinference", "responses")
    )
    check = (
        f"import sys; sys.path.insert(0, sys.argv[1]); import {apps}; "
        "print(sorted(n for n, m in sys.modules.items() if n.startswith('epdev.')"
        " and not m.__file__.startswith(sys.argv[1])))"
    )
    # -S: no site-packages, so neither epdev nor a third-party package is there to fall back on.
    found = subprocess.run(
        [sys.executable, "-S", "-c", check, str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"
