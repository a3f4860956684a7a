"""Which runtime `auto` picks, from what the devserver's Python has; curated environment names."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from epdev.devserver.runtimechoice import choose_runtime
from epdev.runtimes import InstanceFailed
from epdev.runtimes.curated import curated_environment, curated_name
from epdev.runtimes.environment import PythonEnvironment, RuntimeEnvironment
from epdev.runtimes.satisfaction import lacking

CLICK = version("click")


def env(
    *requirements: str, python: str | None = None, image: str | None = None
) -> RuntimeEnvironment:
    return RuntimeEnvironment(
        PythonEnvironment(requirements, source="conda file c.yaml"), image=image
    )


def test_requirements_are_checked_against_installed_distributions(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text("# pinned\nhttpx\nepdev-not-installed>=1\n")
    wheel = tmp_path / f"click-{CLICK}-py3-none-any.whl"
    found = lacking(
        PythonEnvironment(
            (
                "click",
                f"click=={CLICK}",
                "click<1",
                "epdev-absent==2.0",
                "epdev-windows-only; sys_platform == 'win32'",
                f"-r {tmp_path / 'more.txt'}",
                "--extra-index-url https://example.invalid/simple",
                str(wheel),
            )
        )
    )
    assert found == [
        f"click<1 (the devserver has {CLICK})",
        "epdev-absent==2.0 (not installed)",
        "epdev-not-installed>=1 (not installed)",
    ]


def test_a_python_the_worker_can_run_on_counts_when_it_differs() -> None:
    assert lacking(PythonEnvironment(python="3.99")) == ["python 3.99 (the devserver runs 3.11)"]
    assert lacking(PythonEnvironment(python="3.8")) == []  # the worker needs 3.11 anyway
    assert lacking(PythonEnvironment(python="3.11.7")) == []


def test_auto_picks_process_only_when_nothing_is_lacking() -> None:
    assert choose_runtime("auto", env("click"))[0] == "process"
    runtime, notes = choose_runtime("auto", env("click<1", "epdev-absent"))
    assert runtime == "venv"
    assert notes == [
        "runtime auto: venv, because the devserver's Python lacks what the conda file c.yaml "
        f"asks for: click<1 (the devserver has {CLICK}), epdev-absent (not installed)"
    ]


def test_a_forced_runtime_says_what_it_leaves_out() -> None:
    runtime, notes = choose_runtime("process", env("epdev-absent", image="mcr.microsoft.com/x"))
    assert runtime == "process" and len(notes) == 2
    assert "lack what the conda file c.yaml asks for: epdev-absent (not installed)" in notes[0]
    assert "image mcr.microsoft.com/x is not used" in notes[1]
    assert choose_runtime("process", env("click")) == ("process", [])
    assert choose_runtime("docker", env("epdev-absent")) == ("docker", [])


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "sklearn-1.5"),
        ("azureml://registries/azureml/environments/sklearn-1.5/versions/21", "sklearn-1.5"),
        ("azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:1", "sklearn-1.0"),
        ("AzureML-minimal-ubuntu18.04-py37-cpu-inference@latest", "minimal-ubuntu18.04-py37"),
    ],
)
def test_curated_names_map_to_local_requirements(reference: str, key: str) -> None:
    found = curated_environment(reference)
    assert found is not None and found.source.startswith(f"curated environment {key}")
    assert "curated" in found.notes[0] and "in the cloud" in found.notes[0]


def test_names_that_are_not_curated_and_unknown_curated_names() -> None:
    assert curated_name("azureml:my-env:1") is None
    assert curated_environment("azureml:sklearn-1.5@latest") is None  # a user's own name
    with pytest.raises(InstanceFailed, match="no local equivalent"):
        curated_environment("azureml:AzureML-quantum-9.9:1")
