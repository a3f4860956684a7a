"""A copy of the worker's code for interpreters that do not have epdev installed.

venvs and containers run the worker from this folder (on PYTHONPATH), so a user's environment
holds only their own dependencies and the worker's three server packages.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import epdev.runtimes as runtimes_package

# The worker imports these modules of epdev.runtimes and nothing else of epdev.
_FILES = ("__init__.py", "asgi.py", "instance.py")


def _sources() -> list[tuple[Path, Path]]:
    root = Path(runtimes_package.__file__).resolve().parent
    pairs = [(root / name, Path(name)) for name in _FILES]
    for path in sorted((root / "worker").glob("*.py")):
        pairs.append((path.resolve(), Path("worker") / path.name))
    return pairs


def worker_bundle(cache: Path) -> Path:
    """A folder to put on PYTHONPATH so `python -m epdev.runtimes.worker` runs; made once."""
    pairs = _sources()
    digest = hashlib.sha256()
    for source, relative in pairs:
        digest.update(str(relative).encode())
        digest.update(source.read_bytes())
    target = cache / f"worker-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    # A staging folder of its own: instances starting at once (threads or devservers) each
    # make one, and the first rename wins.
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=f".{target.name}-"))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a container's non-root user
    for source, relative in pairs:
        destination = staging / "epdev" / "runtimes" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process made it first
    return target
