"""A job's input: a local path, a file:// or http(s):// URL, or a registered data asset, turned
into the sorted list of files the job splits into mini-batches."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx

from epdev.devserver.assets import Registry, is_reference
from epdev.devserver.errors import BadRequest
from epdev.specs.tilde import expand_user

INPUT_TYPES = ("uri_folder", "uri_file")


@dataclass(frozen=True)
class ResolvedInput:
    source: str  # what the caller gave
    path: Path  # where the files are now
    type: str  # uri_folder or uri_file
    url: str | None = None  # to download before the job starts


def resolve_input(registry: Registry, given: str, input_type: str | None) -> ResolvedInput:
    """Where the input is and its type; raises BadRequest naming the problem. HTTP inputs are
    only checked for shape here: `fetch` downloads them when the job starts."""
    if input_type is not None and input_type not in INPUT_TYPES:
        raise BadRequest(f"input type {input_type!r} is not one of {', '.join(INPUT_TYPES)}")
    if is_reference(given):
        asset = registry.resolve("data", given)
        if input_type is not None and input_type != asset.type:
            raise BadRequest(
                f"data asset {asset.name}:{asset.version} is {asset.type}, not {input_type}"
            )
        return _local(given, asset.path, asset.type)
    scheme = urllib.parse.urlsplit(given).scheme.lower()
    if scheme in ("http", "https"):
        if input_type == "uri_folder":
            raise BadRequest(
                "an http(s) input is one file (uri_file); a folder cannot be listed over HTTP"
            )
        return ResolvedInput(source=given, path=Path(), type="uri_file", url=given)
    if scheme == "file":
        parsed = urllib.parse.urlsplit(given)
        path = Path(urllib.parse.unquote(parsed.path))
    elif scheme in ("",) or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        try:
            path = expand_user(Path(given))
        except ValueError as exc:
            raise BadRequest(f"input {exc}") from None
    else:
        raise BadRequest(
            f"input {given!r}: use a local path, file://, http(s):// or azureml:NAME@latest"
        )
    if not path.is_absolute():
        raise BadRequest(f"input path {given!r} must be absolute (the CLI resolves it)")
    return _local(given, path, input_type)


def _local(source: str, path: Path, input_type: str | None) -> ResolvedInput:
    if not path.exists():
        raise BadRequest(f"input {source!r}: {path} does not exist")
    found = "uri_folder" if path.is_dir() else "uri_file"
    if input_type is not None and input_type != found:
        kind = "a folder" if found == "uri_folder" else "a file"
        raise BadRequest(f"input {source!r} is {kind}, not {input_type}")
    return ResolvedInput(source=source, path=path.resolve(), type=found)


def fetch(url: str, folder: Path, timeout: float = 60.0) -> Path:
    """Download a uri_file input into `folder`; raises OSError/httpx errors for the caller."""
    name = Path(urllib.parse.urlsplit(url).path).name or "input"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = folder / f".{name}.part"
    with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
        response.raise_for_status()
        with partial.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    partial.replace(target)
    return target


def list_files(path: Path) -> list[Path]:
    """The files of a uri_folder (recursively, hidden ones skipped, sorted) or the uri_file."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def split(files: list[str], size: int) -> list[list[str]]:
    """Mini-batches of `size` files, in order; the last may be smaller."""
    return [files[i : i + size] for i in range(0, len(files), size)]
