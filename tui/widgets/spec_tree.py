"""The deploy view's file picker: folders and spec files only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree

from epdev.tui.spec_check import SPEC_SUFFIXES


class SpecTree(DirectoryTree):
    """Folders and YAML files only, without hidden folders (.git, .venv)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".")
            and p.name not in ("node_modules", "__pycache__")
            and (p.is_dir() or p.suffix.lower() in SPEC_SUFFIXES)
        ]
