"""A deployment's health record when it has no instance."""

from __future__ import annotations

from pathlib import Path

from support.online_specs import echo_deployment

from epdev.devserver.logs import DeploymentLog
from epdev.devserver.supervisor import DeploymentRunner
from epdev.runtimes import ProcessRuntime


def runner(tmp_path: Path) -> DeploymentRunner:
    spec = echo_deployment(tmp_path)
    return DeploymentRunner(
        "epx",
        spec,
        runtime=ProcessRuntime(),
        work_root=tmp_path / "work",
        log=DeploymentLog(tmp_path / "blue.log"),
    )


def test_a_failed_deployment_with_no_instance_is_not_healthy(tmp_path: Path) -> None:
    failed = runner(tmp_path)
    failed.provisioning.failed("init() raised")
    try:
        assert failed.health()["state"] == "Unhealthy"
        failed.provisioning.updating()
        assert failed.health()["state"] == "Starting"
    finally:
        failed.log.close()
