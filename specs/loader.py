"""Loading one spec: its YAML read with line numbers, its kind found, validated into a model or
refused with errors that name file, line and field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from epdev.specs.base import PIPELINE_DEPLOYMENT, SpecModel, not_supported
from epdev.specs.errors import SpecError
from epdev.specs.issues import validation_issues
from epdev.specs.kinds import (
    MODELS,
    SpecKind,
    cloud_only_schema,
    guess_kind,
    kind_from_schema,
    known_schema_name,
)
from epdev.specs.overrides import apply_overrides
from epdev.specs.yamlsource import MAX_DEPTH, Location, YamlDocument, dotted, read_yaml


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
    return load_document(path, read_yaml(path), kind, overrides, check_files)


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


def load_document(
    path: Path,
    document: YamlDocument,
    kind: SpecKind | None,
    overrides: Mapping[str, Any] | None,
    check_files: bool,
) -> LoadedSpec:
    """Validate one read YAML document as a spec (of `kind` when the caller knows it)."""
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
        raise SpecError(validation_issues(exc, model, path, document, overrides)) from None
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
