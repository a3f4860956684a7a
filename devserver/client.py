"""The devserver's HTTP client, shared by the CLI and the dashboard."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from epdev.devserver import names
from epdev.devserver.home import Home

SERVER_ENV = "EPDEV_SERVER"


class ClientError(Exception):
    """A call to the devserver failed; the message is one line a user can act on."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotRunning(ClientError):
    pass


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Trust epdev's local CA (or the system's store when there is no bundle)."""
    return (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    )


@dataclass(frozen=True)
class Connection:
    url: str
    admin_token: str
    ca_bundle: str | None

    @classmethod
    def discover(cls, home: Home | None = None) -> Connection:
        """Find the devserver: `EPDEV_SERVER`, else this home's `server.json`."""
        home = home or Home()
        token = os.environ.get("EPDEV_ADMIN_TOKEN") or home.admin_token()
        explicit = os.environ.get(SERVER_ENV)
        if explicit:
            ca = os.environ.get("EPDEV_CA_BUNDLE") or (
                str(home.ca_bundle) if home.ca_bundle.exists() else None
            )
            if token is None:
                raise NotRunning(
                    f"no admin token: set EPDEV_ADMIN_TOKEN or EPDEV_HOME for {explicit}"
                )
            return cls(explicit.rstrip("/"), token, ca)
        info = home.running_server()
        if info is None or token is None:
            raise NotRunning(
                f"no devserver is running for EPDEV_HOME={home.root}; start one with "
                "`epdev serve --detach`"
            )
        return cls(info.url, token, info.ca_bundle)

    def verify(self) -> ssl.SSLContext | bool:
        return ssl_context(self.ca_bundle) if self.url.startswith("https") else True

    @classmethod
    def at(cls, url: str, home: Home | None = None) -> Connection:
        """The devserver at `url` (as `epdev --server URL` names one): the token and CA come
        from EPDEV_ADMIN_TOKEN and EPDEV_CA_BUNDLE, else from this home."""
        home = home or Home()
        token = os.environ.get("EPDEV_ADMIN_TOKEN") or home.admin_token()
        if token is None:
            raise NotRunning(f"no admin token: set EPDEV_ADMIN_TOKEN or EPDEV_HOME for {url}")
        ca = os.environ.get("EPDEV_CA_BUNDLE") or (
            str(home.ca_bundle) if home.ca_bundle.exists() else None
        )
        return cls(url.rstrip("/"), token, ca)


class Client:
    """Synchronous client of the control plane (and of scoring URIs, for `invoke`)."""

    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.connection = connection
        self._http = httpx.Client(
            base_url=connection.url,
            headers={"Authorization": f"Bearer {connection.admin_token}"},
            verify=connection.verify(),
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.ConnectError as exc:
            raise NotRunning(
                f"cannot reach the devserver at {self.connection.url}: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to the devserver failed: {exc}") from None
        if response.status_code >= 400:
            raise ClientError(_error_message(response), response.status_code)
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # Online endpoints

    def list_endpoints(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/online-endpoints")
        return result

    def get_endpoint(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", _path("/online-endpoints/{}", ("endpoint", name))
        )
        return result

    def create_endpoint(
        self, spec: dict[str, Any], source: str | None, local: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": spec, "source": source}
        if local:
            body["local"] = True
        result: dict[str, Any] = self._call("POST", "/online-endpoints", json=body)
        return result

    def update_endpoint(self, name: str, **changes: Any) -> dict[str, Any]:
        body = {k: v for k, v in changes.items() if v is not None}
        result: dict[str, Any] = self._call(
            "PATCH", _path("/online-endpoints/{}", ("endpoint", name)), json=body
        )
        return result

    def delete_endpoint(self, name: str) -> None:
        self._call("DELETE", _path("/online-endpoints/{}", ("endpoint", name)))

    def mirror_report(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", _path("/online-endpoints/{}/mirror-report", ("endpoint", name))
        )
        return result

    def get_credentials(self, name: str) -> dict[str, str]:
        result: dict[str, str] = self._call(
            "POST", _path("/online-endpoints/{}/list-keys", ("endpoint", name))
        )
        return result

    def regenerate_keys(self, name: str, key_type: str) -> dict[str, str]:
        result: dict[str, str] = self._call(
            "POST",
            _path("/online-endpoints/{}/regenerate-keys", ("endpoint", name)),
            json={"keyType": key_type},
        )
        return result

    # Online deployments

    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", _path("/online-endpoints/{}/deployments", ("endpoint", endpoint))
        )
        return result

    def get_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
        )
        return result

    def create_deployment(
        self,
        endpoint: str,
        spec: dict[str, Any],
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> dict[str, Any]:
        body = {
            "spec": spec,
            "source": source,
            "all_traffic": all_traffic,
            "runtime": runtime,
            "watch": watch,
        }
        result: dict[str, Any] = self._call(
            "POST", _path("/online-endpoints/{}/deployments", ("endpoint", endpoint)), json=body
        )
        return result

    def update_deployment(
        self,
        endpoint: str,
        name: str,
        spec: dict[str, Any] | None = None,
        source: str | None = None,
        overrides: dict[str, Any] | None = None,
        only_if_changed: bool = False,
        runtime: str | None = None,
        watch: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "spec": spec,
            "source": source,
            "set": overrides or {},
            "only_if_changed": only_if_changed,
            "runtime": runtime,
            "watch": watch,
        }
        result: dict[str, Any] = self._call(
            "PATCH",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
            json=body,
        )
        return result

    def restart_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        """Replace the deployment's instances with new ones of the same spec. (The control
        plane restarts on an update that changes nothing but is not `only_if_changed`.)"""
        count = self.get_deployment(endpoint, name).get("instance_count", 1)
        return self.update_deployment(endpoint, name, overrides={"instance_count": count})

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._call(
            "DELETE",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
        )

    def deployment_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> str:
        params = _params(lines=lines, instance=instance)
        result: str = self._call(
            "GET",
            _path(
                "/online-endpoints/{}/deployments/{}/logs",
                ("endpoint", endpoint),
                ("deployment", name),
            ),
            params=params,
        )
        return result

    def search_logs(
        self,
        endpoint: str,
        name: str,
        text: str | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        instance: str | None = None,
        context: int = 0,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """A page of the deployment log's lines containing `text` (or those of one request)."""
        params = _params(
            q=text,
            offset=offset,
            limit=limit,
            instance=instance,
            context=context,
            request_id=request_id,
        )
        result: dict[str, Any] = self._call(
            "GET", f"/online-endpoints/{endpoint}/deployments/{name}/logs/search", params=params
        )
        return result

    def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> Iterator[str]:
        """The logs, then every new line as the devserver writes it, until the caller stops."""
        params = _params(lines=lines, instance=instance, follow="true")
        path = _path(
            "/api/v1/online-endpoints/{}/deployments/{}/logs",
            ("endpoint", endpoint),
            ("deployment", name),
        )
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(_error_message(response), response.status_code)
                yield from response.iter_text()
        except httpx.ConnectError as exc:
            raise NotRunning(
                f"cannot reach the devserver at {self.connection.url}: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"following the logs failed: {exc}") from None

    # Metrics

    def endpoint_metrics(
        self, endpoint: str, window: str | None = None, step: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET",
            _path("/online-endpoints/{}/metrics", ("endpoint", endpoint)),
            params=_params(window=window, step=step),
        )
        return result

    def validate(self, kind: str, spec: dict[str, Any]) -> None:
        self._call("POST", "/validate", json={"kind": kind, "spec": spec})

    # Data plane

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """Call the endpoint's scoring URI with its primary key, as a user's code would."""
        view = self.get_endpoint(endpoint)
        key = bearer_credential(self.get_credentials(endpoint))
        headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        try:
            return self._http.post(view["scoring_uri"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ClientError(f"calling {view['scoring_uri']} failed: {exc}") from None

    # Batch endpoints, jobs and the registry

    def list_batch_endpoints(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/batch-endpoints")
        return result

    def get_batch_endpoint(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", _path("/batch-endpoints/{}", ("batch endpoint", name))
        )
        return result

    def create_batch_endpoint(self, spec: dict[str, Any], source: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/batch-endpoints", json={"spec": spec, "source": source}
        )
        return result

    def update_batch_endpoint(self, name: str, **changes: Any) -> dict[str, Any]:
        body = {k: v for k, v in changes.items() if v is not None}
        result: dict[str, Any] = self._call(
            "PATCH", _path("/batch-endpoints/{}", ("batch endpoint", name)), json=body
        )
        return result

    def delete_batch_endpoint(self, name: str) -> None:
        self._call("DELETE", _path("/batch-endpoints/{}", ("batch endpoint", name)))

    def list_batch_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", _path("/batch-endpoints/{}/deployments", ("batch endpoint", endpoint))
        )
        return result

    def get_batch_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET",
            _path(
                "/batch-endpoints/{}/deployments/{}",
                ("batch endpoint", endpoint),
                ("batch deployment", name),
            ),
        )
        return result

    def create_batch_deployment(
        self,
        endpoint: str,
        spec: dict[str, Any],
        source: str | None,
        set_default: bool = False,
        runtime: str | None = None,
    ) -> dict[str, Any]:
        body = {"spec": spec, "source": source, "set_default": set_default, "runtime": runtime}
        result: dict[str, Any] = self._call(
            "POST",
            _path("/batch-endpoints/{}/deployments", ("batch endpoint", endpoint)),
            json=body,
        )
        return result

    def update_batch_deployment(self, endpoint: str, name: str, **changes: Any) -> dict[str, Any]:
        body = {k: v for k, v in changes.items() if v is not None}
        result: dict[str, Any] = self._call(
            "PATCH",
            _path(
                "/batch-endpoints/{}/deployments/{}",
                ("batch endpoint", endpoint),
                ("batch deployment", name),
            ),
            json=body,
        )
        return result

    def delete_batch_deployment(self, endpoint: str, name: str) -> None:
        self._call(
            "DELETE",
            _path(
                "/batch-endpoints/{}/deployments/{}",
                ("batch endpoint", endpoint),
                ("batch deployment", name),
            ),
        )

    def invoke_batch(self, endpoint: str, **request: Any) -> dict[str, Any]:
        """Start a job (see JobRequest for the fields); returns it at once."""
        body = {k: v for k, v in request.items() if v is not None}
        result: dict[str, Any] = self._call(
            "POST", _path("/batch-endpoints/{}/jobs", ("batch endpoint", endpoint)), json=body
        )
        return result

    def list_jobs(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/jobs", params=_params(endpoint=endpoint))
        return result

    def get_job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", _path("/jobs/{}", ("job", name)))
        return result

    def cancel_job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", _path("/jobs/{}/cancel", ("job", name)))
        return result

    def job_logs(self, name: str, offset: int = 0) -> tuple[str, int]:
        """The job's log from byte `offset`, and the offset to continue from."""
        result: dict[str, Any] = self._call(
            "GET", _path("/jobs/{}/logs", ("job", name)), params={"offset": offset}
        )
        return str(result["text"]), int(result["next_offset"])

    def search_job_logs(
        self, name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
    ) -> dict[str, Any]:
        """A page of the job log's lines containing `text`."""
        params = _params(q=text, offset=offset, limit=limit, context=context)
        result: dict[str, Any] = self._call("GET", f"/jobs/{name}/logs/search", params=params)
        return result

    def create_asset(self, kind: str, **fields: Any) -> dict[str, Any]:
        """`kind` is "data" or "models"."""
        body = {k: v for k, v in fields.items() if v is not None}
        result: dict[str, Any] = self._call("POST", _path("/{}", ("asset kind", kind)), json=body)
        return result

    def list_assets(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", _path("/{}", ("asset kind", kind)), params=_params(name=name)
        )
        return result

    def get_asset(self, kind: str, name: str, version: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET",
            _path(
                "/{}/{}/versions/{}",
                ("asset kind", kind),
                ("asset", name),
                ("version", version or "latest"),
            ),
        )
        return result

    def create_environment(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/environments", json={"spec": spec})
        return result

    def list_environments(
        self, name: str | None = None, archived: bool = False
    ) -> list[dict[str, Any]]:
        params = _params(name=name, archived="true" if archived else None)
        result: list[dict[str, Any]] = self._call("GET", "/environments", params=params)
        return result

    def get_environment(self, name: str, version: str | None) -> dict[str, Any]:
        path = f"/environments/{name}/versions/{version or 'latest'}"
        result: dict[str, Any] = self._call("GET", path)
        return result

    def archive_environment(self, name: str, version: str | None) -> None:
        self._call("POST", f"/environments/{name}/archive", params=_params(version=version))


ASSET_KINDS = ("data", "models")


def _path(template: str, *named: tuple[names.NameKind | Literal["asset kind"], str]) -> str:
    """The one way a name enters a URL: checked against Azure's pattern (a one-line ClientError
    before anything is sent), then quoted as a single path segment."""
    segments = []
    for kind, value in named:
        if kind == "asset kind":
            if value not in ASSET_KINDS:
                raise ClientError(f"asset kind {value!r} is not one of {', '.join(ASSET_KINDS)}")
            segments.append(value)
            continue
        try:
            segments.append(names.segment(kind, value))
        except names.InvalidName as exc:
            raise ClientError(str(exc)) from None
    return template.format(*segments)


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def bearer_credential(credentials: dict[str, str]) -> str:
    """What goes after `Bearer`: the primary key, or the access token of a token endpoint."""
    return credentials.get("primaryKey") or credentials["accessToken"]


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:500]}"
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if "message" in payload:
            return str(payload["message"])
        if "detail" in payload:
            return str(payload["detail"])
    return f"HTTP {response.status_code}: {payload}"


class AsyncClient:
    """Asynchronous twin of `Client`, for the dashboard: one connection pool shared by every
    call, so a refresh a second costs no new TLS handshakes."""

    def __init__(self, connection: Connection, timeout: float = 10.0) -> None:
        self.connection = connection
        self._http = httpx.AsyncClient(
            base_url=connection.url,
            headers={"Authorization": f"Bearer {connection.admin_token}"},
            verify=connection.verify(),
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.ConnectError as exc:
            raise NotRunning(
                f"cannot reach the devserver at {self.connection.url}: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to the devserver failed: {exc}") from None
        if response.status_code >= 400:
            raise ClientError(_error_message(response), response.status_code)
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # Online endpoints

    async def list_endpoints(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/online-endpoints")
        return result

    async def get_endpoint(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "GET", _path("/online-endpoints/{}", ("endpoint", name))
        )
        return result

    async def create_endpoint(self, spec: dict[str, Any], source: str | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/online-endpoints", json={"spec": spec, "source": source}
        )
        return result

    async def update_endpoint(self, name: str, **changes: Any) -> dict[str, Any]:
        body = {k: v for k, v in changes.items() if v is not None}
        result: dict[str, Any] = await self._call(
            "PATCH", _path("/online-endpoints/{}", ("endpoint", name)), json=body
        )
        return result

    async def delete_endpoint(self, name: str) -> None:
        await self._call("DELETE", _path("/online-endpoints/{}", ("endpoint", name)))

    async def get_credentials(self, name: str) -> dict[str, str]:
        result: dict[str, str] = await self._call(
            "POST", _path("/online-endpoints/{}/list-keys", ("endpoint", name))
        )
        return result

    async def mirror_report(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/online-endpoints/{name}/mirror-report")
        return result

    async def regenerate_keys(self, name: str, key_type: str) -> dict[str, str]:
        result: dict[str, str] = await self._call(
            "POST",
            _path("/online-endpoints/{}/regenerate-keys", ("endpoint", name)),
            json={"keyType": key_type},
        )
        return result

    # Online deployments

    async def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            "GET", _path("/online-endpoints/{}/deployments", ("endpoint", endpoint))
        )
        return result

    async def get_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "GET",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
        )
        return result

    async def create_deployment(
        self,
        endpoint: str,
        spec: dict[str, Any],
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> dict[str, Any]:
        body = {
            "spec": spec,
            "source": source,
            "all_traffic": all_traffic,
            "runtime": runtime,
            "watch": watch,
        }
        result: dict[str, Any] = await self._call(
            "POST", _path("/online-endpoints/{}/deployments", ("endpoint", endpoint)), json=body
        )
        return result

    async def update_deployment(
        self,
        endpoint: str,
        name: str,
        spec: dict[str, Any] | None = None,
        source: str | None = None,
        overrides: dict[str, Any] | None = None,
        only_if_changed: bool = False,
        runtime: str | None = None,
        watch: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "spec": spec,
            "source": source,
            "set": overrides or {},
            "only_if_changed": only_if_changed,
            "runtime": runtime,
            "watch": watch,
        }
        result: dict[str, Any] = await self._call(
            "PATCH",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
            json=body,
        )
        return result

    async def restart_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        """Replace the deployment's instances with new ones of the same spec. (The control
        plane restarts on an update that changes nothing but is not `only_if_changed`.)"""
        count = (await self.get_deployment(endpoint, name)).get("instance_count", 1)
        return await self.update_deployment(endpoint, name, overrides={"instance_count": count})

    async def delete_deployment(self, endpoint: str, name: str) -> None:
        await self._call(
            "DELETE",
            _path(
                "/online-endpoints/{}/deployments/{}", ("endpoint", endpoint), ("deployment", name)
            ),
        )

    async def deployment_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> str:
        params = _params(lines=lines, instance=instance)
        result: str = await self._call(
            "GET",
            _path(
                "/online-endpoints/{}/deployments/{}/logs",
                ("endpoint", endpoint),
                ("deployment", name),
            ),
            params=params,
        )
        return result

    async def search_logs(
        self,
        endpoint: str,
        name: str,
        text: str | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        instance: str | None = None,
        context: int = 0,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """A page of the deployment log's lines containing `text` (or those of one request)."""
        params = _params(
            q=text,
            offset=offset,
            limit=limit,
            instance=instance,
            context=context,
            request_id=request_id,
        )
        result: dict[str, Any] = await self._call(
            "GET", f"/online-endpoints/{endpoint}/deployments/{name}/logs/search", params=params
        )
        return result

    async def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> AsyncIterator[str]:
        """The logs, then every new chunk as the devserver writes it, until the caller stops."""
        params = _params(lines=lines, instance=instance, follow="true")
        path = _path(
            "/api/v1/online-endpoints/{}/deployments/{}/logs",
            ("endpoint", endpoint),
            ("deployment", name),
        )
        try:
            async with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ClientError(_error_message(response), response.status_code)
                async for chunk in response.aiter_text():
                    yield chunk
        except httpx.ConnectError as exc:
            raise NotRunning(
                f"cannot reach the devserver at {self.connection.url}: {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"following the logs failed: {exc}") from None

    # Metrics

    async def endpoint_metrics(
        self, endpoint: str, window: str | None = None, step: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "GET",
            _path("/online-endpoints/{}/metrics", ("endpoint", endpoint)),
            params=_params(window=window, step=step),
        )
        return result

    async def validate(self, kind: str, spec: dict[str, Any]) -> None:
        await self._call("POST", "/validate", json={"kind": kind, "spec": spec})

    # Data plane

    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """Call the endpoint's scoring URI with its primary key, as a user's code would."""
        view = await self.get_endpoint(endpoint)
        key = bearer_credential(await self.get_credentials(endpoint))
        headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        try:
            return await self._http.post(
                view["scoring_uri"], content=body, headers=headers, timeout=60.0
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"calling {view['scoring_uri']} failed: {exc}") from None

    # Batch jobs, for the dashboard's jobs view

    async def list_jobs(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Every job with its status and progress counts (items done, failed, total)."""
        result: list[dict[str, Any]] = await self._call(
            "GET", "/jobs", params=_params(endpoint=endpoint)
        )
        return result

    async def get_job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", _path("/jobs/{}", ("job", name)))
        return result

    async def cancel_job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", _path("/jobs/{}/cancel", ("job", name)))
        return result

    async def job_logs(self, name: str, offset: int = 0) -> tuple[str, int]:
        result: dict[str, Any] = await self._call(
            "GET", _path("/jobs/{}/logs", ("job", name)), params={"offset": offset}
        )
        return str(result["text"]), int(result["next_offset"])

    async def search_job_logs(
        self, name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
    ) -> dict[str, Any]:
        """A page of the job log's lines containing `text`."""
        params = _params(q=text, offset=offset, limit=limit, context=context)
        result: dict[str, Any] = await self._call("GET", f"/jobs/{name}/logs/search", params=params)
        return result

    async def invoke_batch(self, endpoint: str, **request: Any) -> dict[str, Any]:
        """Start a job (see JobRequest for the fields); returns it at once."""
        body = {k: v for k, v in request.items() if v is not None}
        result: dict[str, Any] = await self._call(
            "POST", f"/batch-endpoints/{endpoint}/jobs", json=body
        )
        return result

    async def list_batch_endpoints(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/batch-endpoints")
        return result
