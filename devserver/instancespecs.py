"""What each instance of a deployment runs: its model folder, code, variables and environment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from epdev.devserver.assets import Registry
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest
from epdev.devserver.provisioning import DeploymentFailed
from epdev.runtimes import InstanceSpec
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.environment import resolve as resolve_environment
from epdev.runtimes.mlflow_registry import fetch_registered_model
from epdev.specs import OnlineDeployment


@dataclass
class InstanceSpecs:
    """Makes the `InstanceSpec` of each instance of one deployment."""

    endpoint: str
    deployment: str
    work_root: Path
    note: Callable[[str], None]
    cache_dir: Path = Path()
    models: Registry | None = None
    environments: Environments | None = None

    async def model_path(self, spec: OnlineDeployment) -> Path | None:
        """The local model: the spec's path, a registered `azureml:` model, or an MLflow registry
        URI fetched into the cache."""
        if isinstance(spec.model, str) and self.models is not None:
            asset = self.models.model(spec.model, without_code=spec.code_configuration is None)
            self.note(
                f"model {spec.model} is {asset.name}:{asset.version} ({asset.type}), "
                f"in {asset.path}"
            )
            return asset.path
        uri = spec.model_uri
        if uri is None:
            return spec.model_path
        self.note(f"fetching registered MLflow model {uri}")
        folder, version = await asyncio.to_thread(
            fetch_registered_model, uri, spec.environment_variables, self.cache_dir
        )
        self.note(f"{uri} is version {version}, in {folder}")
        return folder

    def instance_spec(
        self,
        spec: OnlineDeployment,
        runtime: str,
        generation: int,
        index: int,
        model_path: Path | None,
    ) -> InstanceSpec:
        """What one instance runs: `model_path` is the local model (a fetched registry URI),
        else the spec's own path."""
        model_path = model_path or spec.model_path
        code = spec.code_configuration
        mlflow = code is None and spec.is_mlflow
        if code is None and not mlflow:
            raise DeploymentFailed("this deployment has no code_configuration to run")
        if mlflow and model_path is None:
            raise DeploymentFailed("this MLflow deployment's model has no path")
        batching = spec.batching
        return InstanceSpec(
            endpoint=self.endpoint,
            deployment=self.deployment,
            index=index,
            # An MLflow model runs in its own folder, with no script.
            code_dir=code.code if code is not None else model_path or Path(),
            scoring_script=code.scoring_script if code is not None else "",
            model_path=model_path,
            environment_variables=dict(spec.environment_variables),
            max_concurrent_requests=spec.concurrent_requests_per_instance,
            work_dir=self.work_root / f"g{generation}-{index}",
            environment=self._environment(spec, runtime, model_path),
            cache_dir=self.cache_dir,
            mlflow=mlflow,
            max_batch_size=batching.max_batch_size if batching.enabled else 1,
            max_batch_latency_ms=batching.max_latency_ms,
        )

    def _environment(
        self, spec: OnlineDeployment, runtime: str, model_path: Path | None
    ) -> RuntimeEnvironment | None:
        """What an isolated runtime must rebuild; the process runtime runs as it is."""
        if runtime == "process":
            return None
        env = spec.environment
        code = spec.code_configuration
        if self.environments is not None:
            try:
                return self.environments.runtime_environment(
                    env,
                    code_dir=code.code if code else None,
                    model_path=model_path,
                    serves_mlflow=code is None,
                )
            except BadRequest as exc:
                raise DeploymentFailed(str(exc)) from None
        if isinstance(env, str):
            raise DeploymentFailed(f"environment: {env!r} cannot be resolved here")
        return resolve_environment(
            conda_file=env.conda_file if env else None,
            code_dir=code.code if code else None,
            model_path=model_path,
            serves_mlflow=code is None,
            image=env.image if env else None,
            build_context=env.build.path if env and env.build else None,
            dockerfile=env.build.dockerfile_path if env and env.build else "Dockerfile",
        )
