"""Traffic sliders: shift an endpoint's split with the arrow keys, confirm, then send it.

One slider per deployment for the live split, and one for mirror traffic: the share of calls
copied to a deployment that takes no live traffic (`m` picks which).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from epdev.specs.traffic import MIRROR_MAX
from epdev.tui import split
from epdev.tui.colours import colour_of
from epdev.tui.messages import Done, Failed
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.source import ClientError
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.slider import TrafficSlider

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

MIRROR = "mirror"
"""The mirror slider's name; the screen tells it from a deployment's by its widget id, since a
deployment may be called "mirror" too."""


class TrafficScreen(Screen[bool]):
    """Dismisses with True once a new split was applied, False when discarded."""

    AUTO_FOCUS = "TrafficSlider"
    BINDINGS = [
        Binding("enter", "apply", "Apply"),
        Binding("escape", "discard", "Discard"),
        Binding("0", "zero", "All to 0"),
        Binding("a", "all", "All to this one"),
        Binding("m", "mirror_target", "Mirror target"),
        Binding("up", "app.focus_previous", "Previous", show=False),
        Binding("down", "app.focus_next", "Next", show=False),
    ]

    def __init__(
        self,
        endpoint: str,
        deployments: list[str],
        traffic: dict[str, int],
        mirror: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.names = list(deployments)
        self.before = split.normalized(traffic, self.names)
        self.split = dict(self.before)
        self.mirror_before = {n: p for n, p in (mirror or {}).items() if p}
        self.mirror = dict(self.mirror_before)
        # Where copies go once the mirror slider leaves 0 (chosen with `m`).
        self.mirror_target_hint: str | None = self._mirror_pair(self.mirror)[0]
        self._sending = False

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    @property
    def has_mirror_slider(self) -> bool:
        # A mirror needs a deployment besides the live ones.
        return len(self.names) > 1

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]Traffic of {escape(self.endpoint)}[/b] · ←/→ move 1 · shift+←/→ 10 · "
            "type a number · ↑/↓ pick a slider · the others rebalance to keep 100",
            classes="status",
        )
        with Vertical(id="sliders"):
            for name in self.names:
                colour = colour_of(name, self.names)
                yield TrafficSlider(name, self.split[name], self.before[name], color=colour)
            if self.has_mirror_slider:
                target, share = self._mirror_pair(self.mirror)
                _, was = self._mirror_pair(self.mirror_before)
                yield TrafficSlider(
                    MIRROR,
                    share,
                    was,
                    label=self._mirror_label(target),
                    maximum=MIRROR_MAX,
                    id="slider-mirror",
                )
        yield Static(id="total", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_total()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mirror_target" and not self.has_mirror_slider:
            return False
        return not (action in ("apply", "zero", "all", "mirror_target") and self.epdev.read_only)

    # Editing

    @staticmethod
    def _mirror_pair(mirror: dict[str, int]) -> tuple[str | None, int]:
        for name, share in mirror.items():
            if share:
                return name, share
        return None, 0

    @staticmethod
    def _mirror_label(target: str | None) -> str:
        return f"mirror → {target or '(none)'}"

    def _mirror_candidates(self) -> list[str]:
        return [name for name in self.names if not self.split.get(name)]

    def on_traffic_slider_nudged(self, message: TrafficSlider.Nudged) -> None:
        if self.epdev.read_only:
            return
        if message.slider.id == "slider-mirror":
            self._nudge_mirror(message.delta)
        else:
            self._set(split.nudge(self.split, message.deployment, message.delta), self.mirror)

    def on_traffic_slider_typed(self, message: TrafficSlider.Typed) -> None:
        """A typed share: the slider goes there at once and the others rebalance."""
        if self.epdev.read_only:
            return
        slider = message.slider
        if slider.id == "slider-mirror":
            _, share = self._mirror_pair(self.mirror)
            self._nudge_mirror(message.share - share)
        else:
            current = self.split[slider.deployment]
            if sum(self.split.values()) == 0 and message.share:
                # From all 0, nudge hands everything to one: then bring it to the typed share.
                self._set(split.nudge(self.split, slider.deployment, 1), self.mirror)
                current = self.split[slider.deployment]
            new = split.nudge(self.split, slider.deployment, message.share - current)
            self._set(new, self.mirror)

    def action_all(self) -> None:
        focused = self.focused
        if not isinstance(focused, TrafficSlider) or focused.id == "slider-mirror":
            self.notify("pick a deployment's slider first (↑/↓)")
            return
        self._set({n: 100 if n == focused.deployment else 0 for n in self.names}, self.mirror)

    def _nudge_mirror(self, delta: int) -> None:
        target, share = self._mirror_pair(self.mirror)
        if target is None:
            candidates = self._mirror_candidates()
            if not candidates:
                self.notify("every deployment takes live traffic; a mirror needs one at 0%")
                return
            target = self.mirror_target_hint or candidates[0]
        share = max(0, min(MIRROR_MAX, share + delta))
        self._set(self.split, {target: share} if share else {}, target)

    def action_mirror_target(self) -> None:
        """Send the copies to the next deployment that takes no live traffic."""
        candidates = self._mirror_candidates()
        target, share = self._mirror_pair(self.mirror)
        current = target or self.mirror_target_hint
        if not candidates:
            self.notify("every deployment takes live traffic; a mirror needs one at 0%")
            return
        index = candidates.index(current) + 1 if current in candidates else 0
        chosen = candidates[index % len(candidates)]
        self._set(self.split, {chosen: share} if share else {}, chosen)

    def action_zero(self) -> None:
        self._set(split.zeroed(self.split), self.mirror)

    def _set(self, new: dict[str, int], mirror: dict[str, int], target: str | None = None) -> None:
        if not split.is_valid(new, self.names):
            return  # cannot happen by construction; never show a split we would not send
        self.split = new
        self.mirror = mirror
        if target is not None:
            self.mirror_target_hint = target
        for slider in self.query(TrafficSlider):
            if slider.id == "slider-mirror":
                shown, share = self._mirror_pair(mirror)
                slider.label = self._mirror_label(shown or self.mirror_target_hint)
                slider.value = share
                slider.refresh()
            else:
                slider.value = new[slider.deployment]
        self._show_total()

    def _problem(self) -> str | None:
        return split.mirror_problem(self.mirror, self.split, self.names)

    def _show_total(self) -> None:
        total = sum(self.split.values())
        changed = self.split != self.before or self.mirror != self.mirror_before
        state = "no traffic anywhere (all 0)" if total == 0 else f"total {total}%"
        problem = self._problem()
        if problem:
            note = f"[red]{escape(problem)}: cannot apply[/red]"
        elif changed:
            note = "[yellow]changed: enter to apply, esc to discard[/yellow]"
        else:
            note = ""
        self.query_one("#total", Static).update(f"{state}   {note}")

    # Applying

    def action_discard(self) -> None:
        self.dismiss(False)

    def action_apply(self) -> None:
        if self._sending:
            return
        if self.split == self.before and self.mirror == self.mirror_before:
            self.notify("the split is unchanged; nothing to apply")
            return
        problem = self._problem()
        if problem:
            self.notify(f"not sent: {problem}", severity="error")
            return
        rows = [
            f"  {escape(name):<16} {self.before[name]:>3}%  →  {self.split[name]:>3}%"
            for name in self.names
        ]
        if self.mirror != self.mirror_before:
            was_target, was = self._mirror_pair(self.mirror_before)
            now_target, now = self._mirror_pair(self.mirror)
            rows.append(
                f"  {'mirror':<16} {was:>3}% {escape(was_target or '')}  →  "
                f"{now:>3}% {escape(now_target or '')}"
            )
        proposed = dict(self.split)
        mirror = dict(self.mirror)

        def answered(yes: bool | None) -> None:
            if yes:
                self._sending = True
                self.send(proposed, mirror)

        self.app.push_screen(
            ConfirmScreen(f"Apply traffic to {self.endpoint}", "\n".join(rows)), answered
        )

    @work(exclusive=True, exit_on_error=False, group="change")
    async def send(self, proposed: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        mirror = self.mirror_before if mirror is None else mirror
        # Checked again right before the call: only a valid split ever leaves the dashboard.
        if split.mirror_problem(mirror, proposed, self.names):
            self.post_message(Failed("refused to send an invalid split"))
            return
        changes: dict[str, dict[str, int]] = {"traffic": proposed}
        if mirror != self.mirror_before:
            changes["mirror_traffic"] = split.mirror_patch(self.mirror_before, mirror)
        try:
            await self.epdev.source.update_endpoint(self.endpoint, **changes)
        except ClientError as exc:
            self.post_message(Failed(f"traffic not changed: {exc}"))
            return
        shown = " · ".join(f"{n} {p}%" for n, p in proposed.items())
        target, share = self._mirror_pair(mirror)
        if target:
            shown += f" · mirror {share}% to {target}"
        self.post_message(Done(f"{self.endpoint}: traffic now {shown}"))

    def on_failed(self, message: Failed) -> None:
        self._sending = False

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.dismiss(True)
