"""The Dask engine's task: run one mini-batch in a Dask worker process.

The script is loaded and its init() called once per worker process (per script), as a batch
worker does; later tasks reuse it. The answer is the same rows text a local worker sends.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from epdev.runtimes.worker.batch import load_batch_script
from epdev.runtimes.worker.batchrows import run_minibatch
from epdev.runtimes.worker.script import UserScript, describe

_loaded: dict[tuple[str, ...], UserScript] = {}
_lock = threading.Lock()


class InitFailed(Exception):
    """The script could not load or its init() raised: no mini-batch can run here."""


def run_on_dask(setup: dict[str, Any], files: list[str]) -> tuple[int, str]:
    environment: dict[str, str] = setup["environment"]
    key = (
        setup["app_root"],
        setup["entry_script"],
        setup["model_dir"],
        *sorted(f"{k}={v}" for k, v in environment.items()),
    )
    with _lock:
        script = _loaded.get(key)
        if script is None:
            os.environ.update(environment)
            try:
                script = load_batch_script(
                    setup["app_root"], setup["entry_script"], setup["model_dir"]
                )
            except BaseException as exc:
                raise InitFailed(f"the batch script could not start: {describe(exc)}") from None
            _loaded[key] = script
    result = run_minibatch(script, files, keep_rows=not setup["summary_only"])
    return result.rows, result.text
