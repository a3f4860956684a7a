"""The `epdev` console script: a small entry point that keeps every command's start-up light."""

from __future__ import annotations

import sys

# Installed beside epdev's dependencies but never used by it (epdev runs on asyncio, and has a
# CLI of its own): httpcore imports trio and httpx imports its own command line (rich) whenever
# they are importable, over 100 ms of every command's start-up. A None entry makes their
# optional imports fall back as if they were absent.
_UNUSED = ("trio", "httpx._main")


def main() -> None:
    for name in _UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from epdev.devserver.cli.main import cli

    cli(prog_name="epdev")


if __name__ == "__main__":
    main()
