"""`~` and `~user` in paths users give, with a one-line error where no such home exists."""

from __future__ import annotations

from pathlib import Path


def expand_user(path: Path) -> Path:
    """`path` with a leading `~` or `~user` expanded; ValueError naming the path when the home
    folder it means is not known (`Path.expanduser` raises a bare RuntimeError then)."""
    try:
        return path.expanduser()
    except RuntimeError:
        user = path.parts[0][1:] if path.parts else ""
        raise ValueError(
            f"{path}: there is no user {user!r} whose home folder ~{user} could mean"
            if user
            else f"{path}: the home folder ~ is not known here"
        ) from None
