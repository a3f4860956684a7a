"""One deployment's share of an endpoint's traffic, moved with the arrow keys."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

TYPING_PAUSE = 1.5
"""Seconds after which a digit starts a new number rather than extending the last one."""


class TrafficSlider(Widget, can_focus=True):
    DEFAULT_CSS = """
    TrafficSlider { height: 1; width: 1fr; }
    """
    BINDINGS = [
        Binding("left", "nudge(-1)", "-1", show=False),
        Binding("right", "nudge(1)", "+1", show=False),
        Binding("shift+left", "nudge(-10)", "-10", show=False),
        Binding("shift+right", "nudge(10)", "+10", show=False),
    ]

    value: reactive[int] = reactive(0)

    @dataclass
    class Nudged(Message):
        """The user asked to move `slider` by `delta` points; the screen decides."""

        slider: TrafficSlider
        delta: int

        @property
        def deployment(self) -> str:
            return self.slider.deployment

        @property
        def control(self) -> TrafficSlider:
            return self.slider

    @dataclass
    class Typed(Message):
        """The user typed a share for `slider` (digits, one at a time): `8`, then `80`."""

        slider: TrafficSlider
        share: int

        @property
        def control(self) -> TrafficSlider:
            return self.slider

    def __init__(
        self,
        deployment: str,
        value: int,
        before: int,
        *,
        label: str | None = None,
        maximum: int = 100,
        color: str = "green",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id or f"slider-{deployment}")
        self.deployment = deployment
        self.before = before
        self.label = label or deployment
        self.maximum = maximum
        self.color = color
        """The deployment's colour, as in its table row and charts."""
        self.set_reactive(TrafficSlider.value, value)
        self._typed = ""
        self._typed_at = 0.0

    def action_nudge(self, delta: int) -> None:
        self._typed = ""
        self.post_message(self.Nudged(self, delta))

    def on_key(self, event: events.Key) -> None:
        digit = event.character if event.character and event.character.isdigit() else None
        if digit is None:
            return
        if time.monotonic() - self._typed_at > TYPING_PAUSE:
            self._typed = ""
        if digit == "0" and not self._typed:
            return  # a lone 0 is the screen's "all to 0"
        event.stop()
        event.prevent_default()
        self._typed = (self._typed + digit)[-3:]
        self._typed_at = time.monotonic()
        self.post_message(self.Typed(self, min(int(self._typed), self.maximum)))

    def render(self) -> Text:
        label_width = 20
        number = f"{self.value:>3}%"
        was = "" if self.value == self.before else f"  (was {self.before}%)"
        bar_width = max(10, self.size.width - label_width - len(number) - 16)
        filled = round(bar_width * self.value / self.maximum)
        text = Text()
        marker = "▶ " if self.has_focus else "  "
        text.append(marker + self.label[: label_width - 3].ljust(label_width - 2), "bold")
        text.append("█" * filled, self.color if self.has_focus else f"dim {self.color}")
        text.append("░" * (bar_width - filled), "bright_black")
        text.append(f" {number}", "bold")
        text.append(was, "yellow")
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self._typed = ""
        self.refresh()
