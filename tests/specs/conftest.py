"""Spec files written into tmp_path: a small project that deployment specs can point at."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from specfiles import SCORE_PY, WriteSpec


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`code/score.py` (init and run), `model/model.pkl` and `env/conda.yaml`."""
    root = tmp_path / "project"
    (root / "code").mkdir(parents=True)
    (root / "code/score.py").write_text(SCORE_PY)
    (root / "model").mkdir()
    (root / "model/model.pkl").write_bytes(b"not really a pickle")
    (root / "env").mkdir()
    (root / "env/conda.yaml").write_text("name: env\ndependencies:\n  - python=3.11\n")
    return root


@pytest.fixture
def write(project: Path) -> WriteSpec:
    """`write("blue.yml", text)`: the dedented text as a file in the project, and its path."""

    def write(name: str, text: str) -> Path:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write
