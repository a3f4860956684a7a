"""The endpoint view's `:` command line, parsed and checked before anything is sent."""

from __future__ import annotations

import pytest

from epdev.tui.commands import CommandError, parse


def test_command_lines_are_checked_before_anything_is_sent() -> None:
    names = ["blue", "green"]
    assert parse(":scale green 3", names).count == 3
    assert parse("traffic blue=80 green=20%", names).traffic == {"blue": 80, "green": 20}
    assert parse("traffic green=100", names).traffic == {"blue": 0, "green": 100}
    for bad, why in [
        ("scale red 3", "no deployment 'red'"),
        ("scale green x", "not a whole number"),
        ("traffic blue=80", "add up to 80"),
        ("traffic blue", "not NAME=PERCENT"),
        ("launch", "unknown command"),
        ("", "type a command"),
    ]:
        with pytest.raises(CommandError, match=why):
            parse(bad, names)
