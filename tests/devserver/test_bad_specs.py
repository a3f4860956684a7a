"""Specs that used to crash the control plane or the CLI get a 400 or one line that names the
field: a path under an unknown user's home, nesting past what a spec can have."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from epdev.devserver.app import DevserverApp
from epdev.devserver.cli.main import cli
from epdev.devserver.endpoints import Control
from epdev.devserver.home import Home
from epdev.runtimes.catalog import Runtimes

TOKEN = "the-admin-token"
DEPLOYMENT = """\
name: blue
endpoint_name: my-endpoint
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
"""


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_the_api_answers_400_naming_the_field(tmp_path: Path) -> None:
    control = Control(Home(tmp_path / "home").ensure(), Runtimes(), "https://127.0.0.1:1")
    app = DevserverApp(control, TOKEN).api

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://devserver", headers=headers
        ) as client:
            created = await client.post(
                "/api/v1/online-endpoints", json={"spec": {"name": "my-endpoint"}}
            )
            assert created.status_code == 201, created.text
            tilde = {
                "name": "blue",
                "model": {"path": "~nosuchuser/m"},
                "code_configuration": {"code": str(tmp_path), "scoring_script": "score.py"},
            }
            deep = {"name": "deep", "properties": _nested(500)}
            return [
                await client.post(
                    "/api/v1/online-endpoints/my-endpoint/deployments", json={"spec": spec}
                )
                for spec in (tilde, deep)
            ]

    try:
        tilde, deep = asyncio.run(calls())
    finally:
        control.store.close()
    assert tilde.status_code == 400, tilde.text
    assert (
        "model.path: ~nosuchuser/m: there is no user 'nosuchuser'"
        in tilde.json()["error"]["message"]
    )
    assert deep.status_code == 400, deep.text
    assert "properties.k.k" in deep.json()["error"]["message"]
    assert "nested more than 32 levels deep" in deep.json()["error"]["message"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            DEPLOYMENT + "properties:\n  x: " + "[" * 500 + "]" * 500 + "\n",
            "nested more than 32 levels deep",
        ),
        (
            DEPLOYMENT.replace("path: model", "path: ~nosuchuser/m"),
            "model.path: ~nosuchuser/m: there is no user 'nosuchuser'",
        ),
    ],
    ids=["deep", "tilde"],
)
def test_the_cli_says_one_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code/score.py").write_text(
        "def init():\n    pass\n\n\ndef run(d):\n    return d\n"
    )
    path = tmp_path / "blue.yml"
    path.write_text(text)
    env = {"EPDEV_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli, ["online-deployment", "create", "-f", str(path)], env=env)
    assert result.exit_code != 0
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
