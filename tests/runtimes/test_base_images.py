"""The Python an image is built for: the suite table, the wheels chosen for a Python version, the
base chosen for it, and the layer's check that the image runs the wheelhouse's Python."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from packaging.tags import platform_tags

from epdev.runtimes import InstanceFailed
from epdev.runtimes.baseimages import (
    SUITES,
    base_image_for,
    build_command,
    suite_for,
)
from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.imagebuild import layer_dockerfile
from epdev.runtimes.images import asked_python
from epdev.runtimes.wheelhouse import chosen_wheels, wheel_tags, wheelhouse_path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-base-image"
PLATFORM = next(iter(platform_tags()))
"""A platform tag of this machine, best first, so the wheels below suit it wherever tests run."""


def test_each_python_has_the_debian_suite_whose_python3_it_is() -> None:
    assert suite_for("3.11") == "bookworm"
    assert suite_for("3.13") == "trixie"
    assert suite_for("3.12") is None  # no Debian release shipped 3.12
    assert base_image_for("3.13") == "epdev/python-base:trixie"
    assert base_image_for("3.12") is None
    assert build_command("3.13") == "scripts/build-base-image --suite trixie"
    assert build_command("3.11") == "scripts/build-base-image"


@pytest.mark.skipif(
    not Path("/usr/share/debootstrap/scripts").is_dir(), reason="debootstrap is not installed"
)
def test_this_machines_debootstrap_knows_every_suite_in_the_table() -> None:
    known = {p.name for p in Path("/usr/share/debootstrap/scripts").iterdir()}
    assert set(SUITES.values()) <= known


def _fake_docker(folder: Path) -> dict[str, str]:
    """A `docker` that says every image exists, so the script stops before building."""
    folder.mkdir()
    fake = folder / "docker"
    fake.write_text('#!/bin/sh\n[ "$1 $2" = "image inspect" ] && exit 0\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("args", "tag"),
    [
        ((), "epdev/python-base:bookworm"),
        (("--suite", "trixie"), "epdev/python-base:trixie"),
        (("--suite", "trixie", "--tag", "mine:1"), "mine:1"),
    ],
)
def test_the_base_image_script_names_its_image_after_the_suite(
    tmp_path: Path, args: tuple[str, ...], tag: str
) -> None:
    env = _fake_docker(tmp_path / "bin")
    result = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    assert (
        result.stdout.strip()
        == f"build-base-image: {tag} exists; nothing to do (--force rebuilds it)"
    )


def _lock(tmp_path: Path, packages: dict[str, list[str]]) -> Path:
    lines = ['lock-version = "1.0"', 'created-by = "test"', ""]
    for name, files in packages.items():
        wheels = ", ".join(
            f'{{ url = "https://files.example/{f}", hashes = {{ sha256 = "00" }} }}' for f in files
        )
        lines += ["[[packages]]", f'name = "{name}"', 'version = "1.0"', f"wheels = [{wheels}]", ""]
    path = tmp_path / "pylock.toml"
    path.write_text("\n".join(lines))
    return path


def test_wheels_are_chosen_by_the_tags_of_the_wheelhouses_python(tmp_path: Path) -> None:
    lock = _lock(
        tmp_path,
        {
            "native": [
                f"native-1.0-cp311-cp311-{PLATFORM}.whl",
                f"native-1.0-cp313-cp313-{PLATFORM}.whl",
            ],
            "stable": [f"stable-1.0-cp39-abi3-{PLATFORM}.whl"],
            "pure": ["pure-1.0-py3-none-any.whl"],
        },
    )
    for version in ("3.11", "3.13"):
        names = {wheel["name"] for wheel in chosen_wheels(lock, version)}
        tag = f"cp{version.replace('.', '')}"
        assert names == {
            f"native-1.0-{tag}-{tag}-{PLATFORM}.whl",
            f"stable-1.0-cp39-abi3-{PLATFORM}.whl",
            "pure-1.0-py3-none-any.whl",
        }


def test_a_package_without_a_wheel_for_that_python_is_named(tmp_path: Path) -> None:
    lock = _lock(tmp_path, {"old": [f"old-1.0-cp311-cp311-{PLATFORM}.whl"]})
    with pytest.raises(InstanceFailed, match=r"old==1\.0 has no wheel for Python 3\.13"):
        chosen_wheels(lock, "3.13")


def test_another_pythons_tags_never_include_the_hosts_abi() -> None:
    tags = {str(tag) for tag in wheel_tags("3.13")}
    assert f"cp313-cp313-{PLATFORM}" in tags and "py3-none-any" in tags
    assert not any(tag.startswith("cp311-cp311") for tag in tags)


def test_wheelhouses_of_two_pythons_never_mix(tmp_path: Path) -> None:
    env = PythonEnvironment(("click",), source="x")
    assert wheelhouse_path(env, tmp_path, "3.11") != wheelhouse_path(env, tmp_path, "3.13")


def test_the_layer_checks_the_image_against_the_wheelhouses_python() -> None:
    text = layer_dockerfile("epdev/python-base:trixie", "3.13")
    assert text.startswith("FROM epdev/python-base:trixie\n")
    assert "sys.version_info[:2] != (3, 13)" in text
    assert "its wheelhouse was prepared for Python 3.13" in text


@pytest.mark.parametrize(
    ("python", "asked"),
    [
        (None, (None, None)),
        ("3.13", ("3.13", None)),
        ("3.11.*", ("3.11", None)),
        ("3.8", (None, "3.8")),
    ],
)
def test_a_python_older_than_the_workers_is_not_asked_of_the_base(
    python: str | None, asked: tuple[str | None, str | None]
) -> None:
    assert asked_python(PythonEnvironment(python=python)) == asked
