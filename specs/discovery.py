"""Finding the specs in a folder: every endpoint or deployment YAML under it, loaded together,
with names unique per kind and endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from epdev.specs.errors import SpecError, SpecIssue
from epdev.specs.kinds import SpecKind, guess_kind, kind_from_schema
from epdev.specs.loader import LoadedSpec, load_document
from epdev.specs.yamlsource import YamlDocument, read_yaml

SPEC_SUFFIXES = (".yml", ".yaml")

# Folders that load_specs never walks into, besides hidden ones (.git, .venv, ...).
_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__"})


def load_specs(target: Path) -> tuple[list[LoadedSpec], list[Path]]:
    """Every spec in a file or a folder (recursively), endpoints first.

    Returns the specs and the YAML files skipped because they are not endpoint or deployment
    specs (conda files, for example). Hidden folders (.git, .venv) and node_modules are not
    searched. Every file is validated before any is returned, and all problems are reported
    together.
    """
    target = Path(target)
    if target.is_dir():
        files = sorted(
            p
            for p in target.rglob("*")
            if p.suffix.lower() in SPEC_SUFFIXES
            and not _ignored(p.relative_to(target))
            and p.is_file()
        )
        if not files:
            raise SpecError.single("no .yml or .yaml files in this folder", file=target)
    elif target.exists():
        files = [target]
    else:
        raise SpecError.single("file or folder does not exist", file=target)
    loaded: list[LoadedSpec] = []
    documents: dict[Path, YamlDocument] = {}
    skipped: list[Path] = []
    problems: list[SpecIssue] = []
    for file in files:
        try:
            document = read_yaml(file)
            if target.is_dir() and not _looks_like_spec(document):
                skipped.append(file)
                continue
            documents[file] = document
            loaded.append(load_document(file, document, None, None, True))
        except SpecError as exc:
            problems.extend(exc.issues)
    if problems:
        raise SpecError(problems)
    _check_unique(loaded, documents)
    order: dict[SpecKind, int] = {
        "online-endpoint": 0,
        "batch-endpoint": 0,
        "online-deployment": 1,
        "batch-deployment": 1,
    }
    loaded.sort(key=lambda item: order[item.kind])
    return loaded, skipped


def _ignored(relative: Path) -> bool:
    return any(part.startswith(".") or part in _SKIPPED_FOLDERS for part in relative.parts)


def _looks_like_spec(document: YamlDocument) -> bool:
    data = document.data
    if not isinstance(data, dict):
        return False
    schema = data.get("$schema")
    if isinstance(schema, str):
        return kind_from_schema(schema) is not None
    return guess_kind(data) is not None


def _check_unique(loaded: list[LoadedSpec], documents: Mapping[Path, YamlDocument]) -> None:
    seen: dict[tuple[str, str, str], LoadedSpec] = {}
    problems: list[SpecIssue] = []
    for item in loaded:
        endpoint = str(getattr(item.spec, "endpoint_name", "") or "")
        key = (item.kind, endpoint, item.name)
        first = seen.setdefault(key, item)
        if first is item:
            continue
        document = documents.get(item.path) if item.path is not None else None
        of_endpoint = f" of endpoint {endpoint!r}" if endpoint else ""
        problems.append(
            SpecIssue(
                f"{item.kind} {item.name!r}{of_endpoint} is also described in {first.path}",
                file=item.path,
                line=document.line_of(("name",)) if document is not None else None,
                field="name",
            )
        )
    if problems:
        raise SpecError(problems)
