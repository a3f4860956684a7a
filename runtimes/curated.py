"""Azure's curated environments (`AzureML-sklearn-1.0-...`, `azureml://registries/azureml/
environments/sklearn-1.5/...`) as local requirement lists, kept in one data file
(data/curated_environments.yaml)."""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from typing import Any

import yaml

from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.instance import InstanceFailed

_REGISTRY = re.compile(
    r"^azureml://registries/azureml/environments/(?P<name>[^/@:]+)(?:/(?:versions|labels)/[^/]+)?/?$",
    re.IGNORECASE,
)
_PREFIX = "azureml-"


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    text = files("epdev.runtimes").joinpath("data/curated_environments.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {str(key).lower(): value for key, value in data.items()}


def curated_name(reference: str) -> str | None:
    """The curated environment's name without `AzureML-` when `reference` names one (Azure's
    registry, or a name with Azure's reserved `AzureML-` prefix), else None."""
    match = _REGISTRY.match(reference.strip())
    if match is not None:
        return match.group("name")
    body = reference.strip().removeprefix("azureml:")
    name = re.split(r"[:@]", body, maxsplit=1)[0]
    if name.lower().startswith(_PREFIX):
        return name[len(_PREFIX) :]
    return None


def curated_environment(reference: str) -> PythonEnvironment | None:
    """The local stand-in for a curated environment; None when `reference` is not curated.
    Raises InstanceFailed for a curated name this file does not know."""
    name = curated_name(reference)
    if name is None:
        return None
    table = _table()
    lowered = name.lower()
    keys = [k for k in table if lowered == k or lowered.startswith(k + "-")]
    if not keys:
        raise InstanceFailed(
            f"environment {reference!r} is a curated Azure environment epdev has no local "
            "equivalent for; list its packages in a conda file instead (known: "
            f"{', '.join(sorted(table))})"
        )
    key = max(keys, key=len)
    entry = table[key]
    requirements = tuple(str(r) for r in entry.get("requirements") or ())
    note = (
        f"environment {reference} is Azure's curated {key} (Python {entry.get('cloud_python')} "
        f"in the cloud); locally it is {', '.join(requirements) or 'the worker alone'} on this "
        "machine's Python, so check anything else the cloud image provides"
    )
    return PythonEnvironment(requirements, None, (note,), f"curated environment {key}")
