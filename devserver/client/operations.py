"""The table of the devserver's operations: each one described once, as the request it sends
(method, path with checked and quoted names, body) and the view it is answered with.

`epdev.devserver.client.senders` turns every entry into a method of the sync and the async
client. The views are named here by their annotations (for mypy) and by the `Answer` constants
(at run time, so the CLI need not import them); a test holds the two together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from epdev.devserver.client.request import (
    NOTHING,
    TEXT,
    Answer,
    Json,
    Request,
    SameRequest,
    Steps,
    ViewRequest,
    ViewsRequest,
    bearer_credential,
    params,
    path,
    shaped,
    view,
)

if TYPE_CHECKING:
    from epdev.devserver import views

# What the operations are answered with.
ENDPOINT: Answer[views.EndpointView] = view("EndpointView")
ENDPOINTS: Answer[list[views.EndpointView]] = view("EndpointView", many=True)
CREDENTIALS: Answer[views.Credentials] = view("Credentials")
MIRROR_REPORT: Answer[views.MirrorReport] = view("MirrorReport")
DEPLOYMENT: Answer[views.DeploymentView] = view("DeploymentView")
DEPLOYMENTS: Answer[list[views.DeploymentView]] = view("DeploymentView", many=True)
LOG_PAGE: Answer[views.LogSearchPage] = view("LogSearchPage")
METRICS: Answer[views.EndpointMetrics] = view("EndpointMetrics")
BATCH_ENDPOINT: Answer[views.BatchEndpointView] = view("BatchEndpointView")
BATCH_ENDPOINTS: Answer[list[views.BatchEndpointView]] = view("BatchEndpointView", many=True)
BATCH_DEPLOYMENT: Answer[views.BatchDeploymentView] = view("BatchDeploymentView")
BATCH_DEPLOYMENTS: Answer[list[views.BatchDeploymentView]] = view("BatchDeploymentView", many=True)
JOB: Answer[views.JobView] = view("JobView")
JOBS: Answer[list[views.JobView]] = view("JobView", many=True)
ASSET: Answer[views.AssetView] = view("AssetView")
ASSETS: Answer[list[views.AssetView]] = view("AssetView", many=True)
ENVIRONMENT: Answer[views.EnvironmentView] = view("EnvironmentView")
ENVIRONMENTS: Answer[list[views.EnvironmentView]] = view("EnvironmentView", many=True)


def _job_log(data: dict[str, Any]) -> tuple[str, int]:
    return str(data["text"]), int(data["next_offset"])


def _set(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in changes.items() if v is not None}


def _endpoint(name: str, rest: str = "") -> str:
    return path("/online-endpoints/{}" + rest, ("endpoint", name))


def _deployment(endpoint: str, name: str, rest: str = "") -> str:
    return path(
        "/online-endpoints/{}/deployments/{}" + rest, ("endpoint", endpoint), ("deployment", name)
    )


def _batch_endpoint(name: str, rest: str = "") -> str:
    return path("/batch-endpoints/{}" + rest, ("batch endpoint", name))


def _batch_deployment(endpoint: str, name: str) -> str:
    return path(
        "/batch-endpoints/{}/deployments/{}",
        ("batch endpoint", endpoint),
        ("batch deployment", name),
    )


# Online endpoints


def list_endpoints() -> ViewsRequest[views.EndpointView]:
    return Request("GET", "/online-endpoints", ENDPOINTS)


def get_endpoint(name: str) -> ViewRequest[views.EndpointView]:
    return Request("GET", _endpoint(name), ENDPOINT)


def create_endpoint(
    spec: dict[str, Any], source: str | None, local: bool = False
) -> ViewRequest[views.EndpointView]:
    body: dict[str, Any] = {"spec": spec, "source": source}
    if local:
        body["local"] = True
    return Request("POST", "/online-endpoints", ENDPOINT, json=body)


def update_endpoint(name: str, **changes: Any) -> ViewRequest[views.EndpointView]:
    return Request("PATCH", _endpoint(name), ENDPOINT, json=_set(changes))


def delete_endpoint(name: str) -> SameRequest[None]:
    return Request("DELETE", _endpoint(name), NOTHING)


def mirror_report(name: str) -> ViewRequest[views.MirrorReport]:
    return Request("GET", _endpoint(name, "/mirror-report"), MIRROR_REPORT)


def get_credentials(name: str) -> ViewRequest[views.Credentials]:
    return Request("POST", _endpoint(name, "/list-keys"), CREDENTIALS)


def regenerate_keys(name: str, key_type: str) -> ViewRequest[views.Credentials]:
    return Request(
        "POST", _endpoint(name, "/regenerate-keys"), CREDENTIALS, json={"keyType": key_type}
    )


# Online deployments


def list_deployments(endpoint: str) -> ViewsRequest[views.DeploymentView]:
    return Request("GET", _endpoint(endpoint, "/deployments"), DEPLOYMENTS)


def get_deployment(endpoint: str, name: str) -> ViewRequest[views.DeploymentView]:
    return Request("GET", _deployment(endpoint, name), DEPLOYMENT)


def create_deployment(
    endpoint: str,
    spec: dict[str, Any],
    source: str | None,
    all_traffic: bool,
    runtime: str | None = None,
    watch: bool = False,
) -> ViewRequest[views.DeploymentView]:
    body = {
        "spec": spec,
        "source": source,
        "all_traffic": all_traffic,
        "runtime": runtime,
        "watch": watch,
    }
    return Request("POST", _endpoint(endpoint, "/deployments"), DEPLOYMENT, json=body)


def update_deployment(
    endpoint: str,
    name: str,
    spec: dict[str, Any] | None = None,
    source: str | None = None,
    overrides: dict[str, Any] | None = None,
    only_if_changed: bool = False,
    runtime: str | None = None,
    watch: bool | None = None,
) -> ViewRequest[views.DeploymentView]:
    body: dict[str, Any] = {
        "spec": spec,
        "source": source,
        "set": overrides or {},
        "only_if_changed": only_if_changed,
        "runtime": runtime,
        "watch": watch,
    }
    return Request("PATCH", _deployment(endpoint, name), DEPLOYMENT, json=body)


def restart_deployment(endpoint: str, name: str) -> Steps[views.DeploymentView, Json]:
    """Replace the deployment's instances with new ones of the same spec. (The control
    plane restarts on an update that changes nothing but is not `only_if_changed`.)"""
    count = yield Request(
        "GET",
        _deployment(endpoint, name),
        shaped(lambda data: data.get("instance_count", 1)),
    )
    return update_deployment(endpoint, name, overrides={"instance_count": count})


def delete_deployment(endpoint: str, name: str) -> SameRequest[None]:
    return Request("DELETE", _deployment(endpoint, name), NOTHING)


def deployment_logs(
    endpoint: str, name: str, lines: int | None, instance: str | None = None
) -> SameRequest[str]:
    return Request(
        "GET",
        _deployment(endpoint, name, "/logs"),
        TEXT,
        params=params(lines=lines, instance=instance),
    )


def follow_logs(
    endpoint: str, name: str, lines: int | None, instance: str | None = None
) -> SameRequest[str]:
    """The logs, then every new chunk as the devserver writes it (the senders stream it)."""
    return Request(
        "GET",
        _deployment(endpoint, name, "/logs"),
        TEXT,
        params=params(lines=lines, instance=instance, follow="true"),
        timeout=httpx.Timeout(30.0, read=None),
        doing="following the logs",
    )


def search_logs(
    endpoint: str,
    name: str,
    text: str | None = None,
    *,
    offset: int = 0,
    limit: int = 100,
    instance: str | None = None,
    context: int = 0,
    request_id: str | None = None,
) -> ViewRequest[views.LogSearchPage]:
    """A page of the deployment log's lines containing `text` (or those of one request)."""
    query = params(
        q=text,
        offset=offset,
        limit=limit,
        instance=instance,
        context=context,
        request_id=request_id,
    )
    return Request("GET", _deployment(endpoint, name, "/logs/search"), LOG_PAGE, params=query)


# Metrics and validation


def endpoint_metrics(
    endpoint: str, window: str | None = None, step: str | None = None
) -> ViewRequest[views.EndpointMetrics]:
    query = params(window=window, step=step)
    return Request("GET", _endpoint(endpoint, "/metrics"), METRICS, params=query)


def validate(kind: str, spec: dict[str, Any]) -> SameRequest[None]:
    return Request("POST", "/validate", NOTHING, json={"kind": kind, "spec": spec})


# Data plane


def invoke(
    endpoint: str,
    body: bytes,
    *,
    deployment: str | None = None,
    content_type: str = "application/json",
) -> Steps[httpx.Response, httpx.Response]:
    """Call the endpoint's scoring URI with its primary key, as a user's code would."""
    uri = yield Request("GET", _endpoint(endpoint), shaped(lambda data: str(data["scoring_uri"])))
    key = yield Request("POST", _endpoint(endpoint, "/list-keys"), shaped(bearer_credential))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    return Request(
        "POST",
        uri,
        Answer[httpx.Response](),
        content=body,
        headers=headers,
        scoring=True,
        doing=f"calling {uri}",
    )


# Batch endpoints and deployments


def list_batch_endpoints() -> ViewsRequest[views.BatchEndpointView]:
    return Request("GET", "/batch-endpoints", BATCH_ENDPOINTS)


def get_batch_endpoint(name: str) -> ViewRequest[views.BatchEndpointView]:
    return Request("GET", _batch_endpoint(name), BATCH_ENDPOINT)


def create_batch_endpoint(
    spec: dict[str, Any], source: str | None
) -> ViewRequest[views.BatchEndpointView]:
    body = {"spec": spec, "source": source}
    return Request("POST", "/batch-endpoints", BATCH_ENDPOINT, json=body)


def update_batch_endpoint(name: str, **changes: Any) -> ViewRequest[views.BatchEndpointView]:
    return Request("PATCH", _batch_endpoint(name), BATCH_ENDPOINT, json=_set(changes))


def delete_batch_endpoint(name: str) -> SameRequest[None]:
    return Request("DELETE", _batch_endpoint(name), NOTHING)


def list_batch_deployments(endpoint: str) -> ViewsRequest[views.BatchDeploymentView]:
    return Request("GET", _batch_endpoint(endpoint, "/deployments"), BATCH_DEPLOYMENTS)


def get_batch_deployment(endpoint: str, name: str) -> ViewRequest[views.BatchDeploymentView]:
    return Request("GET", _batch_deployment(endpoint, name), BATCH_DEPLOYMENT)


def create_batch_deployment(
    endpoint: str,
    spec: dict[str, Any],
    source: str | None,
    set_default: bool = False,
    runtime: str | None = None,
) -> ViewRequest[views.BatchDeploymentView]:
    body = {"spec": spec, "source": source, "set_default": set_default, "runtime": runtime}
    return Request("POST", _batch_endpoint(endpoint, "/deployments"), BATCH_DEPLOYMENT, json=body)


def update_batch_deployment(
    endpoint: str, name: str, **changes: Any
) -> ViewRequest[views.BatchDeploymentView]:
    return Request("PATCH", _batch_deployment(endpoint, name), BATCH_DEPLOYMENT, json=_set(changes))


def delete_batch_deployment(endpoint: str, name: str) -> SameRequest[None]:
    return Request("DELETE", _batch_deployment(endpoint, name), NOTHING)


# Jobs


def invoke_batch(endpoint: str, **request: Any) -> ViewRequest[views.JobView]:
    """Start a job (see JobRequest for the fields); answered at once."""
    return Request("POST", _batch_endpoint(endpoint, "/jobs"), JOB, json=_set(request))


def list_jobs(endpoint: str | None = None) -> ViewsRequest[views.JobView]:
    """Every job with its status and progress counts (items done, failed, total)."""
    return Request("GET", "/jobs", JOBS, params=params(endpoint=endpoint))


def get_job(name: str) -> ViewRequest[views.JobView]:
    return Request("GET", path("/jobs/{}", ("job", name)), JOB)


def cancel_job(name: str) -> ViewRequest[views.JobView]:
    return Request("POST", path("/jobs/{}/cancel", ("job", name)), JOB)


def job_logs(name: str, offset: int = 0) -> SameRequest[tuple[str, int]]:
    """The job's log from byte `offset`, and the offset to continue from."""
    return Request(
        "GET", path("/jobs/{}/logs", ("job", name)), shaped(_job_log), params={"offset": offset}
    )


def search_job_logs(
    name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
) -> ViewRequest[views.LogSearchPage]:
    """A page of the job log's lines containing `text`."""
    query = params(q=text, offset=offset, limit=limit, context=context)
    return Request("GET", path("/jobs/{}/logs/search", ("job", name)), LOG_PAGE, params=query)


# Registered data, models and environments


def create_asset(kind: str, **fields: Any) -> ViewRequest[views.AssetView]:
    """`kind` is "data" or "models"."""
    return Request("POST", path("/{}", ("asset kind", kind)), ASSET, json=_set(fields))


def list_assets(kind: str, name: str | None = None) -> ViewsRequest[views.AssetView]:
    return Request("GET", path("/{}", ("asset kind", kind)), ASSETS, params=params(name=name))


def get_asset(kind: str, name: str, version: str | None) -> ViewRequest[views.AssetView]:
    where = path(
        "/{}/{}/versions/{}",
        ("asset kind", kind),
        ("asset", name),
        ("version", version or "latest"),
    )
    return Request("GET", where, ASSET)


def create_environment(spec: dict[str, Any]) -> ViewRequest[views.EnvironmentView]:
    return Request("POST", "/environments", ENVIRONMENT, json={"spec": spec})


def list_environments(
    name: str | None = None, archived: bool = False
) -> ViewsRequest[views.EnvironmentView]:
    query = params(name=name, archived="true" if archived else None)
    return Request("GET", "/environments", ENVIRONMENTS, params=query)


def get_environment(name: str, version: str | None) -> ViewRequest[views.EnvironmentView]:
    where = path(
        "/environments/{}/versions/{}", ("unchecked", name), ("unchecked", version or "latest")
    )
    return Request("GET", where, ENVIRONMENT)


def archive_environment(name: str, version: str | None) -> SameRequest[None]:
    where = path("/environments/{}/archive", ("unchecked", name))
    return Request("POST", where, NOTHING, params=params(version=version))
