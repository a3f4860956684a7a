"""The house rules, run as tests so CI enforces them: lint, types, room boundaries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_boundaries() -> None:
    result = _run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr


def test_headless_rooms_import_without_textual() -> None:
    code = (
        "import sys; sys.modules['textual'] = None\n"
        "import epdev.specs, epdev.runtimes, epdev.devserver.app, epdev.devserver.cli.main\n"
        "import epdev.runtimes.process\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr


def test_cli_entry_is_a_light_client() -> None:
    # Scripts call the CLI dozens of times: a control command must not pay for the server.
    heavy = ("fastapi", "uvicorn", "aiohttp", "pydantic", "epdev.devserver.endpoints", "textual")
    code = (
        "import sys\n"
        "sys.argv = ['epdev', '--help']\n"
        "from epdev.devserver.cli import entry\n"
        "try:\n"
        "    entry.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:', ','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: ", result.stdout
