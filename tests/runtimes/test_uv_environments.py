"""Environments built by uv as the cloud would build them: pip's settings, the era of the pins,
the Python asked for, failures that name the package. Real builds from the package index, into
one uv cache the module shares."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from runtime_helpers import Sink
from support.wheels import make_wheel

from epdev.runtimes import InstanceFailed
from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.eras import exact_pins
from epdev.runtimes.interpreters import choose, wanted_version
from epdev.runtimes.uvtool import pip_settings, uv_environment
from epdev.runtimes.venv import BUILD_STREAM, WARNING_STREAM, VenvRuntime
from epdev.runtimes.wheelhouse import prepare_wheelhouse, wheels


@pytest.fixture(scope="module")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-shared")


def cache_for(uv_cache: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "uv").symlink_to(uv_cache)
    return cache


def build(env: PythonEnvironment, cache: Path) -> tuple[Path, Sink]:
    sink = Sink()
    venv = asyncio.run(VenvRuntime().ensure_venv(env, cache, sink))
    return venv, sink


def in_venv(venv: Path, code: str) -> str:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_pips_settings_are_given_to_uv(tmp_path: Path) -> None:
    # The machine's own /etc/pip.conf is read too; PIP_CONFIG_FILE comes after it.
    (tmp_path / "named.conf").write_text(
        "[global]\nindex-url = https://mirror.example/simple\ncert = /etc/ca.pem\n"
        "constraint = /etc/constraints.txt\n"
    )
    (tmp_path / "home" / ".config" / "pip").mkdir(parents=True)
    (tmp_path / "home" / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nextra-index-url = file:///a/simple file:///b/simple\n"
        "[install]\nfind-links = /opt/wheels\n"
    )
    environ = {
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "PIP_CONFIG_FILE": str(tmp_path / "named.conf"),
        "HOME": str(tmp_path / "home"),
        "PIP_DEFAULT_TIMEOUT": "99",
        "PYTHONPATH": "/host/only",
    }
    assert pip_settings(environ)["find-links"] == "/opt/wheels"
    env = uv_environment(tmp_path / "cache", environ)
    assert env["UV_DEFAULT_INDEX"] == "https://mirror.example/simple"
    assert env["UV_INDEX"] == "file:///a/simple file:///b/simple"
    assert env["UV_INDEX_STRATEGY"] == "unsafe-best-match"  # pip's best version of all indexes
    assert env["UV_FIND_LINKS"] == "/opt/wheels"
    assert env["UV_CONSTRAINT"] == "/etc/constraints.txt"
    assert env["SSL_CERT_FILE"] == "/etc/ca.pem"
    assert env["UV_HTTP_TIMEOUT"] == "99"
    assert env["UV_CACHE_DIR"] == str(tmp_path / "cache" / "uv")
    assert "PYTHONPATH" not in env
    # What the user set for uv wins over what pip says.
    environ["UV_INDEX_URL"] = "https://own.example/simple"
    env = uv_environment(tmp_path / "cache", environ)
    assert env["UV_INDEX_URL"] == "https://own.example/simple" and "UV_DEFAULT_INDEX" not in env


def test_exact_pins_and_python_versions() -> None:
    requirements = ["scikit-learn==1.2.2", "numpy", "pandas>=1", "scipy==1.10.*", "-r x.txt"]
    assert exact_pins(requirements) == [("scikit-learn", "1.2.2")]
    assert [wanted_version(v) for v in ("3.10", "3.10.4", "=3.9", ">=3.8", "", None)] == [
        "3.10",
        "3.10",
        "3.9",
        "3.8",
        None,
        None,
    ]


@pytest.mark.slow
def test_a_scikit_learn_environment_pinned_in_2023_gets_the_numpy_of_2023(
    uv_cache: Path, tmp_path: Path
) -> None:
    env = PythonEnvironment(("scikit-learn==1.2.2", "numpy", "joblib"), source="conda file x")
    venv, sink = build(env, cache_for(uv_cache, tmp_path))
    numpy = in_venv(venv, "import numpy, sklearn; print(numpy.__version__)")
    assert int(numpy.split(".")[0]) < 2, numpy
    log = sink.text(BUILD_STREAM)
    assert "resolving as of 2023-03-" in log and "scikit-learn==1.2.2" in log
    assert "Resolved " in log and "Installed " in log


@pytest.mark.slow
def test_a_pin_with_no_wheel_for_this_python_fails_at_once_naming_it(
    uv_cache: Path, tmp_path: Path
) -> None:
    # numpy 1.21.0 has wheels up to Python 3.9 and an sdist that takes minutes to build.
    env = PythonEnvironment(("numpy==1.21.0",), source="conda file x")
    with pytest.raises(InstanceFailed) as failed:
        build(env, cache_for(uv_cache, tmp_path))
    message = str(failed.value)
    assert message.startswith("numpy==1.21.0 (from the conda file x) has no wheel for Python 3.")
    assert "relax the pin" in message and "EPDEV_ALLOW_SOURCE_BUILDS" in message


@pytest.mark.slow
def test_the_python_the_environment_asks_for_is_used_when_installed(
    uv_cache: Path, tmp_path: Path
) -> None:
    interpreter = asyncio.run(choose("3.12", "the test"))
    if interpreter.note is not None:
        pytest.skip("no Python 3.12 on this machine")
    env = PythonEnvironment(("six",), python="3.12", source="conda file x")
    venv, sink = build(env, cache_for(uv_cache, tmp_path))
    assert in_venv(venv, "import sys, six; print(sys.version_info[:2])") == "(3, 12)"
    assert "on Python 3.12" in sink.text(BUILD_STREAM)
    assert sink.text(WARNING_STREAM) == ""


@pytest.mark.slow
def test_a_python_not_installed_is_named_once_with_the_one_used(
    uv_cache: Path, tmp_path: Path
) -> None:
    env = PythonEnvironment((), python="3.99", source="conda file x")
    _, sink = build(env, cache_for(uv_cache, tmp_path))
    warnings = sink.text(WARNING_STREAM).splitlines()
    assert len(warnings) == 1
    assert "asks for python 3.99 but no Python 3.99 is installed" in warnings[0]
    # Older than the worker runs on: said, with the version used.
    old = asyncio.run(choose("3.8", "the conda file x"))
    assert old.note is not None and "the environment uses 3.11 instead" in old.note


@pytest.mark.slow
def test_the_wheelhouse_for_images_is_resolved_by_uv_and_stored_once(
    uv_cache: Path, tmp_path: Path
) -> None:
    """The Docker runtime's wheelhouse: uv's era-faithful resolution, each wheel fetched once
    into a store that a second wheelhouse links from."""
    cache = cache_for(uv_cache, tmp_path)
    local = make_wheel(tmp_path / "wheels", "epdev_wh_probe", "0.1", "X = 1\n")
    first = PythonEnvironment(("joblib==1.2.0", "threadpoolctl", str(local)), source="x")
    sink = Sink()
    folder = asyncio.run(prepare_wheelhouse(first, cache, sink))
    names = {p.name.split("-")[0] for p in wheels(folder)}
    assert {"joblib", "threadpoolctl", "epdev_wh_probe", "uvicorn"} <= names
    threadpoolctl = next(p for p in wheels(folder) if p.name.startswith("threadpoolctl"))
    assert threadpoolctl.name.startswith("threadpoolctl-3.1.0")  # as of joblib 1.2.0's release
    assert "resolving as of 2022-" in sink.text(BUILD_STREAM)
    second = PythonEnvironment(("joblib==1.2.0",), source="y")
    other = asyncio.run(prepare_wheelhouse(second, cache, Sink()))
    joblib = [next(f.glob("joblib-*.whl")) for f in (folder, other)]
    assert joblib[0].stat().st_ino == joblib[1].stat().st_ino  # one file, linked twice
