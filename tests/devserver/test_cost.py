"""Cost estimates against hand-computed figures; the rate card and its overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from epdev.devserver.cost import (
    DEFAULT_RATES,
    RateCard,
    RatesError,
    RatesFile,
    Usage,
    UsageLedger,
    estimate,
    total,
)


def test_estimate_against_a_hand_computed_case() -> None:
    # Two Standard_DS3_v2 at 0.293 an hour each. Their instances have existed for 1.5 hours in
    # all (5400 instance-seconds, idle or not), used 900 core-seconds and held 2 GiB for 1.5 h.
    usage = Usage(instance_seconds=5400, core_seconds=900, gib_seconds=2 * 5400)
    view = estimate(RateCard.default(), "Standard_DS3_v2", 2, usage)
    assert view["rate_per_instance_hour"] == 0.293
    assert view["estimated_per_hour"] == pytest.approx(0.586)
    assert view["estimated_to_date"] == pytest.approx(0.4395)  # 1.5 h x 0.293
    assert view["instance_hours"] == pytest.approx(1.5)
    assert view["core_seconds"] == pytest.approx(900)
    assert view["gib_hours"] == pytest.approx(3.0)
    assert view["currency"] == "USD"
    assert "note" not in view


def test_endpoint_total_adds_its_deployments() -> None:
    card = RateCard.default()
    blue = estimate(card, "Standard_DS3_v2", 2, Usage(3600, 10, 3600))
    green = estimate(card, "Standard_F2s_v2", 1, Usage(1800, 5, 0))
    both = total([blue, green], "USD")
    assert both["estimated_per_hour"] == pytest.approx(2 * 0.293 + 0.0846)
    assert both["estimated_to_date"] == pytest.approx(0.293 + 0.5 * 0.0846)
    assert both["instance_hours"] == pytest.approx(1.5)
    assert both["core_seconds"] == pytest.approx(15)
    unknown = estimate(card, "Standard_Nonesuch", 1, Usage())
    assert total([blue, unknown], "USD")["estimated_per_hour"] is None


def test_unknown_or_missing_instance_types_have_no_price_but_keep_usage() -> None:
    view = estimate(RateCard.default(), "Standard_Nonesuch", 1, Usage(3600, 1, 0))
    assert view["estimated_per_hour"] is None and view["estimated_to_date"] is None
    assert view["instance_hours"] == 1.0
    assert "rates.yaml" in view["note"]
    assert "sets no instance_type" in estimate(RateCard.default(), None, 1, None)["note"]


def test_the_default_card_covers_the_common_sizes() -> None:
    card = RateCard.default()
    for name in ("Standard_DS1_v2", "Standard_DS5_v2", "Standard_F16s_v2", "Standard_E4s_v3"):
        assert name in DEFAULT_RATES
    assert card.rate("standard_ds3_v2") == DEFAULT_RATES["Standard_DS3_v2"]  # any case
    gpu = card.rate("Standard_NC6s_v3")
    assert gpu is not None and gpu.gpus == 1
    # Bigger sizes of a family cost more.
    family = [DEFAULT_RATES[f"Standard_DS{n}_v2"].per_hour for n in range(1, 6)]
    assert family == sorted(family)


def test_rates_yaml_overrides_and_extends_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text(
        "currency: EUR\n"
        "rates:\n"
        "  standard_ds3_v2: 0.25\n"
        "  My_Sku: {per_hour: 1.5, vcpus: 8, memory_gib: 32}\n"
    )
    rates = RatesFile(path)
    card = rates.card()
    assert card.currency == "EUR" and str(path) in card.source
    assert card.rate("Standard_DS3_v2") is not None
    assert card.rate("Standard_DS3_v2").per_hour == 0.25  # type: ignore[union-attr]
    assert card.rate("my_sku").vcpus == 8  # type: ignore[union-attr]
    assert card.rate("Standard_DS2_v2") == DEFAULT_RATES["Standard_DS2_v2"]
    assert estimate(card, "My_Sku", 2, Usage(7200))["estimated_to_date"] == pytest.approx(3.0)

    # Edits apply without a restart; a broken file falls back to the defaults and says why.
    path.write_text("rates:\n  My_Sku: {per_hour: -1}\n")
    os.utime(path, (1, 1))
    card = rates.card()
    assert card.rate("My_Sku") is None and card.currency == "USD"
    assert rates.error is not None and "per_hour must be a number >= 0" in rates.error
    path.unlink()
    assert rates.card().rate("Standard_DS1_v2") is not None and rates.error is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a list\n", "expected a mapping"),
        ("price: 1\n", "unknown key(s) price"),
        ("rates:\n  X: {cost: 1}\n", "unknown key(s) cost"),
        ("rates:\n  X: cheap\n", "give a price per hour"),
        ("rates: [\n", "rates.yaml"),
    ],
)
def test_bad_rates_files_are_explained(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text(text)
    with pytest.raises(RatesError, match=r"rates\.yaml") as info:
        RateCard.with_overrides(path)
    assert problem in str(info.value)


def test_the_ledger_survives_a_restart(tmp_path: Path) -> None:
    ledger = UsageLedger(tmp_path / "usage.json")
    ledger.usage("ep/blue@1.5").add(Usage(10, 2, 3))
    ledger.usage("ep/blue@1.5").add(Usage(5, 1, 1))
    ledger.save()
    assert (tmp_path / "usage.json").stat().st_mode & 0o777 == 0o600
    again = UsageLedger(tmp_path / "usage.json")
    again.load()
    assert again.entries == {"ep/blue@1.5": Usage(15, 3, 4)}
    (tmp_path / "usage.json").write_text("not json")
    again.load()
    assert again.entries == {}
