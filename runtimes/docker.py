"""The Docker runtime: each instance is a container of the deployment's environment image.

Images come from epdev.runtimes.images (built once per environment, tagged by content); the
engine connection is epdev.runtimes.engine's; an instance is an
epdev.runtimes.docker_instance.DockerInstance. Containers carry labels naming the endpoint,
deployment, instance and epdev home, so a devserver can find (and remove, see
epdev.runtimes.container_orphans) what an earlier run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from epdev.runtimes.docker_instance import DockerInstance
from epdev.runtimes.engine import ClientFactory, connect, default_client
from epdev.runtimes.images import ImageBuilder
from epdev.runtimes.instance import InstanceSpec, LogSink, Runtime
from epdev.runtimes.substitutes import SUBSTITUTE_IMAGE


class DockerRuntime:
    """Runs instances as containers; see the module's docstring."""

    name = "docker"

    def __init__(
        self,
        base_image: str = SUBSTITUTE_IMAGE,
        client_factory: ClientFactory = default_client,
        *,
        pull: bool = True,
    ) -> None:
        """`base_image` stands in for images that cannot be pulled; `pull=False` never tries."""
        self.base_image = base_image
        self.client_factory = client_factory
        self.images = ImageBuilder(base_image, pull=pull)
        self._said: set[tuple[str, str, str]] = set()

    def say_once(self, spec: InstanceSpec, sink: LogSink, line: str) -> None:
        """Tell a deployment's logs `line` once in this runtime's life, not once per instance."""
        key = (spec.endpoint, spec.deployment, line)
        if key not in self._said:
            self._said.add(key)
            with contextlib.suppress(Exception):
                sink("epdev", line)

    async def preflight(self) -> None:
        """Raise InstanceFailed at once when no engine answers."""
        client = await asyncio.to_thread(connect, self.client_factory)
        client.close()

    def create_instance(self, spec: InstanceSpec, sink: LogSink) -> DockerInstance:
        return DockerInstance(spec, sink, self)


if TYPE_CHECKING:  # DockerRuntime and its instances honour the contract
    _runtime: Runtime = DockerRuntime()
