"""One mini-batch through a batch script: call `run(mini_batch)` and turn its answer into rows.

Azure's batch contract: `run()` gets a list of file paths and returns a list or a pandas
DataFrame. With `append_row`, each list element or DataFrame row becomes one line of the output
file, without a header: a DataFrame's columns in its own order, comma-separated (CSV quoting);
a list element that is a list, tuple or dict gives its values comma-separated; anything else is
written as `str(element)` on one line. The same code serves the local worker processes and the
Dask engine's tasks, so both write identical bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from epdev.runtimes.worker.script import UserScript


class BadResult(Exception):
    """run() answered something that is not a list or a DataFrame."""


@dataclass(frozen=True)
class MiniBatchResult:
    rows: int
    text: str  # the rows as output lines ("" under summary_only)


def run_minibatch(script: UserScript, files: Sequence[str], keep_rows: bool) -> MiniBatchResult:
    """Call the script's run() on `files`; raises whatever run() raises, or BadResult."""
    answer = script.call_run(list(files), None)
    return to_rows(answer, keep_rows)


def to_rows(answer: Any, keep_rows: bool) -> MiniBatchResult:
    if answer is None:
        raise BadResult("run() returned None; return a list or a DataFrame, one row per item")
    if _is_dataframe(answer):
        count = len(answer)
        if not keep_rows:
            return MiniBatchResult(count, "")
        text = answer.to_csv(header=False, index=False, lineterminator="\n")
        return MiniBatchResult(count, str(text))
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        raise BadResult(
            f"run() returned {type(answer).__name__}; return a list or a DataFrame, one row per "
            "item"
        )
    items = list(answer)
    if not keep_rows:
        return MiniBatchResult(len(items), "")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for item in items:
        if isinstance(item, list | tuple):
            writer.writerow(item)
        elif isinstance(item, dict):
            writer.writerow(item.values())
        else:
            # One line per item, whatever the text holds.
            buffer.write(" ".join(str(item).splitlines()) + "\n")
    return MiniBatchResult(len(items), buffer.getvalue())


def _is_dataframe(value: Any) -> bool:
    # Duck-typed: pandas is the user's dependency, not ours.
    return hasattr(value, "to_csv") and hasattr(value, "columns") and hasattr(value, "iloc")
