"""Views of what the registries hold: data and model versions, and environments."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from epdev.devserver.views.base import Timestamp, View


class AssetView(View):
    """A registered data or model version."""

    name: str
    version: str
    type: str
    path: str
    description: str | None
    tags: dict[str, Any]
    properties: dict[str, Any]
    id: str = Field(description="Its azureml:NAME:VERSION reference")
    created_at: Timestamp


class EnvironmentBuild(View):
    path: str
    dockerfile_path: str


class EnvironmentView(View):
    """A registered environment version (keys that would be null are left out)."""

    name: str
    version: str
    id: str = Field(description="Its azureml:NAME:VERSION reference")
    description: str | None = None
    tags: dict[str, str]
    image: str | None = None
    conda_file: str | None = None
    build: EnvironmentBuild | None = None
    os_type: str
    archived: bool
    created_at: Timestamp
