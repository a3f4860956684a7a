"""An MLflow model's own environment (python_env.yaml, requirements.txt) for venvs and images."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from epdev.runtimes import InstanceFailed
from epdev.runtimes.environment import resolve

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def model(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_python_env_yaml_brings_its_requirements_and_python(tmp_path: Path) -> None:
    folder = model(
        tmp_path,
        {
            "python_env.yaml": "python: 3.8.10\nbuild_dependencies: [pip]\n"
            "dependencies:\n- -r requirements.txt\n- extra-package==1.0\n",
            "requirements.txt": "mlflow==2.12.1\nscikit-learn==1.4.2\n",
        },
    )
    env = resolve(conda_file=None, code_dir=None, model_path=folder, serves_mlflow=True).python
    assert env.requirements == (f"-r {folder / 'requirements.txt'}", "extra-package==1.0")
    assert env.python == "3.8.10"
    assert env.source == f"MLflow environment {folder / 'python_env.yaml'}"
    assert not any("mlflow" in note for note in env.notes)  # named by the -r file


def test_requirements_txt_without_mlflow_gets_the_devservers_mlflow(tmp_path: Path) -> None:
    folder = model(tmp_path, {"requirements.txt": "scikit-learn\n"})
    env = resolve(conda_file=None, code_dir=None, model_path=folder, serves_mlflow=True).python
    assert env.requirements == ("scikit-learn", f"mlflow=={version('mlflow')}")
    assert any("do not name mlflow" in note for note in env.notes)
    # A scoring script that loads the model itself decides what it needs.
    scripted = resolve(conda_file=None, code_dir=None, model_path=folder).python
    assert scripted.requirements == ("scikit-learn",)


def test_a_model_with_no_requirements_still_gets_mlflow(tmp_path: Path) -> None:
    folder = model(tmp_path, {})
    env = resolve(conda_file=None, code_dir=None, model_path=folder, serves_mlflow=True).python
    assert env.requirements == (f"mlflow=={version('mlflow')}",)


def test_the_deployments_conda_file_wins_over_the_models_files(tmp_path: Path) -> None:
    folder = model(tmp_path, {"requirements.txt": "mlflow\n"})
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n- pip:\n  - mlflow-skinny\n")
    env = resolve(conda_file=conda, code_dir=None, model_path=folder, serves_mlflow=True).python
    assert env.requirements == ("mlflow-skinny",)


def test_a_broken_python_env_yaml_is_named(tmp_path: Path) -> None:
    folder = model(tmp_path, {"python_env.yaml": "python: 3.11\n"})
    with pytest.raises(InstanceFailed, match=r"python_env.yaml has no 'dependencies' list"):
        resolve(conda_file=None, code_dir=None, model_path=folder, serves_mlflow=True)


def test_the_conda_file_the_mlmodel_names_is_the_one_azure_uses(tmp_path: Path) -> None:
    """Azure's lightgbm sample: a modern conda.yaml beside a 2022 requirements.txt."""
    folder = model(
        tmp_path,
        {
            "conda.yaml": "channels: [conda-forge]\ndependencies:\n- python=3.11.7\n"
            "- pip<=23.3\n- pip:\n  - mlflow==2.12.1\n  - lightgbm==4.3.0\nname: mlflow-env\n",
            "python_env.yaml": "python: 3.8.10\ndependencies:\n- -r requirements.txt\n",
            "requirements.txt": "mlflow==1.26.0\nlightgbm==3.3.2\n",
        },
    )
    (folder / "MLmodel").write_text(
        "flavors:\n  python_function:\n    env:\n      conda: conda.yaml\n"
        "      virtualenv: python_env.yaml\n    loader_module: mlflow.lightgbm\n"
    )
    env = resolve(conda_file=None, code_dir=None, model_path=folder, serves_mlflow=True).python
    assert env.requirements == ("mlflow==2.12.1", "lightgbm==4.3.0")
    assert env.python == "3.11.7"
    assert env.source == f"MLflow model's conda file {folder / 'conda.yaml'}"
    assert any("python_env.yaml and requirements.txt are not used" in n for n in env.notes)
