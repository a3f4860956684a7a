"""The most instances a deployment may ask for on this machine, and the router's stuck slots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.online_specs import echo_deployment

from epdev.devserver.errors import BadRequest
from epdev.devserver.limits import MAX_INSTANCES_ENV, check_instance_counts, default_max_instances
from epdev.devserver.pool import Pool, Slot
from epdev.specs import OnlineDeployment


def spec(tmp_path: Path, **fields: Any) -> OnlineDeployment:
    return echo_deployment(tmp_path, **fields)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"instance_count": 9}, "instance_count: 9"),
        (
            {"scale_settings": {"type": "target_utilization", "max_instances": 12}},
            "scale_settings.max_instances: 12",
        ),
    ],
)
def test_counts_above_the_limit_are_refused_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], named: str
) -> None:
    monkeypatch.setenv(MAX_INSTANCES_ENV, "8")
    with pytest.raises(BadRequest) as refused:
        check_instance_counts(spec(tmp_path, **fields))
    message = str(refused.value)
    assert message.startswith(named)
    assert f"{MAX_INSTANCES_ENV}=8" in message
    assert "\n" not in message


def test_counts_within_the_limit_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_INSTANCES_ENV, "8")
    check_instance_counts(spec(tmp_path, instance_count=8))
    monkeypatch.delenv(MAX_INSTANCES_ENV)
    assert default_max_instances() >= 4
    check_instance_counts(spec(tmp_path, instance_count=4))


def test_a_timed_out_request_marks_its_slot_once() -> None:
    told: list[Slot] = []
    pool = Pool(on_timeout=told.append)
    slot = Slot(instance=None, url="http://127.0.0.1:1")  # type: ignore[arg-type]
    pool.slots = [slot]
    pool.timed_out(slot, 10.0)
    pool.timed_out(slot, 12.0)
    assert slot.stuck_since == 10.0
    assert told == [slot]
