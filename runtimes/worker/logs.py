"""The worker's output: unbuffered stdio, and Python logging on stderr."""

from __future__ import annotations

import logging
import os
import sys
import time

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s - %(message)s"

logger = logging.getLogger("azmlinfsrv")
"""The worker's own messages, under the logger name azmlinfsrv uses in Azure's logs."""


def configure() -> None:
    """Make stdout/stderr write through and send log records (INFO and up) to stderr."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=True, errors="backslashreplace")
    formatter = logging.Formatter(FORMAT)
    formatter.converter = time.gmtime
    level = os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        level = "INFO"
    # The worker's logger has a handler of its own, so tracebacks of failed run() calls reach
    # the logs even when the script reconfigures the root logger.
    for target, propagate in ((logging.getLogger(), True), (logger, False)):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        target.addHandler(handler)
        target.setLevel(level)
        target.propagate = propagate
    # uvicorn's start/stop chatter is noise here; its errors still show.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
