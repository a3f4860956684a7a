"""The sync and the async client: thin senders of the operations in the table.

Each operation is written once in `operations`; `_Op` makes it a method of both clients that
builds the request, sends it with httpx (`build_request` is shared by `httpx.Client` and
`httpx.AsyncClient`) and reads the answer. The async client (the dashboard's) answers views; the
sync client (the CLI's, `epdev apply`'s and the pytest plugin's) answers the JSON the CLI prints
unchanged, without loading pydantic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from epdev.devserver.client import operations as ops
from epdev.devserver.client.connection import Connection
from epdev.devserver.client.errors import ClientError, error_message
from epdev.devserver.client.request import Request, Steps, failed, read

A = ParamSpec("A")
T = TypeVar("T")
P = TypeVar("P")
Op = Callable[A, Request[T, P]] | Callable[A, Steps[T, P]]


def _steps(made: Request[T, P] | Steps[T, P]) -> Steps[T, P]:
    """Every operation as steps: a single request is the last step of none."""
    if isinstance(made, Request):
        return made
    return (yield from made)


class _Op(Generic[A, T, P]):
    """An operation of the table as a method: of `Client` it answers as plain JSON (`P`), of
    `AsyncClient` it is a coroutine answering the view (`T`)."""

    def __init__(self, op: Op[A, T, P]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> _Op[A, T, P]: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type[Any]
    ) -> Callable[A, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[A, P]: ...
    def __get__(self, client: Client | AsyncClient | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        op = self.op
        if isinstance(client, AsyncClient):
            sender = client

            async def answer(*args: A.args, **kwargs: A.kwargs) -> T:
                steps = _steps(op(*args, **kwargs))
                try:
                    request = next(steps)
                    while True:
                        request = steps.send(await sender.send(request))
                except StopIteration as done:
                    last: Request[T, P] = done.value
                result: T = await sender.send(last)
                return result

            return answer

        def call(*args: A.args, **kwargs: A.kwargs) -> P:
            steps = _steps(op(*args, **kwargs))
            try:
                request = next(steps)
                while True:
                    request = steps.send(client.send(request))
            except StopIteration as done:
                last: Request[T, P] = done.value
            result: P = client.send(last)
            return result

        return call


class _Base:
    def __init__(self, connection: Connection, http: httpx.Client | httpx.AsyncClient) -> None:
        self.connection = connection
        self._http = http

    @staticmethod
    def _options(connection: Connection, timeout: float, transport: Any) -> dict[str, Any]:
        return {
            "base_url": connection.url,
            "headers": {"Authorization": f"Bearer {connection.admin_token}"},
            "verify": connection.verify(),
            "timeout": timeout,
            "transport": transport,
        }

    def _build(self, request: Request[Any, Any]) -> httpx.Request:
        return self._http.build_request(
            request.method,
            request.url(),
            json=request.json,
            params=request.params,
            content=request.content,
            headers=request.headers,
            timeout=request.timeout or self.request_timeout(request),
        )

    def request_timeout(self, request: Request[Any, Any]) -> float | httpx.Timeout:
        return self._http.timeout

    def _failed(self, request: Request[Any, Any], exc: httpx.HTTPError) -> ClientError:
        return failed(request, self.connection.url, exc)


class _Operations:
    """Every operation of the table, as a method of both clients."""

    list_endpoints = _Op(ops.list_endpoints)
    get_endpoint = _Op(ops.get_endpoint)
    create_endpoint = _Op(ops.create_endpoint)
    update_endpoint = _Op(ops.update_endpoint)
    delete_endpoint = _Op(ops.delete_endpoint)
    mirror_report = _Op(ops.mirror_report)
    get_credentials = _Op(ops.get_credentials)
    regenerate_keys = _Op(ops.regenerate_keys)
    list_deployments = _Op(ops.list_deployments)
    get_deployment = _Op(ops.get_deployment)
    create_deployment = _Op(ops.create_deployment)
    update_deployment = _Op(ops.update_deployment)
    restart_deployment = _Op(ops.restart_deployment)
    delete_deployment = _Op(ops.delete_deployment)
    deployment_logs = _Op(ops.deployment_logs)
    search_logs = _Op(ops.search_logs)
    endpoint_metrics = _Op(ops.endpoint_metrics)
    validate = _Op(ops.validate)
    invoke = _Op(ops.invoke)
    list_batch_endpoints = _Op(ops.list_batch_endpoints)
    get_batch_endpoint = _Op(ops.get_batch_endpoint)
    create_batch_endpoint = _Op(ops.create_batch_endpoint)
    update_batch_endpoint = _Op(ops.update_batch_endpoint)
    delete_batch_endpoint = _Op(ops.delete_batch_endpoint)
    list_batch_deployments = _Op(ops.list_batch_deployments)
    get_batch_deployment = _Op(ops.get_batch_deployment)
    create_batch_deployment = _Op(ops.create_batch_deployment)
    update_batch_deployment = _Op(ops.update_batch_deployment)
    delete_batch_deployment = _Op(ops.delete_batch_deployment)
    invoke_batch = _Op(ops.invoke_batch)
    list_jobs = _Op(ops.list_jobs)
    get_job = _Op(ops.get_job)
    cancel_job = _Op(ops.cancel_job)
    job_logs = _Op(ops.job_logs)
    search_job_logs = _Op(ops.search_job_logs)
    create_asset = _Op(ops.create_asset)
    list_assets = _Op(ops.list_assets)
    get_asset = _Op(ops.get_asset)
    create_environment = _Op(ops.create_environment)
    list_environments = _Op(ops.list_environments)
    get_environment = _Op(ops.get_environment)
    archive_environment = _Op(ops.archive_environment)


class Client(_Operations, _Base):
    """Synchronous client of the control plane (and of scoring URIs, for `invoke`)."""

    _http: httpx.Client

    def __init__(
        self,
        connection: Connection,
        timeout: float = 30.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = self._options(connection, timeout, transport)
        super().__init__(connection, httpx.Client(**options))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, request: Request[Any, P]) -> P:
        try:
            response = self._http.send(self._build(request))
        except httpx.HTTPError as exc:
            raise self._failed(request, exc) from None
        result: P = read(request, response, typed=False)
        return result

    def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> Iterator[str]:
        """The logs, then every new line as the devserver writes it, until the caller stops."""
        request = ops.follow_logs(endpoint, name, lines, instance)
        try:
            response = self._http.send(self._build(request), stream=True)
            try:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(error_message(response), response.status_code)
                yield from response.iter_text()
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._failed(request, exc) from None


class AsyncClient(_Operations, _Base):
    """Asynchronous client, for the dashboard: one connection pool shared by every call, so a
    refresh a second costs no new TLS handshakes; answers are the API's views."""

    _http: httpx.AsyncClient

    SCORING_TIMEOUT = 60.0
    """A scoring call may take longer than the dashboard's control calls."""

    def __init__(
        self,
        connection: Connection,
        timeout: float = 10.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` is httpx's: tests hand in `httpx.ASGITransport` over the app itself."""
        options = self._options(connection, timeout, transport)
        super().__init__(connection, httpx.AsyncClient(**options))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def request_timeout(self, request: Request[Any, Any]) -> float | httpx.Timeout:
        return self.SCORING_TIMEOUT if request.scoring else self._http.timeout

    async def send(self, request: Request[T, Any]) -> T:
        try:
            response = await self._http.send(self._build(request))
        except httpx.HTTPError as exc:
            raise self._failed(request, exc) from None
        result: T = read(request, response, typed=True)
        return result

    async def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> AsyncIterator[str]:
        """The logs, then every new chunk as the devserver writes it, until the caller stops."""
        request = ops.follow_logs(endpoint, name, lines, instance)
        try:
            response = await self._http.send(self._build(request), stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise ClientError(error_message(response), response.status_code)
                async for chunk in response.aiter_text():
                    yield chunk
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise self._failed(request, exc) from None
