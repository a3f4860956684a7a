"""A user's build context (`environment.build`): its digest, and its Dockerfile with registry
images in FROM lines mapped to local substitutes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.utils.build import exclude_paths

from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.instance import InstanceFailed
from epdev.runtimes.substitutes import Substitutes

_FROM = re.compile(
    r"^(?P<head>\s*FROM\s+(?:--\S+\s+)*)(?P<image>\S+)(?P<tail>(?:\s+AS\s+(?P<stage>\S+))?.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BuildPlan:
    """How to build the user's base image."""

    digest: str
    dockerfile: str
    """The Dockerfile to build with: relative to the context, or a rewritten copy's path."""
    notes: tuple[str, ...]


def digest(*parts: str) -> str:
    """A short content hash of `parts`, for image tags."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def plan_build(
    substitutes: Substitutes,
    client: docker.DockerClient,
    environment: RuntimeEnvironment,
    cache_dir: Path,
    asked: str | None,
) -> BuildPlan:
    """The user's build, with registry images in FROM lines mapped to a local base."""
    context = environment.build_context
    assert context is not None
    dockerfile_path = context / environment.dockerfile
    try:
        text = dockerfile_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstanceFailed(f"cannot read the Dockerfile {dockerfile_path}: {exc}") from None
    stages: set[str] = set()
    lines: list[str] = []
    notes: list[str] = []
    ids: list[str] = []
    for line in text.splitlines():
        match = _FROM.match(line)
        if match is not None:
            image = match.group("image")
            if image.lower() != "scratch" and "$" not in image and image not in stages:
                base = substitutes.resolve(
                    client, image, asked, cache_dir, environment.python.source
                )
                ids.append(base.image_id)
                if base.note:
                    notes.append(f"Dockerfile: {base.note}")
                    line = match.group("head") + base.reference + match.group("tail")
            if match.group("stage"):
                stages.add(match.group("stage"))
        lines.append(line)
    rewritten = "\n".join(lines) + "\n"
    files = context_digest(context, environment.dockerfile)
    plan_digest = digest("context", files, rewritten, *ids)
    if not notes:
        return BuildPlan(plan_digest, environment.dockerfile, ())
    # Outside the context: the SDK then sends it along under a name of its own.
    copy = cache_dir / "dockerfiles" / f"Dockerfile.{plan_digest}"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(rewritten, encoding="utf-8")
    return BuildPlan(plan_digest, str(copy.absolute()), tuple(notes))


def context_digest(root: Path, dockerfile: str) -> str:
    """A hash of exactly the files `docker build` sends: .dockerignore applies."""
    ignore = root / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    digest = hashlib.sha256()
    for relative in sorted(exclude_paths(str(root), patterns, dockerfile=dockerfile)):
        path = root / relative
        info = path.lstat()
        digest.update(f"{relative}\0{info.st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            with path.open("rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()
