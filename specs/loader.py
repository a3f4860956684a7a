"""Loading spec files: YAML with line numbers in, validated models or located errors out."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from epdev.specs.base import SpecModel
from epdev.specs.errors import SpecError, SpecIssue
from epdev.specs.kinds import MODELS, SpecKind, guess_kind, kind_from_schema, known_schema_name
from epdev.specs.yamlsource import Location, YamlDocument, dotted, read_yaml

SPEC_SUFFIXES = (".yml", ".yaml")


@dataclass
class LoadedSpec:
    """A validated spec and where it came from."""

    kind: SpecKind
    spec: SpecModel
    path: Path | None = None
    cloud_only: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(getattr(self.spec, "name", ""))

    def cloud_only_note(self) -> str | None:
        """The one-time note about cloud-only fields, or None when there are none."""
        if not self.cloud_only:
            return None
        where = f"{self.path}: " if self.path else ""
        return f"{where}not applicable locally, kept as given: {', '.join(self.cloud_only)}"


def load_spec(
    path: Path,
    kind: SpecKind | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    check_files: bool = True,
) -> LoadedSpec:
    """Read and validate one spec file. `kind` comes from the command when it knows it."""
    path = Path(path)
    document = read_yaml(path)
    if not isinstance(document.data, dict):
        raise SpecError.single("a spec must be a YAML mapping of keys to values", file=path, line=1)
    found = _declared_kind(document, path)
    if kind is not None and found is not None and found != kind:
        raise SpecError.single(
            f"this file is a {found} spec, not a {kind} spec",
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    kind = kind or found or guess_kind(document.data)
    if kind is None:
        raise SpecError.single(
            "cannot tell what this spec describes: add a $schema line naming "
            "managedOnlineEndpoint or managedOnlineDeployment",
            file=path,
            line=1,
        )
    data = dict(document.data)
    if overrides:
        data = apply_overrides(data, overrides)
    return validate_spec(kind, data, path=path, document=document, check_files=check_files)


def validate_spec(
    kind: SpecKind,
    data: dict[str, Any],
    *,
    path: Path | None = None,
    document: YamlDocument | None = None,
    base_dir: Path | None = None,
    check_files: bool = True,
) -> LoadedSpec:
    """Validate plain data as a spec of `kind`; errors carry lines when `document` is known."""
    model = MODELS[kind]
    context = {
        "base_dir": base_dir or (path.parent if path is not None else None),
        "check_files": check_files,
    }
    try:
        spec = model.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(_issues(exc, model, data, path, document)) from None
    return LoadedSpec(kind=kind, spec=spec, path=path, cloud_only=spec.cloud_only_in_use())


def load_specs(target: Path) -> tuple[list[LoadedSpec], list[Path]]:
    """Every spec in a file or a folder (recursively), endpoints first.

    Returns the specs and the YAML files skipped because they are not endpoint or deployment
    specs (conda files, for example). Every file is validated before any is returned, and all
    problems are reported together.
    """
    target = Path(target)
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
        if not files:
            raise SpecError.single("no .yml or .yaml files in this folder", file=target)
    elif target.exists():
        files = [target]
    else:
        raise SpecError.single("file or folder does not exist", file=target)
    loaded: list[LoadedSpec] = []
    skipped: list[Path] = []
    problems: list[SpecIssue] = []
    for file in files:
        try:
            document = read_yaml(file)
            if target.is_dir() and not _looks_like_spec(document):
                skipped.append(file)
                continue
            loaded.append(load_spec(file))
        except SpecError as exc:
            problems.extend(exc.issues)
    if problems:
        raise SpecError(problems)
    _check_unique(loaded)
    order: dict[SpecKind, int] = {"online-endpoint": 0, "online-deployment": 1}
    loaded.sort(key=lambda item: order[item.kind])
    return loaded, skipped


def _looks_like_spec(document: YamlDocument) -> bool:
    data = document.data
    if not isinstance(data, dict):
        return False
    schema = data.get("$schema")
    if isinstance(schema, str):
        return kind_from_schema(schema) is not None
    return guess_kind(data) is not None


def _check_unique(loaded: list[LoadedSpec]) -> None:
    seen: dict[tuple[str, str, str], LoadedSpec] = {}
    for item in loaded:
        endpoint = str(getattr(item.spec, "endpoint_name", "") or "")
        key = (item.kind, endpoint, item.name)
        if key in seen:
            first = seen[key].path
            raise SpecError.single(
                f"{item.kind} {item.name!r} is also described in {first}",
                file=item.path,
                field="name",
            )
        seen[key] = item


def _declared_kind(document: YamlDocument, path: Path) -> SpecKind | None:
    schema = document.data.get("$schema")
    if schema is None:
        return None
    if not isinstance(schema, str):
        raise SpecError.single(
            "$schema must be a URL text", file=path, line=document.line_of(("$schema",)), field="$schema"
        )
    kind = kind_from_schema(schema)
    if kind is None:
        raise SpecError.single(
            f"{known_schema_name(schema)} is not an online endpoint or deployment schema",
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    return kind


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """az ml's `--set a.b=value`: set nested keys, creating mappings on the way."""
    result = _deep_copy(data)
    for dotted_key, value in overrides.items():
        parts = dotted_key.split(".")
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _issues(
    exc: ValidationError,
    model: type[BaseModel],
    data: dict[str, Any],
    path: Path | None,
    document: YamlDocument | None,
) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    for error in exc.errors(include_url=False):
        cleaned = _data_location(error["loc"], data)
        if cleaned is None:
            continue  # an error from a union branch the data does not use
        loc, message = cleaned, _message(error, model, cleaned)
        line = document.line_of(loc) if document is not None else None
        issue = SpecIssue(message, file=path, line=line, field=dotted(loc) or None)
        if issue not in issues:
            issues.append(issue)
    if not issues:  # every error came from union branches; show them raw rather than nothing
        for error in exc.errors(include_url=False):
            issues.append(SpecIssue(error["msg"], file=path, field=dotted(tuple(error["loc"]))))
    return issues


def _data_location(loc: tuple[int | str, ...], data: Any) -> Location | None:
    """The error location as a key path into the user's data, or None for a foreign branch.

    Pydantic adds union member tags ('str', 'ModelRef', 'function-after[...]') to locations; a
    tag is dropped, and an error from a member that does not match the data's shape is skipped.
    """
    result: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            result.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            result.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and _is_tag(part):
            if part in ("str", "int", "float", "bool"):
                return None
        elif isinstance(node, str) and isinstance(part, str) and _is_tag(part):
            if part[:1].isupper():
                return None
        else:
            result.append(part)  # a missing key: point at its parent's line
            node = None
    return tuple(result)


def _is_tag(part: str) -> bool:
    return part[:1].isupper() or part in ("str", "int", "float", "bool") or "[" in part


def _message(error: ErrorDetails, model: type[BaseModel], loc: Location) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        known = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _field_names(model: type[BaseModel], loc: Location) -> list[str]:
    """Field names (and aliases) of the model found at `loc` inside `model`."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        current = _nested_model(info.annotation) if info is not None else None
    if current is None:
        return []
    names = []
    for name, info in current.model_fields.items():
        names.append(info.alias or name)
    return names


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None
