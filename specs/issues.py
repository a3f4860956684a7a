"""Pydantic's validation errors as SpecIssues: the location as a key path into the user's data
(not pydantic's union branches), a line, a "did you mean" hint for unknown keys, and the override
that set a bad value."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from epdev.specs.errors import SpecIssue
from epdev.specs.overrides import override_of
from epdev.specs.yamlsource import Location, YamlDocument, dotted


def validation_issues(
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
        override = override_of(loc, overrides)
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
