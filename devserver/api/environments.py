"""Control plane routes of registered environments: create, list, show, archive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from epdev.devserver import views
from epdev.devserver.api.auth import require_admin
from epdev.devserver.api.routes import ControlDep

environments_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_admin)])

View = dict[str, Any]


class EnvironmentCreate(BaseModel):
    spec: dict[str, Any] = Field(
        description="An environment spec (name, version, image, conda_file, build, "
        "description, tags) with absolute paths"
    )


@environments_router.post(
    "/environments", status_code=201, tags=["environments"], response_model=views.EnvironmentView
)
async def create_environment(body: EnvironmentCreate, ctl: ControlDep) -> View:
    return ctl.environments.create(body.spec)


@environments_router.get(
    "/environments", tags=["environments"], response_model=list[views.EnvironmentView]
)
async def list_environments(
    ctl: ControlDep,
    name: Annotated[str | None, Query(description="The versions of one environment")] = None,
    archived: Annotated[bool, Query(description="Include archived versions")] = False,
) -> list[View]:
    return [env.view() for env in ctl.environments.all(name, archived=archived)]


@environments_router.get(
    "/environments/{name}/versions/{version}",
    tags=["environments"],
    response_model=views.EnvironmentView,
)
async def show_environment(name: str, version: str, ctl: ControlDep) -> View:
    return ctl.environments.get(name, None if version == "latest" else version).view()


@environments_router.post("/environments/{name}/archive", status_code=204, tags=["environments"])
async def archive_environment(
    name: str,
    ctl: ControlDep,
    version: Annotated[str | None, Query(description="One version; all without it")] = None,
) -> Response:
    ctl.environments.archive(name, version)
    return Response(status_code=204)
