"""Deploying from the dashboard on fixed data: a typed path at once, a folder applied as
`epdev apply -f DIR` does, runtime and all traffic chosen first, $EDITOR and back, the last
folder remembered."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SPECS, until
from fixed_source import FixedSource
from textual.pilot import Pilot
from textual.widgets import Checkbox, Select

from epdev.tui.app import EpdevApp
from epdev.tui.screens.deploy import DeployScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]

DEPLOYMENT = """\
name: {name}
endpoint_name: {endpoint}
model:
  path: ./model/
code_configuration:
  code: ./code/
  scoring_script: score.py
instance_count: 1
"""


def folder_of_specs(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(SPECS / "model", folder / "model")
    shutil.copytree(SPECS / "code", folder / "code")
    (folder / "endpoint.yml").write_text("name: new-ep\nauth_mode: key\n")
    (folder / "blue.yml").write_text(DEPLOYMENT.format(name="blue", endpoint="new-ep"))
    return folder


async def open_deploy(pilot: Pilot[Any]) -> DeployScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
    await pilot.press("n")
    screen: DeployScreen = await until(
        pilot, lambda: isinstance(app.screen, DeployScreen) and app.screen
    )
    return screen


async def test_a_folder_is_applied_endpoints_first_with_runtime_and_traffic(
    fixed_app: MakeApp, tmp_path: Path
) -> None:
    source = FixedSource()
    folder = folder_of_specs(tmp_path)
    app = fixed_app(source, cwd=tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_deploy(pilot)
        await pilot.press(*"project", "enter")  # typed with the tree focused: taken at once
        await until(pilot, lambda: screen.checked is not None)
        assert screen.checked is not None and screen.checked.problems == []
        verdict = str(screen.query_one("#verdict").render())
        assert "create endpoint new-ep\ncreate deployment new-ep/blue" in verdict
        screen.query_one("#runtime", Select).value = "venv"
        screen.query_one("#all-traffic", Checkbox).value = True
        await pilot.press("ctrl+s")
        landed = await until(pilot, lambda: isinstance(app.screen, EndpointScreen) and app.screen)
        assert landed.endpoint_name == "new-ep"
        made = [c[0] for c in source.calls if c[0].startswith("create_")]
        assert made == ["create_endpoint", "create_deployment"]
        assert "blue" in source.deployments["new-ep"]
        assert app.last_deploy_folder == folder


async def test_e_edits_the_spec_in_EDITOR_and_checks_it_again(
    fixed_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_of_specs(tmp_path)
    spec = folder / "blue.yml"
    spec.write_text(
        DEPLOYMENT.format(name="blue", endpoint="fraud-scorer").replace(
            "instance_count", "instance_cont"
        )
    )
    editor = tmp_path / "fake-editor"
    # An editor that fixes the typo, as a user would.
    editor.write_text("#!/bin/sh\nsed -i 's/instance_cont:/instance_count:/' \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    app = fixed_app(FixedSource(), cwd=folder)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_deploy(pilot)
        await pilot.press(*"blue.yml", "enter")
        await until(pilot, lambda: screen.checked is not None and screen.checked.problems)
        assert "instance_cont: unknown key" in str(screen.query_one("#verdict").render())
        screen.query_one("#tree").focus()
        await pilot.press("e")
        await until(pilot, lambda: screen.checked is not None and not screen.checked.problems)
        assert "instance_count: 1" in spec.read_text()
        verdict = str(screen.query_one("#verdict").render())
        assert "valid" in verdict and "update deployment fraud-scorer/blue" in verdict
    assert os.environ["EDITOR"] == str(editor)


async def test_the_picker_opens_where_the_last_spec_was(fixed_app: MakeApp, tmp_path: Path) -> None:
    folder = folder_of_specs(tmp_path)
    app = fixed_app(FixedSource(), cwd=tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_deploy(pilot)
        await pilot.press(*"project/blue.yml", "enter")
        await until(pilot, lambda: screen.checked is not None)
        await pilot.press("escape")
        screen = await open_deploy(pilot)
        assert Path(screen.query_one("#tree").path) == folder
