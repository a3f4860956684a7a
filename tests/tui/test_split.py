"""Traffic split arithmetic behind the sliders: every state reachable by keys is sendable."""

from __future__ import annotations

import random

import pytest

from epdev.tui import split


def test_two_deployments_move_against_each_other() -> None:
    assert split.nudge({"blue": 90, "green": 10}, "green", 1) == {"blue": 89, "green": 11}
    assert split.nudge({"blue": 90, "green": 10}, "blue", -10) == {"blue": 80, "green": 20}
    assert split.nudge({"blue": 95, "green": 5}, "blue", 10) == {"blue": 100, "green": 0}


def test_others_rebalance_in_proportion() -> None:
    assert split.nudge({"a": 50, "b": 30, "c": 20}, "a", 10) == {"a": 60, "b": 24, "c": 16}
    assert split.nudge({"a": 50, "b": 30, "c": 20}, "a", -10) == {"a": 40, "b": 36, "c": 24}


def test_shares_at_zero_get_an_even_part_when_everyone_else_is_at_zero() -> None:
    assert split.nudge({"a": 100, "b": 0, "c": 0}, "a", -10) == {"a": 90, "b": 5, "c": 5}


def test_from_all_zero_raising_one_gives_it_everything() -> None:
    assert split.nudge({"a": 0, "b": 0}, "b", 1) == {"a": 0, "b": 100}
    assert split.nudge({"a": 0, "b": 0}, "b", -1) == {"a": 0, "b": 0}


def test_a_lone_deployment_stays_at_100_until_zeroed() -> None:
    assert split.nudge({"a": 100}, "a", -10) == {"a": 100}
    assert split.zeroed({"a": 100}) == {"a": 0}


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        ({"a": 60, "b": 40}, True),
        ({"a": 0, "b": 0}, True),
        ({"a": 60, "b": 39}, False),
        ({"a": 101, "b": -1}, False),
        ({"a": 50.5, "b": 49.5}, False),
        ({"a": True, "b": 99}, False),
        ({"zz": 100}, False),
    ],
)
def test_validity(candidate: dict[str, int], valid: bool) -> None:
    assert split.is_valid(candidate, ["a", "b"]) is valid


def test_random_key_presses_never_leave_a_valid_split() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        names = [f"d{i}" for i in range(rng.randint(1, 5))]
        current = split.normalized({names[0]: 100}, names)
        for _ in range(40):
            current = split.nudge(current, rng.choice(names), rng.choice([-10, -1, 1, 10]))
            assert split.is_valid(current, names), current


def test_mirror_goes_to_one_deployment_without_live_traffic_at_most_half() -> None:
    names = ["blue", "green", "red"]
    live = {"blue": 100, "green": 0, "red": 0}
    assert split.mirror_problem({"green": 10}, live, names) is None
    assert split.mirror_problem({}, live, names) is None
    assert "live traffic" in str(split.mirror_problem({"blue": 10}, live, names))
    assert "one deployment" in str(split.mirror_problem({"green": 10, "red": 5}, live, names))
    assert "at most 50" in str(split.mirror_problem({"green": 60}, live, names))
    assert "does not have" in str(split.mirror_problem({"gold": 10}, live, names))


def test_mirror_patch_zeroes_a_deployment_that_stops_receiving_copies() -> None:
    assert split.mirror_patch({"green": 10}, {"red": 20}) == {"green": 0, "red": 20}
    assert split.mirror_patch({"green": 10}, {}) == {"green": 0}
    assert split.mirror_patch({}, {"green": 5}) == {"green": 5}
