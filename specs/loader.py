"""Loading spec files: YAML with line numbers in, validated models or located errors out."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from epdev.specs.base import PIPELINE_DEPLOYMENT, SpecModel, not_supported
from epdev.specs.errors import SpecError, SpecIssue
from epdev.specs.kinds import (
    MODELS,
    SpecKind,
    cloud_only_schema,
    guess_kind,
    kind_from_schema,
    known_schema_name,
)
from epdev.specs.yamlsource import MAX_DEPTH, Location, YamlDocument, dotted, read_yaml

SPEC_SUFFIXES = (".yml", ".yaml")

# Folders that load_specs never walks into, besides hidden ones (.git, .venv, ...).
_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__"})


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
    overrides: Mapping[str, Any] | None = None,
    check_files: bool = True,
) -> LoadedSpec:
    """Read and validate one spec file. `kind` comes from the command when it knows it.

    `overrides` are az ml's `--set` pairs (see `apply_overrides`); an error in an overridden
    value names the override rather than a line of the file.
    """
    path = Path(path)
    return _load_document(path, read_yaml(path), kind, overrides, check_files)


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
    return _validate(
        kind,
        data,
        path=path,
        document=document,
        base_dir=base_dir,
        check_files=check_files,
        overrides={},
    )


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
            loaded.append(_load_document(file, document, None, None, True))
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


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """az ml's `--set a.b=value`: set nested keys, creating mappings on the way.

    Returns a new mapping; `data` is left as it was.
    """
    result: dict[str, Any] = _deep_copy(data)
    for dotted_key, value in overrides.items():
        parts = dotted_key.split(".")
        if not all(parts):
            raise SpecError.single(
                "an override key must be a dotted key path such as "
                "request_settings.request_timeout_ms",
                field=dotted_key,
            )
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = _deep_copy(value)
    return result


def _load_document(
    path: Path,
    document: YamlDocument,
    kind: SpecKind | None,
    overrides: Mapping[str, Any] | None,
    check_files: bool,
) -> LoadedSpec:
    if not isinstance(document.data, dict):
        raise SpecError.single(
            "a spec must be a YAML mapping of keys to values",
            file=path,
            line=document.line_of(()) or 1,
        )
    found = _declared_kind(document, path)
    if kind is not None and found is not None and found != kind:
        schema = known_schema_name(str(document.data["$schema"]))
        raise SpecError.single(
            f"this file is {_a(found)} spec ({schema}), not {_a(kind)} spec",
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    resolved = kind or found or guess_kind(document.data)
    if resolved is None:
        raise SpecError.single(
            "cannot tell what this spec describes: add a $schema line naming "
            "managedOnlineEndpoint, managedOnlineDeployment, batchEndpoint or batchDeployment",
            file=path,
            line=document.line_of(()) or 1,
        )
    data = dict(document.data)
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        return _validate(
            resolved,
            data,
            path=path,
            document=document,
            base_dir=None,
            check_files=check_files,
            overrides=overrides or {},
        )
    except SpecError:
        looks_like = guess_kind(document.data)
        if found is None and looks_like is not None and looks_like != resolved:
            # A deployment file handed to an endpoint command: say so rather than listing
            # every deployment key as unknown.
            raise SpecError.single(
                f"this file looks like {_a(looks_like)} spec, not {_a(resolved)} spec "
                "(add a $schema line to say which it is)",
                file=path,
                line=document.line_of(()) or 1,
            ) from None
        raise


def _validate(
    kind: SpecKind,
    data: dict[str, Any],
    *,
    path: Path | None,
    document: YamlDocument | None,
    base_dir: Path | None,
    check_files: bool,
    overrides: Mapping[str, Any],
) -> LoadedSpec:
    _check_depth(data, path)
    if kind == "batch-deployment" and data.get("type") == "pipeline":
        # Refused before validation: the rest of such a file (component, its settings) would
        # otherwise read as a list of unknown keys.
        raise SpecError.single(
            not_supported(PIPELINE_DEPLOYMENT),
            file=path,
            line=document.line_of(("type",)) if document is not None else None,
            field="type",
        )
    model = MODELS[kind]
    context = {
        "base_dir": base_dir or (path.parent if path is not None else None),
        "check_files": check_files,
    }
    try:
        spec = model.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(_issues(exc, model, path, document, overrides)) from None
    return LoadedSpec(kind=kind, spec=spec, path=path, cloud_only=spec.cloud_only_in_use())


def _check_depth(data: Any, path: Path | None) -> None:
    """Refuse data nested deeper than a spec can be (specs sent to the API as JSON skip the
    YAML reader's check), walking without recursion."""
    stack: list[tuple[Any, Location]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            raise SpecError.single(
                f"the document is nested more than {MAX_DEPTH} levels deep",
                file=path,
                field=dotted(loc[:MAX_DEPTH]),
            )
        if isinstance(value, dict):
            stack.extend((item, (*loc, str(key))) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*loc, i)) for i, item in enumerate(value))


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


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


def _declared_kind(document: YamlDocument, path: Path) -> SpecKind | None:
    schema = document.data.get("$schema")
    if schema is None:
        return None
    if not isinstance(schema, str):
        raise SpecError.single(
            "$schema must be a URL text",
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    kind = kind_from_schema(schema)
    cloud_only = cloud_only_schema(schema)
    if cloud_only is not None:
        raise SpecError.single(
            not_supported(cloud_only),
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    if kind is None:
        raise SpecError.single(
            f"{known_schema_name(schema)} is not an endpoint or deployment schema",
            file=path,
            line=document.line_of(("$schema",)),
            field="$schema",
        )
    return kind


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


# Error locations.


def _issues(
    exc: ValidationError,
    model: type[BaseModel],
    path: Path | None,
    document: YamlDocument | None,
    overrides: Mapping[str, Any],
) -> list[SpecIssue]:
    errors = [
        (_data_location(tuple(error["loc"]), model), error)
        for error in exc.errors(include_url=False)
    ]
    # `nme: blue` gives both "unknown key nme; did you mean 'name'?" and "name is missing":
    # one mistake, and the hint already says it all.
    hinted: set[Location] = set()
    for loc, error in errors:
        hint = _hint(model, loc) if error["type"] == "extra_forbidden" and loc else None
        if hint is not None:
            hinted.add((*loc[:-1], hint))
    issues: list[SpecIssue] = []
    for loc, error in errors:
        if error["type"] == "missing" and loc in hinted:
            continue
        message = _message(error, model, loc)
        line = document.line_of(loc) if document is not None else None
        override = _override_of(loc, overrides)
        if override is not None:
            message = f"{message} (from the override {override})"
            line = None  # the bad value is not in the file
        issue = SpecIssue(message, file=path, line=line, field=dotted(loc) or None)
        if issue not in issues:
            issues.append(issue)
    issues.sort(key=lambda issue: issue.line or 0)  # file order; stable within a line
    return issues


def _data_location(loc: tuple[int | str, ...], model: type[BaseModel]) -> Location:
    """A pydantic error location as a key path into the user's data.

    Pydantic puts the union branch it tried into locations: our tags ('text', 'mapping') for
    discriminated unions, a member's type name ('ModelRef', 'function-after[...]') for plain
    ones; and '[key]' after a dictionary key that failed. Neither is a key in the data, so both
    are dropped. The walk follows the model's types, so a data key that merely looks like a
    tag is kept.
    """
    result: list[str | int] = []
    current: Any = model
    after_dict_key = False
    for part in loc:
        if after_dict_key and part == "[key]":
            after_dict_key = False
            continue
        current = _unwrap(current)
        branches = _union_branches(current)
        if branches is not None:
            current = _pick_branch(branches, part)
            continue
        result.append(part)
        after_dict_key = typing.get_origin(current) is dict
        current = _child_type(current, part)
    return tuple(result)


def _unwrap(annotation: Any) -> Any:
    """The type under `Annotated[...]` and `X | None`."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if _is_union(annotation):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _union_branches(annotation: Any) -> list[tuple[set[str], Any]] | None:
    """(names pydantic may use for the branch, branch type) for each member of a union."""
    if not _is_union(annotation):
        return None
    branches: list[tuple[set[str], Any]] = []
    for member in typing.get_args(annotation):
        if member is type(None):
            continue
        names: set[str] = set()
        if typing.get_origin(member) is typing.Annotated:
            names.update(m.tag for m in member.__metadata__ if isinstance(m, Tag))
        bare = _unwrap(member)
        if isinstance(bare, type):
            names.add(bare.__name__)
        branches.append((names, bare))
    return branches


def _pick_branch(branches: list[tuple[set[str], Any]], tag: str | int) -> Any:
    for names, member in branches:
        if tag in names:
            return member
        # Plain unions name a validated model branch 'function-after[_check(), Model]'.
        if isinstance(tag, str) and any(tag.endswith(f", {name}]") for name in names):
            return member
    return None


def _child_type(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _model_at(model: type[BaseModel], loc: Location) -> type[BaseModel] | None:
    """The model whose fields live at `loc` (a data key path), taking a union's model branch."""
    current: Any = model
    for part in loc:
        current = _child_type(_model_branch(current), part)
    found = _model_branch(current)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _model_branch(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    for _, member in _union_branches(annotation) or []:
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return annotation


def _hint(model: type[BaseModel], loc: Location) -> str | None:
    """The known key that an unknown key at `loc` most likely meant."""
    found = _model_at(model, loc[:-1])
    if found is None:
        return None
    known = [info.alias or name for name, info in found.model_fields.items()]
    key = str(loc[-1])
    by_lower = {name.lower(): name for name in known}
    if key.lower() in by_lower:
        return by_lower[key.lower()]
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _message(error: ErrorDetails, model: type[BaseModel], loc: Location) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        hint = _hint(model, loc) if loc else None
        return f"unknown key; did you mean {hint!r}?" if hint else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"Input should be a mapping of keys to values, not {_describe(error['input'])}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _override_of(loc: Location, overrides: Mapping[str, Any]) -> str | None:
    """`key=value` of the override that set the value at `loc`, if one did."""
    for key, value in overrides.items():
        parts = tuple(key.split("."))
        if tuple(str(p) for p in loc[: len(parts)]) == parts:
            return f"{key}={value!r}"
    return None
