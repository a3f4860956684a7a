"""Fixtures shared by every test room."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.sample_project import SampleProject, make_sample_project


@pytest.fixture
def sample_project(tmp_path: Path) -> SampleProject:
    return make_sample_project(tmp_path / "project")


@pytest.fixture
def epdev_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "epdev-home"
    monkeypatch.setenv("EPDEV_HOME", str(home))
    return home


# A user's project with its own tests: run in a subprocess by tests/e2e/test_pytest_plugin.py.
collect_ignore = ["sample_user_project"]
