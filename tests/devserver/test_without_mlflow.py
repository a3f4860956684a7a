"""The devserver runs without mlflow; only an MLflow deployment with no script needs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epdev.devserver import runtimechoice
from epdev.devserver.errors import BadRequest
from epdev.specs import OnlineDeployment, validate_spec


def test_the_headless_rooms_import_without_mlflow() -> None:
    code = textwrap.dedent(
        """\
        import sys
        sys.modules["mlflow"] = None  # any `import mlflow` now fails
        import epdev.devserver.app, epdev.devserver.cli.main
        import epdev.runtimes.worker.main, epdev.runtimes.worker.mlflow_app
        import epdev.runtimes.mlflow_registry, epdev.runtimes.worker.mlflow_batch
        assert sys.modules["mlflow"] is None
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _mlflow_spec(tmp_path: Path, path: str) -> OnlineDeployment:
    (tmp_path / "model").mkdir(parents=True)
    (tmp_path / "model/MLmodel").write_text("flavors: {}\n")
    spec = validate_spec(
        "online-deployment",
        {"name": "blue", "model": {"path": path}},
        base_dir=tmp_path,
    ).spec
    assert isinstance(spec, OnlineDeployment)
    return spec


def test_an_mlflow_deployment_without_mlflow_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtimechoice, "find_spec", lambda name: None)
    spec = _mlflow_spec(tmp_path, "model")
    with pytest.raises(BadRequest, match=r"pip install 'epdev\[mlflow\]'"):
        runtimechoice.check_mlflow(spec, "process")
    runtimechoice.check_mlflow(spec, "venv")  # the venv gets mlflow from the model's requirements
    with pytest.raises(BadRequest):
        runtimechoice.check_mlflow(_mlflow_spec(tmp_path / "r", "models:/iris/1"), "venv")
