"""Texts shared by the spec tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json"
DEPLOYMENT_SCHEMA = (
    "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
)

SCORE_PY = "def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n"

WriteSpec = Callable[[str, str], Path]
"""The `write` fixture: `write("blue.yml", text)` puts a file in the project, returns its path."""
