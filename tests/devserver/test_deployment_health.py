"""A deployment's health record when it has no instance."""

from __future__ import annotations

from pathlib import Path

from epdev.devserver.logs import DeploymentLog
from epdev.devserver.supervisor import DeploymentRunner
from epdev.runtimes import ProcessRuntime
from epdev.specs import OnlineDeployment


def runner(tmp_path: Path) -> DeploymentRunner:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text("def init():\n    pass\n\ndef run(d):\n    return d\n")
    spec = OnlineDeployment.model_validate(
        {
            "name": "blue",
            "endpoint_name": "epx",
            "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        }
    )
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
