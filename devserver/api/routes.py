"""Control plane routes: online endpoints and their deployments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from epdev.devserver import views
from epdev.devserver.api.auth import require_admin
from epdev.devserver.api.models import (
    DeploymentCreate,
    DeploymentUpdate,
    EndpointCreate,
    EndpointUpdate,
    RegenerateKeys,
    SpecCheck,
)
from epdev.devserver.api.params import DeploymentName, EndpointName
from epdev.devserver.endpoints import Control

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_admin)])
public = APIRouter(prefix="/api/v1")

View = dict[str, Any]


def control(request: Request) -> Control:
    found: Control = request.app.state.control
    return found


ControlDep = Annotated[Control, Depends(control)]


@public.get("/health", tags=["server"], response_model=views.Health)
async def health(request: Request) -> dict[str, Any]:
    """Liveness of the devserver itself (no token needed)."""
    return {"status": "ok", "version": request.app.version}


@router.get("/online-endpoints", tags=["online endpoints"], response_model=list[views.EndpointView])
async def list_endpoints(ctl: ControlDep) -> list[View]:
    return [ctl.endpoint_view(name) for name in ctl.endpoints]


@router.post(
    "/online-endpoints",
    status_code=201,
    tags=["online endpoints"],
    response_model=views.EndpointView,
)
async def create_endpoint(body: EndpointCreate, ctl: ControlDep) -> View:
    return await ctl.create_endpoint(body.spec, body.source, body.local)


@router.get(
    "/online-endpoints/{name}", tags=["online endpoints"], response_model=views.EndpointView
)
async def show_endpoint(name: EndpointName, ctl: ControlDep) -> View:
    return ctl.endpoint_view(name)


@router.patch(
    "/online-endpoints/{name}", tags=["online endpoints"], response_model=views.EndpointView
)
async def update_endpoint(name: EndpointName, body: EndpointUpdate, ctl: ControlDep) -> View:
    return await ctl.update_endpoint(
        name,
        data=body.spec,
        source=body.source,
        traffic=body.traffic,
        mirror_traffic=body.mirror_traffic,
    )


@router.delete("/online-endpoints/{name}", status_code=204, tags=["online endpoints"])
async def delete_endpoint(name: EndpointName, ctl: ControlDep) -> Response:
    await ctl.delete_endpoint(name)
    return Response(status_code=204)


@router.get(
    "/online-endpoints/{name}/mirror-report",
    tags=["online endpoints"],
    response_model=views.MirrorReport,
)
async def mirror_report(name: EndpointName, ctl: ControlDep) -> View:
    """How often the mirror deployment's status or body differed from the live answer."""
    return ctl.mirror_report(name)


@router.post(
    "/online-endpoints/{name}/list-keys",
    tags=["online endpoints"],
    response_model=views.Credentials,
)
async def list_keys(name: EndpointName, ctl: ControlDep) -> dict[str, str]:
    return ctl.credentials(name)


@router.post(
    "/online-endpoints/{name}/regenerate-keys",
    tags=["online endpoints"],
    response_model=views.Credentials,
)
async def regenerate_keys(
    name: EndpointName, body: RegenerateKeys, ctl: ControlDep
) -> dict[str, str]:
    return await ctl.regenerate_key(name, body.key_type)


@router.get(
    "/online-endpoints/{endpoint}/deployments",
    tags=["online deployments"],
    response_model=list[views.DeploymentView],
)
async def list_deployments(endpoint: EndpointName, ctl: ControlDep) -> list[View]:
    entry = ctl.endpoint(endpoint)
    return [ctl.deployments.view(endpoint, name) for name in entry.deployments]


@router.post(
    "/online-endpoints/{endpoint}/deployments",
    status_code=202,
    tags=["online deployments"],
    response_model=views.DeploymentView,
)
async def create_deployment(
    endpoint: EndpointName, body: DeploymentCreate, ctl: ControlDep
) -> View:
    return await ctl.deployments.create(
        endpoint, body.spec, body.source, body.all_traffic, body.runtime, body.watch
    )


@router.get(
    "/online-endpoints/{endpoint}/deployments/{name}",
    tags=["online deployments"],
    response_model=views.DeploymentView,
)
async def show_deployment(endpoint: EndpointName, name: DeploymentName, ctl: ControlDep) -> View:
    return ctl.deployments.view(endpoint, name)


@router.patch(
    "/online-endpoints/{endpoint}/deployments/{name}",
    status_code=202,
    tags=["online deployments"],
    response_model=views.DeploymentView,
)
async def update_deployment(
    endpoint: EndpointName, name: DeploymentName, body: DeploymentUpdate, ctl: ControlDep
) -> View:
    return await ctl.deployments.update(
        endpoint,
        name,
        data=body.spec,
        overrides=body.set,
        source=body.source,
        runtime=body.runtime,
        watch=body.watch,
        only_if_changed=body.only_if_changed,
    )


@router.delete(
    "/online-endpoints/{endpoint}/deployments/{name}", status_code=204, tags=["online deployments"]
)
async def delete_deployment(
    endpoint: EndpointName, name: DeploymentName, ctl: ControlDep
) -> Response:
    await ctl.deployments.delete(endpoint, name)
    return Response(status_code=204)


@router.get(
    "/online-endpoints/{endpoint}/deployments/{name}/logs",
    response_class=PlainTextResponse,
    tags=["online deployments"],
)
async def deployment_logs(
    endpoint: EndpointName,
    name: DeploymentName,
    ctl: ControlDep,
    lines: Annotated[int | None, Query(ge=1, description="Return only the last N lines")] = None,
    instance: Annotated[
        str | None, Query(description="Only the lines of this instance, e.g. blue-0")
    ] = None,
    follow: Annotated[
        bool, Query(description="Keep the response open and stream new lines (chunked text)")
    ] = False,
) -> Response:
    if not follow:
        return PlainTextResponse(ctl.deployments.logs(endpoint, name, lines, instance))
    chunks = ctl.deployments.follow_logs(endpoint, name, lines, instance)

    async def stream() -> AsyncIterator[str]:
        async for chunk in chunks:
            if chunk:  # idle polls yield "", which would end a chunked body
                yield chunk

    return StreamingResponse(
        stream(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/online-endpoints/{endpoint}/deployments/{name}/logs/search", tags=["online deployments"]
)
async def search_deployment_logs(
    endpoint: EndpointName,
    name: DeploymentName,
    ctl: ControlDep,
    q: Annotated[str | None, Query(description="Text to find, ignoring case")] = None,
    offset: Annotated[int, Query(ge=0, description="A page's next_offset")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Matches per page")] = 100,
    instance: Annotated[str | None, Query(description="Only this instance's lines")] = None,
    context: Annotated[int, Query(ge=0, le=50, description="Lines after each match")] = 0,
    request_id: Annotated[
        str | None,
        Query(description="Instead of q: the lines written while this x-request-id's call ran"),
    ] = None,
) -> views.LogSearchPage:
    """Search the deployment's whole log, rotated files included, a page at a time."""
    if request_id is not None:
        ctl.flush_calls()
    page = await asyncio.to_thread(
        ctl.deployments.search_logs,
        endpoint,
        name,
        q,
        offset=offset,
        limit=limit,
        instance=instance,
        context=context,
        request_id=request_id,
    )
    return views.LogSearchPage.model_validate(page, from_attributes=True)


@router.post("/validate", tags=["server"], response_model=views.Validity)
async def validate(body: SpecCheck, ctl: ControlDep, request: Request) -> dict[str, bool]:
    """Check a spec as create or update would, without changing anything."""
    if body.kind.startswith("batch-"):
        request.app.state.batch.check(body.kind, body.spec)
    else:
        ctl.check(body.kind, body.spec)
    return {"valid": True}
