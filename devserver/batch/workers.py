"""What a job's workers run on: the engine's slots, on the devserver's Python (the process
runtime) or on the venv that the runtimes build for the deployment's environment, the same venv
(one cache, one builder, one lock) that an online deployment of that environment gets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from epdev.devserver.batch.jobstore import JobRow
from epdev.devserver.batch.local import LocalSlots
from epdev.devserver.batch.output import JobFolder
from epdev.devserver.batch.plan import ScriptPlan
from epdev.devserver.batch.slots import EngineFailed, Interpreter, ScriptSetup, Slots
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest
from epdev.runtimes.bundle import worker_bundle
from epdev.runtimes.catalog import Runtimes
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.instance import InstanceSpec
from epdev.runtimes.staging import stage_model_dir
from epdev.specs import Environment

DASK_SCHEDULER_ENV = "EPDEV_DASK_SCHEDULER"
NO_DASK = (
    "engine dask needs a Dask scheduler: start the devserver with `epdev serve --dask-scheduler "
    f"ADDRESS` (or {DASK_SCHEDULER_ENV}=ADDRESS)"
)


@dataclass(frozen=True)
class Workers:
    runtimes: Runtimes
    environments: Environments
    cache_dir: Path
    dask_scheduler: str | None = None

    def slots(self, row: JobRow, folder: JobFolder, size: int) -> Slots:
        """`size` slots for the job's engine; nothing starts before the runner asks."""
        plan = row.plan
        script = plan.script
        staged = InstanceSpec(
            endpoint=row.endpoint,
            deployment=row.deployment,
            index=0,
            code_dir=script.app_root,
            scoring_script=script.entry_script,
            model_path=script.model_path,
        )
        setup = ScriptSetup(
            app_root=script.app_root,
            entry_script=script.entry_script,
            model_dir=stage_model_dir(staged, folder.root),
            environment=dict(script.environment),
            summary_only=plan.settings.output_action == "summary_only",
        )
        if plan.engine == "dask":
            from epdev.devserver.batch.daskengine import DaskSlots

            if not self.dask_scheduler:
                raise EngineFailed(NO_DASK)  # the devserver restarted without one
            return DaskSlots(self.dask_scheduler, setup, size)
        if script.runtime == "venv":
            return LocalSlots(setup, size, folder.worker_log, lambda: self._venv(script, folder))
        return LocalSlots(setup, size, folder.worker_log)

    async def _venv(self, script: ScriptPlan, folder: JobFolder) -> Interpreter:
        """The venv of the job's environment, built (build lines to the job log) unless the
        cache already has it."""
        try:
            python = self._environment(script).python
        except BadRequest as exc:
            raise EngineFailed(str(exc)) from None
        for note in python.notes:
            folder.log(f"warning: {note}")
        folder.log(f"venv runtime: environment from {python.source}")
        # Here, as in the runtimes' catalog: the venv tooling (uv, resolution) loads when a job
        # runs on it, not with every devserver.
        from epdev.runtimes.venv import VenvRuntime, worker_env

        runtime = self.runtimes.get("venv")
        assert isinstance(runtime, VenvRuntime)
        venv = await runtime.ensure_venv(
            python, self.cache_dir, lambda stream, line: folder.log(f"[{stream}] {line}")
        )
        bundle = await asyncio.to_thread(worker_bundle, self.cache_dir)
        folder.log(f"venv runtime: workers run on {venv / 'bin' / 'python'}")
        return Interpreter(
            str(venv / "bin" / "python"), worker_env(venv, bundle, dict(script.environment))
        )

    def _environment(self, script: ScriptPlan) -> RuntimeEnvironment:
        """The environment as an online deployment's would be resolved: a reference through the
        registered and curated environments, an inline one by its conda file (a job keeps only
        that of it)."""
        inline = (
            Environment.model_construct(conda_file=script.conda_file) if script.conda_file else None
        )
        return self.environments.runtime_environment(
            script.environment_ref or inline,
            code_dir=script.app_root,
            model_path=script.model_path,
            serves_mlflow=script.builtin_mlflow,
        )
