"""Paths in specs resolve relative to the YAML file that names them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

from epdev.specs.tilde import expand_user


def _resolve(value: Path, info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    path = expand_user(value)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    # Always absolute: a spec read from `./endpoint.yml` must not depend on the cwd of whoever
    # uses the resolved paths later (the devserver, a worker process).
    path = path.resolve()
    if context.get("check_files", True) and not path.exists():
        raise ValueError(f"{value} does not exist (looked for {path})")
    return path


SpecPath = Annotated[Path, AfterValidator(_resolve)]
"""A path that must exist, resolved against the spec file's folder (`base_dir` in context)."""
