"""Control plane routes for batch endpoints, their deployments, jobs, and the data and model
registry."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from epdev.devserver import views
from epdev.devserver.api.auth import require_admin
from epdev.devserver.api.batch_models import (
    AssetCreate,
    BatchDeploymentCreate,
    BatchDeploymentUpdate,
    BatchEndpointUpdate,
    JobRequest,
)
from epdev.devserver.api.models import SpecBody
from epdev.devserver.api.params import (
    AssetFilter,
    AssetName,
    AssetVersion,
    DeploymentName,
    EndpointFilter,
    EndpointName,
    JobName,
)
from epdev.devserver.assets import AssetKind
from epdev.devserver.batch.control import BatchControl

batch_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_admin)])

View = dict[str, Any]


def batch_control(request: Request) -> BatchControl:
    found: BatchControl = request.app.state.batch
    return found


BatchDep = Annotated[BatchControl, Depends(batch_control)]


@batch_router.get(
    "/batch-endpoints", tags=["batch endpoints"], response_model=list[views.BatchEndpointView]
)
async def list_batch_endpoints(ctl: BatchDep) -> list[View]:
    return [ctl.endpoint_view(name) for name in ctl.endpoint_names()]


@batch_router.post(
    "/batch-endpoints",
    status_code=201,
    tags=["batch endpoints"],
    response_model=views.BatchEndpointView,
)
async def create_batch_endpoint(body: SpecBody, ctl: BatchDep) -> View:
    return await ctl.create_endpoint(body.spec, body.source)


@batch_router.get(
    "/batch-endpoints/{name}", tags=["batch endpoints"], response_model=views.BatchEndpointView
)
async def show_batch_endpoint(name: EndpointName, ctl: BatchDep) -> View:
    return ctl.endpoint_view(name)


@batch_router.patch(
    "/batch-endpoints/{name}", tags=["batch endpoints"], response_model=views.BatchEndpointView
)
async def update_batch_endpoint(
    name: EndpointName, body: BatchEndpointUpdate, ctl: BatchDep
) -> View:
    return await ctl.update_endpoint(name, body.spec, body.source, body.default_deployment)


@batch_router.delete("/batch-endpoints/{name}", status_code=204, tags=["batch endpoints"])
async def delete_batch_endpoint(name: EndpointName, ctl: BatchDep) -> Response:
    await ctl.delete_endpoint(name)
    return Response(status_code=204)


@batch_router.get(
    "/batch-endpoints/{endpoint}/deployments",
    tags=["batch deployments"],
    response_model=list[views.BatchDeploymentView],
)
async def list_batch_deployments(endpoint: EndpointName, ctl: BatchDep) -> list[View]:
    ctl.endpoint_view(endpoint)
    return [ctl.deployment_view(endpoint, name) for name in ctl.deployment_names(endpoint)]


@batch_router.post(
    "/batch-endpoints/{endpoint}/deployments",
    status_code=201,
    tags=["batch deployments"],
    response_model=views.BatchDeploymentView,
)
async def create_batch_deployment(
    endpoint: EndpointName, body: BatchDeploymentCreate, ctl: BatchDep
) -> View:
    return await ctl.create_deployment(
        endpoint, body.spec, body.source, body.set_default, body.runtime
    )


@batch_router.get(
    "/batch-endpoints/{endpoint}/deployments/{name}",
    tags=["batch deployments"],
    response_model=views.BatchDeploymentView,
)
async def show_batch_deployment(
    endpoint: EndpointName, name: DeploymentName, ctl: BatchDep
) -> View:
    return ctl.deployment_view(endpoint, name)


@batch_router.patch(
    "/batch-endpoints/{endpoint}/deployments/{name}",
    tags=["batch deployments"],
    response_model=views.BatchDeploymentView,
)
async def update_batch_deployment(
    endpoint: EndpointName, name: DeploymentName, body: BatchDeploymentUpdate, ctl: BatchDep
) -> View:
    return await ctl.update_deployment(
        endpoint, name, body.spec, body.set, body.source, body.set_default, body.runtime
    )


@batch_router.delete(
    "/batch-endpoints/{endpoint}/deployments/{name}", status_code=204, tags=["batch deployments"]
)
async def delete_batch_deployment(
    endpoint: EndpointName, name: DeploymentName, ctl: BatchDep
) -> Response:
    await ctl.delete_deployment(endpoint, name)
    return Response(status_code=204)


@batch_router.post(
    "/batch-endpoints/{endpoint}/jobs",
    status_code=202,
    tags=["jobs"],
    response_model=views.JobView,
)
async def invoke_batch_endpoint(endpoint: EndpointName, body: JobRequest, ctl: BatchDep) -> View:
    """Start a job on the endpoint (its default deployment unless one is named); returns the
    job at once."""
    return await ctl.invoke(
        endpoint,
        deployment=body.deployment_name,
        input=body.input,
        input_type=body.input_type,
        output_path=body.output_path,
        job_name=body.job_name,
        mini_batch_size=body.mini_batch_size,
        instance_count=body.instance_count,
        overrides=body.set,
        engine=body.engine,
    )


@batch_router.get(
    "/batch-endpoints/{endpoint}/jobs", tags=["jobs"], response_model=list[views.JobView]
)
async def list_endpoint_jobs(endpoint: EndpointName, ctl: BatchDep) -> list[View]:
    return ctl.list_jobs(endpoint)


@batch_router.get("/jobs", tags=["jobs"], response_model=list[views.JobView])
async def list_jobs(ctl: BatchDep, endpoint: EndpointFilter = None) -> list[View]:
    return ctl.list_jobs(endpoint)


@batch_router.get("/jobs/{name}", tags=["jobs"], response_model=views.JobView)
async def show_job(name: JobName, ctl: BatchDep) -> View:
    return ctl.jobs.view(name)


@batch_router.post("/jobs/{name}/cancel", tags=["jobs"], response_model=views.JobView)
async def cancel_job(name: JobName, ctl: BatchDep) -> View:
    return await ctl.jobs.cancel(name)


@batch_router.get("/jobs/{name}/logs", tags=["jobs"], response_model=views.JobLog)
async def job_logs(
    name: JobName,
    ctl: BatchDep,
    offset: Annotated[int, Query(ge=0, description="Byte offset to read the job log from")] = 0,
) -> View:
    """The job's log from byte `offset` on, and `next_offset` to continue from."""
    text, next_offset = ctl.jobs.logs(name, offset)
    return {"text": text, "next_offset": next_offset}


@batch_router.get("/jobs/{name}/logs/search", tags=["jobs"])
async def search_job_logs(
    name: JobName,
    ctl: BatchDep,
    q: Annotated[str, Query(min_length=1, description="Text to find, ignoring case")],
    offset: Annotated[int, Query(ge=0, description="A page's next_offset")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Matches per page")] = 100,
    context: Annotated[int, Query(ge=0, le=50, description="Lines after each match")] = 0,
) -> views.LogSearchPage:
    """Search the job's whole log, a page at a time."""
    page = await asyncio.to_thread(ctl.jobs.search_logs, name, q, offset, limit, context)
    return views.LogSearchPage.model_validate(page, from_attributes=True)


def _asset_routes(kind: AssetKind, path: str, tag: str) -> None:
    @batch_router.post(
        f"/{path}",
        status_code=201,
        tags=[tag],
        name=f"create_{kind}",
        response_model=views.AssetView,
    )
    async def create(body: AssetCreate, ctl: BatchDep) -> View:
        return ctl.registry.create(
            kind,
            body.name,
            body.version,
            body.path,
            body.type,
            body.description,
            body.tags,
            body.properties,
        )

    @batch_router.get(
        f"/{path}", tags=[tag], name=f"list_{kind}", response_model=list[views.AssetView]
    )
    async def list_all(ctl: BatchDep, name: AssetFilter = None) -> list[View]:
        return [asset.view() for asset in ctl.registry.all(kind, name)]

    @batch_router.get(
        f"/{path}/{{name}}/versions/{{version}}",
        tags=[tag],
        name=f"show_{kind}",
        response_model=views.AssetView,
    )
    async def show(name: AssetName, version: AssetVersion, ctl: BatchDep) -> View:
        return ctl.registry.get(kind, name, None if version == "latest" else version).view()


_asset_routes("data", "data", "data")
_asset_routes("model", "models", "models")
