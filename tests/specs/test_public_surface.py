"""epdev.specs loads its names on first use; every advertised name must still be there."""

from __future__ import annotations

import subprocess
import sys

import pytest

import epdev.specs


@pytest.mark.parametrize("name", epdev.specs.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(epdev.specs, name) is not None


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        epdev.specs.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_errors_and_traffic_load_without_the_models() -> None:
    code = (
        "import sys\n"
        "from epdev.specs.errors import SpecError\n"
        "from epdev.specs.traffic import parse_traffic\n"
        "print('pydantic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
