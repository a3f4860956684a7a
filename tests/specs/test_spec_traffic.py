"""Traffic maps: az ml's `--traffic "blue=90 green=10"` and the rules a split obeys."""

from __future__ import annotations

import pytest

from epdev.specs import parse_traffic, validate_traffic


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("blue=90 green=10", {"blue": 90, "green": 10}),
        ("blue=100", {"blue": 100}),
        ("  blue = 90 ,green=10  ", {"blue": 90, "green": 10}),
        ("blue=90,green=10", {"blue": 90, "green": 10}),
        ("blue:50 green:50", {"blue": 50, "green": 50}),
        ("blue-v2=0", {"blue-v2": 0}),
        ("", {}),
    ],
)
def test_parse_traffic(text: str, parsed: dict[str, int]) -> None:
    assert parse_traffic(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blue", "cannot read 'blue' in traffic 'blue': use NAME=PERCENT pairs"),
        (
            "blue=ninety",
            "cannot read 'blue=ninety' in traffic 'blue=ninety': use NAME=PERCENT pairs",
        ),
        ("blue=9.5", "cannot read 'blue=9.5' in traffic 'blue=9.5': use NAME=PERCENT pairs"),
        ("blue_1=100", "cannot read 'blue_1=100' in traffic 'blue_1=100': use NAME=PERCENT pairs"),
        ("blue=50 blue=50", "deployment 'blue' appears twice in traffic 'blue=50 blue=50'"),
    ],
)
def test_parse_traffic_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_traffic(text)
    assert str(caught.value) == message


def test_parse_traffic_then_validate() -> None:
    # Parsing reads; validation judges (the command does both).
    split = parse_traffic("blue=-5 green=105")
    with pytest.raises(ValueError, match="traffic for 'blue' is -5; each value must be 0 to 100"):
        validate_traffic(split)


@pytest.mark.parametrize(
    "split",
    [{}, {"blue": 100}, {"blue": 90, "green": 10}, {"blue": 0, "green": 0}, {"a": 0, "b": 100}],
)
def test_valid_live_splits(split: dict[str, int]) -> None:
    validate_traffic(split)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            {"blue": 90, "green": 20},
            "traffic values must add up to 100 (or all be 0); blue=90, green=20 adds up to 110",
        ),
        ({"blue": 50}, "traffic values must add up to 100 (or all be 0); blue=50 adds up to 50"),
        ({"blue": 101}, "traffic for 'blue' is 101; each value must be 0 to 100"),
    ],
)
def test_invalid_live_splits(split: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_traffic(split)
    assert str(caught.value) == message


@pytest.mark.parametrize("split", [{}, {"green": 10}, {"green": 50}, {"green": 20, "red": 0}])
def test_valid_mirror_splits(split: dict[str, int]) -> None:
    validate_traffic(split, mirror=True)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"green": 51}, "mirror traffic is 51%; it may be at most 50%"),
        ({"green": 10, "red": 10}, "mirror traffic may go to one deployment only"),
        ({"green": -1}, "traffic for 'green' is -1; each value must be 0 to 100"),
    ],
)
def test_invalid_mirror_splits(split: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_traffic(split, mirror=True)
    assert str(caught.value) == message
