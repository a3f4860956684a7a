"""Adaptive batching: concurrent requests to one model merged into one predict call.

Requests queue while the model predicts; the next predict takes what has queued (up to
`max_batch_size` requests), after waiting at most `max_latency_ms` from the oldest one's arrival
for more to join. Only requests whose data are DataFrames with the same columns, dtypes and
params merge; each gets back exactly its own rows. When the merged call fails, or its output
does not have one row per input row, every request is predicted on its own, so a caller with
bad rows gets its own error and the others their results.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

Predict = Callable[[Any, dict[str, Any] | None], Any]
"""predict(data, params) -> raw predictions, run on the executor's thread."""


@dataclass(eq=False)
class _Request:
    data: Any
    params: dict[str, Any] | None
    key: Hashable | None
    rows: int
    arrived: float
    future: asyncio.Future[tuple[Any, int]] = field(repr=False)


class Batcher:
    """Feeds one model from concurrent callers, one predict call at a time."""

    def __init__(
        self, predict: Predict, executor: Executor, max_batch_size: int, max_latency_ms: float
    ) -> None:
        self._predict = predict
        self._executor = executor
        self.max_batch_size = max(1, max_batch_size)
        self.max_latency = max(0.0, max_latency_ms) / 1000
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Figures for the logs and the benchmark: predict calls and requests they served.
        self.calls = 0
        self.requests = 0

    async def predict(self, data: Any, params: dict[str, Any] | None) -> tuple[Any, int]:
        """The predictions for `data` alone, and how many requests shared the predict call
        that made them; raises what predicting `data` alone raises."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        key, rows = _merge_key(data, params)
        request = _Request(data, params, key, rows, loop.time(), loop.create_future())
        self._queue.put_nowait(request)
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(loop)
            outcomes = await loop.run_in_executor(self._executor, self._predict_batch, batch)
            self.calls += 1
            self.requests += len(batch)
            for request, (shared, value) in zip(batch, outcomes, strict=True):
                if request.future.done():
                    continue  # the caller went away
                if shared:
                    request.future.set_result((value, shared))
                else:
                    request.future.set_exception(value)

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[_Request]:
        first = await self._queue.get()
        batch = [first]
        deadline = first.arrived + self.max_latency
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    def _predict_batch(self, batch: list[_Request]) -> list[tuple[int, Any]]:
        """One outcome per request, on a thread: (requests in its predict call, predictions),
        or (0, exception)."""
        outcomes: dict[int, tuple[int, Any]] = {}
        groups: dict[Hashable, list[int]] = {}
        for index, request in enumerate(batch):
            if request.key is None:
                outcomes[index] = self._alone(request)
            else:
                groups.setdefault(request.key, []).append(index)
        for indexes in groups.values():
            members = [batch[i] for i in indexes]
            merged = self._merged(members) if len(members) > 1 else None
            for i, request in zip(indexes, members, strict=True):
                outcomes[i] = (len(members), merged.pop(0)) if merged else self._alone(request)
        return [outcomes[i] for i in range(len(batch))]

    def _alone(self, request: _Request) -> tuple[int, Any]:
        try:
            return 1, self._predict(request.data, request.params)
        except Exception as exc:
            return 0, exc

    def _merged(self, members: list[_Request]) -> list[Any] | None:
        """Each member's share of one predict call over all their rows, or None."""
        import pandas as pd

        total = sum(m.rows for m in members)
        try:
            raw = self._predict(pd.concat([m.data for m in members]), members[0].params)
        except Exception:
            return None  # someone's rows are bad: each is predicted alone to find whose
        cut = _slicer(raw, total)
        if cut is None:
            return None
        shares: list[Any] = []
        start = 0
        for member in members:
            shares.append(cut(start, start + member.rows))
            start += member.rows
        return shares


def _merge_key(data: Any, params: dict[str, Any] | None) -> tuple[Hashable | None, int]:
    """What requests must share to merge (None: never merges), and the request's rows."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        return None, 0
    try:
        params_key = json.dumps(params, sort_keys=True)
        key: Hashable = (tuple(data.columns), tuple(str(t) for t in data.dtypes), params_key)
        hash(key)
    except (TypeError, ValueError):
        return None, 0
    return key, len(data)


def _slicer(raw: Any, total: int) -> Callable[[int, int], Any] | None:
    """A way to cut per-request rows out of predictions with one row per input row."""
    import numpy as np
    import pandas as pd

    if isinstance(raw, pd.DataFrame | pd.Series) and len(raw) == total:
        return lambda start, stop: raw.iloc[start:stop]
    if isinstance(raw, np.ndarray) and raw.ndim >= 1 and raw.shape[0] == total:
        return lambda start, stop: raw[start:stop]
    if isinstance(raw, list) and len(raw) == total:
        return lambda start, stop: raw[start:stop]
    return None
