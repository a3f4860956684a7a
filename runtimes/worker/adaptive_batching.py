"""Adaptive batching: concurrent requests to one model merged into one predict call.

Requests queue while the model predicts; the next predict takes what has queued (up to
`max_batch_size` requests). While callers come together (the last call served more than one
request), it waits at most `max_latency_ms` from the oldest one's arrival for more to join; a lone
caller is dispatched at once, so batching costs it nothing. Only requests with the same merge key
(for DataFrames: columns and dtypes; for other data, a key the caller gives) and equal params merge;
each gets back exactly its own rows. When a merged call fails, its requests are split in halves and
tried again, down to single requests, so a caller with bad rows gets its own error and the others
their results (still sharing calls). An output without one row per input row makes every request of
that call be predicted on its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from epdev.runtimes.worker import handoff

Predict = Callable[[Any, dict[str, Any] | None], Any]
"""predict(data, params) -> raw predictions, run on the executor's thread."""
Merge = Callable[[list[Any]], Any]
"""merge(datas) -> the data of one call over all their rows, in order (on the thread)."""


def concat_frames(datas: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(datas)


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
        self,
        predict: Predict,
        executor: Executor,
        max_batch_size: int,
        max_latency_ms: float,
        merge: Merge = concat_frames,
    ) -> None:
        self._predict = predict
        self._merge = merge
        self._executor = executor
        self.max_batch_size = max(1, max_batch_size)
        self.max_latency = max(0.0, max_latency_ms) / 1000
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Whether the last predict call served more than one request: only then is waiting
        # for more worth its latency.
        self._crowded = False
        # Figures for the logs and the benchmark: predict calls and requests they served.
        self.calls = 0
        self.requests = 0

    async def predict(
        self,
        data: Any,
        params: dict[str, Any] | None,
        shape: tuple[Hashable, int] | None = None,
    ) -> tuple[Any, int]:
        """The predictions for `data` alone, and how many requests shared the predict call
        that made them; raises what predicting `data` alone raises.

        `shape` is what requests must share to merge and the number of rows, for data that
        are not a DataFrame (which `merge` knows how to join); None for a DataFrame.
        """
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        if shape is None:
            key, rows = _merge_key(data, params)
        else:
            key, rows = (shape[0], _params_key(params)), shape[1]
        request = _Request(data, params, key, rows, loop.time(), loop.create_future())
        self._queue.put_nowait(request)
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(loop)
            try:
                outcomes = await handoff.call(self._executor, self._predict_batch, batch)
            except Exception as exc:  # a fault of ours: fail these callers, keep serving others
                outcomes = [(0, exc)] * len(batch)
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
            if not self._crowded:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        self._crowded = len(batch) > 1
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
            for i, outcome in zip(indexes, self._solve(members), strict=True):
                outcomes[i] = outcome
        return [outcomes[i] for i in range(len(batch))]

    def _solve(self, members: list[_Request]) -> list[tuple[int, Any]]:
        """Outcomes for requests that may share a call. When the shared call fails, someone's
        rows are bad: each half is tried on its own, down to the culprits alone, so the good
        requests still share calls."""
        if len(members) == 1:
            return [self._alone(members[0])]
        try:
            shares = self._merged(members)
        except Exception:
            middle = len(members) // 2
            return self._solve(members[:middle]) + self._solve(members[middle:])
        if shares is None:  # an output that cannot be split by rows
            return [self._alone(member) for member in members]
        return [(len(members), share) for share in shares]

    def _alone(self, request: _Request) -> tuple[int, Any]:
        try:
            return 1, self._predict(request.data, request.params)
        except Exception as exc:
            return 0, exc

    def _merged(self, members: list[_Request]) -> list[Any] | None:
        """Each member's share of one predict call over all their rows; None when the output
        has not one row per input row. Raises what the call raised."""
        total = sum(m.rows for m in members)
        raw = self._predict(self._merge([m.data for m in members]), members[0].params)
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
        key: Hashable = (tuple(data.columns), tuple(str(t) for t in data.dtypes))
        hash(key)
        return (key, _params_key(params)), len(data)
    except (TypeError, ValueError):
        return None, 0


def _params_key(params: dict[str, Any] | None) -> str:
    """Params as text: requests merge only when theirs are equal. Raises TypeError or
    ValueError for params that cannot be written as JSON."""
    return json.dumps(params, sort_keys=True)


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
