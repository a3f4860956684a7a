"""Changes the user asks for: a confirmation first, then one call whose outcome is reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.message_pump import MessagePump

from epdev.tui.messages import Done, Failed
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.source import ClientError


def confirm_then(app: App[Any], title: str, question: str, then: Callable[[], object]) -> None:
    """Ask `question`; call `then()` only on a yes."""

    def answered(yes: bool | None) -> None:
        if yes:
            then()

    app.push_screen(ConfirmScreen(title, question), answered)


async def report(target: MessagePump, call: Awaitable[object], done: str, failed: str) -> None:
    """Await a change (in a worker) and tell `target`: Done(done), or Failed("failed: why")."""
    try:
        await call
    except ClientError as exc:
        target.post_message(Failed(f"{failed}: {exc}"))
        return
    target.post_message(Done(done))
