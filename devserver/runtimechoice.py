"""Which runtime a deployment runs on: `auto` (the default) picks the process runtime when the
devserver's own Python already has what the environment asks for, else a venv built for it; a
runtime the user forces gets a note of what it leaves out. Nothing about an environment goes
unsaid."""

from __future__ import annotations

import asyncio
from importlib.util import find_spec

from epdev.devserver.assets import Registry
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest
from epdev.runtimes import InstanceFailed
from epdev.runtimes.catalog import Runtimes
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.satisfaction import lacking
from epdev.specs import BatchDeployment, OnlineDeployment

AUTO = "auto"
SHOWN = 6
"""How many lacking requirements a note names before it counts the rest."""


def choose_runtime(requested: str, env: RuntimeEnvironment) -> tuple[str, list[str]]:
    """The runtime to use for `requested` (a runtime's name or auto), and the notes that say
    why and what of the environment it does not honour."""
    python = env.python
    if requested == AUTO:
        missing = lacking(python)
        if missing:
            return "venv", [
                f"runtime auto: venv, because the devserver's Python lacks what the "
                f"{python.source} asks for: {_listed(missing)}"
            ]
        notes = [
            "runtime auto: process, because the devserver's Python already has everything the "
            f"{python.source} asks for"
        ]
        return "process", notes + _unused_by_process(env)
    if requested == "process":
        missing = lacking(python)
        notes = []
        if missing:
            notes.append(
                f"the process runtime runs on the devserver's own packages, which lack what the "
                f"{python.source} asks for: {_listed(missing)} (use --runtime venv or auto)"
            )
        return "process", notes + _unused_by_process(env)
    if requested == "venv" and (env.image or env.build_context):
        what = f"image {env.image}" if env.image else f"build context {env.build_context}"
        return "venv", [
            f"the venv runtime installs the environment's Python packages only; its {what} is "
            "not used (--runtime docker builds it)"
        ]
    return requested, []


def _unused_by_process(env: RuntimeEnvironment) -> list[str]:
    if env.image or env.build_context:
        what = f"image {env.image}" if env.image else f"build context {env.build_context}"
        return [
            f"the process runtime runs on the devserver's Python; the environment's {what} is "
            "not used (--runtime docker builds it)"
        ]
    return []


def _listed(missing: list[str]) -> str:
    shown = ", ".join(missing[:SHOWN])
    rest = len(missing) - SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


class RuntimeChoice:
    """Picks the runtime of each online deployment, and checks that it can run there."""

    def __init__(self, runtimes: Runtimes, environments: Environments, registry: Registry) -> None:
        self.runtimes = runtimes
        self.environments = environments
        self.registry = registry

    async def choose(self, requested: str | None, spec: OnlineDeployment) -> tuple[str, list[str]]:
        """The runtime `requested` (or the devserver's default) means for this deployment, and
        the notes saying why and what of its environment that runtime leaves out."""
        name = requested or self.runtimes.default
        if name not in (AUTO, "process", "venv"):
            return name, []
        environment = await asyncio.to_thread(self.environment, spec)
        return choose_runtime(name, environment)

    def environment(self, spec: OnlineDeployment) -> RuntimeEnvironment:
        """What the deployment's environment asks for (a registered model resolved first)."""
        return deployment_environment(spec, self.registry, self.environments)

    async def ready(self, name: str | None) -> str:
        """The runtime's name, once it is known and able to run (a Docker engine answers)."""
        name = name or self.runtimes.default
        try:
            runtime = self.runtimes.get(name)
            # Runtimes that depend on something outside (an engine) can say at once that it
            # is missing, rather than failing each instance later.
            preflight = getattr(runtime, "preflight", None)
            if preflight is not None:
                await preflight()
        except (ValueError, InstanceFailed) as exc:
            raise BadRequest(str(exc)) from None
        return name


def deployment_environment(
    spec: OnlineDeployment | BatchDeployment, registry: Registry, environments: Environments
) -> RuntimeEnvironment:
    """What an online or batch deployment's environment asks for, as a venv would build it (a
    registered model resolved first; a 400 for a reference to nothing known)."""
    model_path = spec.model_path
    code = spec.code_configuration
    if isinstance(spec.model, str):
        model_path = registry.model(spec.model, without_code=code is None).path
    return environments.runtime_environment(
        spec.environment,
        code_dir=code.code if code else None,
        model_path=model_path,
        serves_mlflow=code is None,
    )


def check_mlflow(spec: OnlineDeployment, runtime: str) -> None:
    """An MLflow model with no scoring script needs mlflow where it is served or fetched."""
    if spec.code_configuration is not None or not spec.is_mlflow:
        return
    # The process runtime serves on the devserver's Python; a registry URI is fetched by it.
    if (runtime == "process" or spec.model_uri is not None) and find_spec("mlflow") is None:
        raise BadRequest(
            "model: an MLflow model with no code_configuration is served with mlflow, which "
            "the devserver's Python does not have: pip install 'epdev[mlflow]' (or add a "
            "code_configuration with a scoring script)"
        )
