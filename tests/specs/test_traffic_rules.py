"""The one judge of a live split beside a mirror split, used wherever epdev takes a split."""

from __future__ import annotations

import pytest

from epdev.specs import TrafficError, check_traffic, traffic_problem

NAMES = ["blue", "green", "red"]


@pytest.mark.parametrize(
    ("traffic", "mirror"),
    [
        ({}, {}),
        ({"blue": 100}, {}),
        ({"blue": 0, "green": 0}, {}),
        ({"blue": 100}, {"green": 50}),
        ({"blue": 100, "green": 0}, {"green": 10, "red": 0}),
        ({"blue": 100}, {"blue": 0, "green": 5}),
        # A deployment the endpoint lacks may be named with 0: it gets nothing.
        ({"blue": 100, "gone": 0}, {"gone": 0}),
    ],
)
def test_splits_the_devserver_accepts(traffic: dict[str, int], mirror: dict[str, int]) -> None:
    check_traffic(traffic, mirror, NAMES)
    assert traffic_problem(traffic, mirror, NAMES) is None


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        (
            {"blue": 50, "ghost": 50},
            {},
            "traffic names deployment(s) 'ghost' that endpoint 'my-ep' does not have",
        ),
        (
            {"blue": 100},
            {"gold": 10, "ghost": 5},
            "mirror_traffic names deployment(s) 'ghost', 'gold' that endpoint 'my-ep' does not "
            "have",
        ),
        (
            {"blue": 90, "green": 20},
            {},
            "traffic values must add up to 100 (or all be 0); blue=90, green=20 adds up to 110",
        ),
        ({"blue": -5}, {}, "traffic for 'blue' is -5; each value must be 0 to 100"),
        ({"blue": 100}, {"green": 101}, "traffic for 'green' is 101; each value must be 0 to 100"),
        ({"blue": 100}, {"green": 10, "red": 5}, "mirror traffic may go to one deployment only"),
        ({"blue": 100}, {"green": 51}, "mirror traffic is 51%; it may be at most 50%"),
        (
            {"blue": 100},
            {"blue": 10},
            "'blue' receives live traffic; a deployment cannot also receive mirror traffic",
        ),
    ],
)
def test_each_rule_has_one_line_that_says_what_is_wrong(
    traffic: dict[str, int], mirror: dict[str, int], message: str
) -> None:
    with pytest.raises(TrafficError) as caught:
        check_traffic(traffic, mirror, NAMES, endpoint="my-ep")
    assert str(caught.value) == message
    assert traffic_problem(traffic, mirror, NAMES, endpoint="my-ep") == message


def test_names_are_checked_only_against_given_deployments() -> None:
    # A spec file alone does not know the endpoint's deployments: only the numbers are judged.
    check_traffic({"anything": 100}, {"else": 10})
    assert traffic_problem({"ghost": 100}, None, NAMES) == (
        "traffic names deployment(s) 'ghost' that the endpoint does not have"
    )


@pytest.mark.parametrize("value", [50.5, True, "50", None])
def test_a_share_must_be_a_whole_number(value: object) -> None:
    assert traffic_problem({"blue": value, "green": 50}) == (
        f"traffic for 'blue' is {value!r}; each value must be a whole number 0 to 100"
    )


def test_the_error_is_a_value_error_and_carries_a_wrong_total() -> None:
    with pytest.raises(ValueError, match="adds up to 80") as caught:
        check_traffic({"blue": 80})
    assert isinstance(caught.value, TrafficError) and caught.value.total == 80
    with pytest.raises(TrafficError) as other:
        check_traffic({"blue": 100}, {"green": 60})
    assert other.value.total is None
