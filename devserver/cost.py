"""What a deployment would cost in the cloud: a rate card by instance_type, and measured usage.

The cloud bills a managed deployment's VMs by the hour whether they serve or idle, so the
estimate per hour is `instance_count x the instance_type's hourly price`, and the estimate to
date is that price times the instance-hours the deployment's instances have existed here.
Measured CPU (core-seconds) and memory (GiB-hours) are reported beside it: they do not change
the bill, but they tell whether a smaller instance_type would do.

The default rates are approximate list prices of Azure's Linux pay-as-you-go VMs in East US,
in USD per instance-hour, as they stood in 2024 (Azure's public price list). They are a guide,
not a quote: regions, discounts and later price changes differ. `$EPDEV_HOME/rates.yaml`
overrides or extends them:

    currency: USD                  # optional label for every figure
    rates:
      Standard_DS3_v2: 0.25        # a price per instance-hour
      My_Custom_SKU: {per_hour: 1.10, vcpus: 8, memory_gib: 32}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from epdev.devserver.home import write_private

RATES_SOURCE = (
    "approximate Azure Linux pay-as-you-go list prices, East US, USD per instance-hour, as of 2024"
)
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Rate:
    per_hour: float
    vcpus: int | None = None
    memory_gib: float | None = None
    gpus: int = 0


def _r(per_hour: float, vcpus: int, memory_gib: float, gpus: int = 0) -> Rate:
    return Rate(per_hour, vcpus, memory_gib, gpus)


DEFAULT_RATES: dict[str, Rate] = {
    # General purpose, DSv2 (Azure ML's usual default for CPU deployments).
    "Standard_DS1_v2": _r(0.073, 1, 3.5),
    "Standard_DS2_v2": _r(0.146, 2, 7),
    "Standard_DS3_v2": _r(0.293, 4, 14),
    "Standard_DS4_v2": _r(0.585, 8, 28),
    "Standard_DS5_v2": _r(1.17, 16, 56),
    # General purpose, Dasv4.
    "Standard_D2as_v4": _r(0.096, 2, 8),
    "Standard_D4as_v4": _r(0.192, 4, 16),
    "Standard_D8as_v4": _r(0.384, 8, 32),
    "Standard_D16as_v4": _r(0.768, 16, 64),
    "Standard_D32as_v4": _r(1.536, 32, 128),
    # Compute optimised, Fsv2.
    "Standard_F2s_v2": _r(0.0846, 2, 4),
    "Standard_F4s_v2": _r(0.169, 4, 8),
    "Standard_F8s_v2": _r(0.338, 8, 16),
    "Standard_F16s_v2": _r(0.677, 16, 32),
    "Standard_F32s_v2": _r(1.353, 32, 64),
    "Standard_F48s_v2": _r(2.03, 48, 96),
    "Standard_F64s_v2": _r(2.706, 64, 128),
    "Standard_F72s_v2": _r(3.045, 72, 144),
    # Memory optimised, Esv3.
    "Standard_E2s_v3": _r(0.126, 2, 16),
    "Standard_E4s_v3": _r(0.252, 4, 32),
    "Standard_E8s_v3": _r(0.504, 8, 64),
    "Standard_E16s_v3": _r(1.008, 16, 128),
    "Standard_E32s_v3": _r(2.016, 32, 256),
    "Standard_E48s_v3": _r(3.024, 48, 384),
    "Standard_E64s_v3": _r(4.032, 64, 432),
    # GPU, NC: V100 (NCv3), T4 (NCasT4_v3), A100 (NC A100 v4).
    "Standard_NC6s_v3": _r(3.06, 6, 112, 1),
    "Standard_NC12s_v3": _r(6.12, 12, 224, 2),
    "Standard_NC24s_v3": _r(12.24, 24, 448, 4),
    "Standard_NC24rs_v3": _r(13.464, 24, 448, 4),
    "Standard_NC4as_T4_v3": _r(0.526, 4, 28, 1),
    "Standard_NC8as_T4_v3": _r(0.752, 8, 56, 1),
    "Standard_NC16as_T4_v3": _r(1.204, 16, 110, 1),
    "Standard_NC64as_T4_v3": _r(4.352, 64, 440, 4),
    "Standard_NC24ads_A100_v4": _r(3.673, 24, 220, 1),
    "Standard_NC48ads_A100_v4": _r(7.346, 48, 440, 2),
    "Standard_NC96ads_A100_v4": _r(14.692, 96, 880, 4),
}


class RatesError(ValueError):
    """rates.yaml cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RateCard:
    rates: dict[str, Rate]
    currency: str = DEFAULT_CURRENCY
    source: str = RATES_SOURCE

    def rate(self, instance_type: str | None) -> Rate | None:
        if not instance_type:
            return None
        # Azure reads instance types case-insensitively.
        wanted = instance_type.lower()
        for name, rate in self.rates.items():
            if name.lower() == wanted:
                return rate
        return None

    @classmethod
    def default(cls) -> RateCard:
        return cls(dict(DEFAULT_RATES))

    @classmethod
    def with_overrides(cls, path: Path) -> RateCard:
        """The default card overlaid with the rates in `path` (RatesError when it is unusable)."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RatesError(f"{path}: {exc}") from None
        if raw is None:
            return cls.default()
        if not isinstance(raw, dict):
            raise RatesError(f"{path}: expected a mapping with a 'rates' key")
        unknown = sorted(set(raw) - {"currency", "rates"})
        if unknown:
            raise RatesError(f"{path}: unknown key(s) {', '.join(unknown)}; use currency, rates")
        rates = dict(DEFAULT_RATES)
        for name, value in (raw.get("rates") or {}).items():
            rates = {k: v for k, v in rates.items() if k.lower() != str(name).lower()}
            rates[str(name)] = _parse_rate(path, str(name), value)
        currency = raw.get("currency", DEFAULT_CURRENCY)
        if not isinstance(currency, str) or not currency:
            raise RatesError(f"{path}: currency must be a short text such as USD")
        return cls(rates, currency, f"{path} over the defaults ({RATES_SOURCE})")


def _parse_rate(path: Path, name: str, value: Any) -> Rate:
    where = f"{path}: rates.{name}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"per_hour": value}
    if not isinstance(value, dict):
        raise RatesError(f"{where}: give a price per hour, or a mapping with per_hour")
    unknown = sorted(set(value) - {"per_hour", "vcpus", "memory_gib", "gpus"})
    if unknown:
        raise RatesError(f"{where}: unknown key(s) {', '.join(unknown)}")
    price = value.get("per_hour")
    if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
        raise RatesError(f"{where}: per_hour must be a number >= 0")
    try:
        return Rate(
            float(price),
            None if value.get("vcpus") is None else int(value["vcpus"]),
            None if value.get("memory_gib") is None else float(value["memory_gib"]),
            int(value.get("gpus") or 0),
        )
    except (TypeError, ValueError):
        raise RatesError(f"{where}: vcpus, memory_gib and gpus must be numbers") from None


class RatesFile:
    """$EPDEV_HOME/rates.yaml, re-read whenever it changes, so edits apply without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._card = RateCard.default()
        self.error: str | None = None

    def card(self) -> RateCard:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._card, self.error = None, RateCard.default(), None
            return self._card
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return self._card
        mark = (stat.st_mtime, stat.st_size)
        if mark != self._seen:
            self._seen = mark
            try:
                self._card, self.error = RateCard.with_overrides(self.path), None
            except RatesError as exc:
                self._card, self.error = RateCard.default(), str(exc)
        return self._card


@dataclass
class Usage:
    """What a deployment's instances have used since it was created."""

    instance_seconds: float = 0.0
    core_seconds: float = 0.0
    gib_seconds: float = 0.0

    def add(self, other: Usage) -> None:
        self.instance_seconds += other.instance_seconds
        self.core_seconds += other.core_seconds
        self.gib_seconds += other.gib_seconds


@dataclass
class UsageLedger:
    """Usage per deployment, kept in a file so that "to date" survives devserver restarts."""

    path: Path
    entries: dict[str, Usage] = field(default_factory=dict)

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = {str(k): Usage(**v) for k, v in raw.items()}
        except (OSError, ValueError, TypeError):
            self.entries = {}

    def usage(self, key: str) -> Usage:
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = Usage()
        return found

    def keep_only(self, keys: set[str]) -> None:
        """Forget the usage of deployments that no longer exist."""
        self.entries = {k: v for k, v in self.entries.items() if k in keys}

    def save(self) -> None:
        data = {k: asdict(v) for k, v in sorted(self.entries.items())}
        if self.path.parent.exists():
            write_private(self.path, json.dumps(data, indent=1) + "\n")


def estimate(
    card: RateCard,
    instance_type: str | None,
    instance_count: int,
    usage: Usage | None,
    rates_path: Path | None = None,
) -> dict[str, Any]:
    """The cost figures of one deployment, as shown by `show` and the API."""
    rate = card.rate(instance_type)
    per_hour = None if rate is None else instance_count * rate.per_hour
    view: dict[str, Any] = {
        "instance_type": instance_type,
        "instance_count": instance_count,
        "currency": card.currency,
        "rate_per_instance_hour": None if rate is None else rate.per_hour,
        "estimated_per_hour": None if per_hour is None else round(per_hour, 6),
        "estimated_to_date": None,
        "instance_hours": None,
        "core_seconds": None,
        "gib_hours": None,
        "rates_source": card.source,
    }
    if usage is not None:
        view["instance_hours"] = round(usage.instance_seconds / 3600, 6)
        view["core_seconds"] = round(usage.core_seconds, 3)
        view["gib_hours"] = round(usage.gib_seconds / 3600, 6)
        if rate is not None:
            view["estimated_to_date"] = round(usage.instance_seconds / 3600 * rate.per_hour, 6)
    if rate is None:
        view["note"] = (
            f"no rate for instance_type {instance_type!r}; add one to "
            f"{rates_path or 'rates.yaml in the epdev home'}"
            if instance_type
            else "the deployment sets no instance_type, so no rate applies"
        )
    return view


def total(views: list[dict[str, Any]], currency: str) -> dict[str, Any]:
    """An endpoint's cost: the sum of its deployments' (None where any deployment has no rate)."""

    def summed(key: str) -> float | None:
        values = [v.get(key) for v in views]
        if any(value is None for value in values):
            return None
        return round(sum(float(v) for v in values if v is not None), 6)

    return {
        "currency": currency,
        "estimated_per_hour": summed("estimated_per_hour"),
        "estimated_to_date": summed("estimated_to_date"),
        "instance_hours": summed("instance_hours"),
        "core_seconds": summed("core_seconds"),
        "gib_hours": summed("gib_hours"),
    }
