"""Check a spec file, or a folder of them as `epdev apply -f DIR` takes it, before applying:
its errors with line numbers, then what the devserver would create or update."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from epdev.specs import LoadedSpec, SpecError, SpecIssue, load_spec
from epdev.tui.source import ClientError, NotRunning, Source

SPEC_SUFFIXES = (".yml", ".yaml")


@dataclass
class Checked(Message):
    """The outcome of checking a file or folder: `problems` empty means it can be applied.
    `specs` holds each spec to apply, in order (endpoints first), and whether it exists."""

    path: Path
    problems: list[str]
    plan: str | None = None
    specs: list[tuple[LoadedSpec, bool]] = dataclasses.field(default_factory=list)

    @property
    def loaded(self) -> LoadedSpec | None:
        return self.specs[0][0] if self.specs else None


def payload(loaded: LoadedSpec) -> dict[str, Any]:
    """A spec as the REST API takes it: what the user set, with paths made absolute."""
    data: dict[str, Any] = loaded.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data


def _shown(path: Path, cwd: Path) -> Path:
    try:
        return path.resolve().relative_to(cwd.resolve())
    except ValueError:
        return path


def _issue(issue: SpecIssue, cwd: Path) -> str:
    """The issue with its file relative to `cwd` (shorter, and stable)."""
    if issue.file is not None:
        issue = dataclasses.replace(issue, file=_shown(Path(issue.file), cwd))
    return str(issue)


async def check_spec(source: Source, path: Path, cwd: Path) -> Checked:
    """Check the spec file or folder at `path`; file names in problems are relative to `cwd`.

    Raises NotRunning when the devserver cannot be reached.
    """
    if path.is_dir():
        return await _check_folder(source, path, cwd)
    try:
        loaded = load_spec(path)
    except SpecError as exc:
        return Checked(path, [_issue(issue, cwd) for issue in exc.issues])
    except OSError as exc:
        return Checked(path, [f"{_shown(path, cwd)}: {exc.strerror}"])
    data = payload(loaded)
    try:
        endpoints = {e.name: e for e in await source.list_endpoints()}
        if loaded.kind == "online-endpoint":
            exists = loaded.name in endpoints
            without_split = {
                k: v for k, v in data.items() if k not in ("traffic", "mirror_traffic")
            }
            await source.validate(loaded.kind, without_split)
            what = f"endpoint {loaded.name}"
        else:
            endpoint = str(data.get("endpoint_name") or "")
            if endpoint not in endpoints:
                missing = f"endpoint {endpoint!r} does not exist; deploy its endpoint first"
                return Checked(path, [f"{_shown(path, cwd)}: {missing}"])
            exists = loaded.name in endpoints[endpoint].deployments
            await source.validate(loaded.kind, data)
            what = f"deployment {endpoint}/{loaded.name}"
    except NotRunning:
        raise
    except ClientError as exc:
        return Checked(path, [f"{_shown(path, cwd)}: {exc}"])
    plan = f"{'update' if exists else 'create'} {what}"
    notes = [n for n in [loaded.cloud_only_note()] if n]
    return Checked(path, [], plan + "".join(f"\nnote: {n}" for n in notes), [(loaded, exists)])


async def _check_folder(source: Source, folder: Path, cwd: Path) -> Checked:
    """Every spec in the folder, as `epdev apply -f DIR` takes them: endpoints first."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SPEC_SUFFIXES)
    problems: list[str] = []
    loaded_specs: list[LoadedSpec] = []
    for file in files:
        try:
            loaded_specs.append(load_spec(file))
        except SpecError as exc:
            problems += [_issue(issue, cwd) for issue in exc.issues]
        except OSError as exc:
            problems.append(f"{_shown(file, cwd)}: {exc.strerror}")
    loaded_specs = [s for s in loaded_specs if s.kind in ("online-endpoint", "online-deployment")]
    loaded_specs.sort(key=lambda s: s.kind != "online-endpoint")
    if not loaded_specs and not problems:
        problems.append(f"{_shown(folder, cwd)}: no endpoint or deployment spec in it")
    try:
        endpoints = {e.name: e for e in await source.list_endpoints()}
    except NotRunning:
        raise
    except ClientError as exc:
        return Checked(folder, [str(exc)])
    new_endpoints = {s.name for s in loaded_specs if s.kind == "online-endpoint"}
    specs: list[tuple[LoadedSpec, bool]] = []
    plan: list[str] = []
    for loaded in loaded_specs:
        data = payload(loaded)
        if loaded.kind == "online-endpoint":
            exists = loaded.name in endpoints
            what = f"endpoint {loaded.name}"
        else:
            endpoint = str(data.get("endpoint_name") or "")
            if endpoint not in endpoints and endpoint not in new_endpoints:
                problems.append(
                    f"{_shown(Path(str(loaded.path)), cwd)}: endpoint {endpoint!r} "
                    "does not exist and no spec here creates it"
                )
                continue
            exists = endpoint in endpoints and loaded.name in endpoints[endpoint].deployments
            what = f"deployment {endpoint}/{loaded.name}"
            if endpoint in endpoints:  # a new endpoint's deployments are checked on apply
                try:
                    await source.validate(loaded.kind, data)
                except ClientError as exc:
                    problems.append(f"{_shown(Path(str(loaded.path)), cwd)}: {exc}")
                    continue
        specs.append((loaded, exists))
        plan.append(f"{'update' if exists else 'create'} {what}")
    return Checked(folder, problems, "\n".join(plan), specs)
