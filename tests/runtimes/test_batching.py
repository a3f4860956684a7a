"""Adaptive batching: each concurrent caller gets exactly its own rows back, or its own error."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

from epdev.runtimes.worker.adaptive_batching import Batcher


class Model:
    """Doubles `x`, echoes `id`; a negative x is invalid, as a schema error would be."""

    def __init__(self, output: str = "frame") -> None:
        self.calls: list[int] = []
        self.output = output
        self.lock = threading.Lock()

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        with self.lock:
            self.calls.append(len(data))
        if (data["x"] < 0).any():
            raise ValueError(f"negative x in rows {list(data['id'])}")
        scale = (params or {}).get("scale", 2)
        if self.output == "summary":  # one value for the whole call: cannot be split
            return {"total": float(data["x"].sum() * scale)}
        frame = pd.DataFrame({"id": data["id"], "y": data["x"] * scale})
        return frame if self.output == "frame" else frame["y"].to_numpy()


def frame(caller: int, rows: int, x: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [caller * 100 + i for i in range(rows)], "x": [x + i for i in range(rows)]}
    )


async def _gather(batcher: Batcher, requests: list[tuple[Any, Any]]) -> list[Any]:
    return await asyncio.gather(
        *(batcher.predict(data, params) for data, params in requests), return_exceptions=True
    )


def run(
    model: Model, requests: list[tuple[Any, Any]], size: int = 16, ms: float = 200
) -> list[Any]:
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(model.predict, executor, size, ms)
        return asyncio.run(_gather(batcher, requests))


def test_concurrent_callers_share_one_predict_and_get_their_own_rows() -> None:
    model = Model()
    requests = [(frame(c, rows=c % 3 + 1), None) for c in range(10)]
    results = run(model, requests)
    assert model.calls == [sum(c % 3 + 1 for c in range(10))]
    for caller, (result, merged) in enumerate(results):
        assert merged == 10
        assert list(result["id"]) == list(requests[caller][0]["id"])
        assert list(result["y"]) == [2 * x for x in requests[caller][0]["x"]]


def test_an_invalid_caller_gets_its_error_and_the_others_their_rows() -> None:
    model = Model(output="array")
    requests = [(frame(c, rows=2), None) for c in range(6)]
    requests[3] = (frame(3, rows=2, x=-5.0), None)
    results = run(model, requests)
    assert isinstance(results[3], ValueError)
    assert "negative x in rows [300, 301]" in str(results[3])
    for caller in (0, 1, 2, 4, 5):
        values, merged = results[caller]
        assert list(values) == [2.0, 4.0]
        # The failed call is split in halves until the bad caller is alone.
        assert merged == (3 if caller < 3 else 2)
    assert model.calls == [12, 6, 6, 2, 4]


def test_requests_that_cannot_share_a_call_are_predicted_apart() -> None:
    model = Model()
    requests: list[tuple[Any, Any]] = [
        (frame(1, 2), {"scale": 3}),
        (frame(2, 2), {"scale": 3}),
        (frame(3, 2), None),  # other params
        (frame(4, 2).astype({"x": "float32"}), None),  # other dtypes
        ([1, 2, 3], None),  # not a DataFrame
    ]
    model_predict = model.predict

    def predict(data: Any, params: Any) -> Any:
        if isinstance(data, list):
            return [v * 10 for v in data]
        return model_predict(data, params)

    with ThreadPoolExecutor(1) as executor:
        results = asyncio.run(_gather(Batcher(predict, executor, 16, 200), requests))
    assert sorted(model.calls) == [2, 2, 4]
    assert list(results[0][0]["y"]) == [3.0, 6.0] and results[0][1] == 2
    assert list(results[2][0]["y"]) == [2.0, 4.0] and results[2][1] == 1
    assert results[4] == ([10, 20, 30], 1)


def test_output_that_is_not_one_row_per_input_row_is_predicted_per_caller() -> None:
    model = Model(output="summary")
    results = run(model, [(frame(c, 2), None) for c in range(3)])
    assert [r[0] for r in results] == [{"total": 6.0}] * 3
    assert model.calls == [6, 2, 2, 2]


@pytest.mark.parametrize("size", [1, 4])
def test_max_batch_size_bounds_the_requests_per_call(size: int) -> None:
    model = Model()
    results = run(model, [(frame(c, 1), None) for c in range(8)], size=size)
    assert all(len(r[0]) == 1 for r in results)
    assert max(model.calls) == size
    assert sum(model.calls) == 8


def test_with_no_latency_budget_a_lone_request_goes_at_once() -> None:
    model = Model()
    [(result, merged)] = run(model, [(frame(1, 1), None)], ms=0)
    assert merged == 1 and list(result["y"]) == [2.0]
    assert model.calls == [1]


def test_a_lone_caller_does_not_wait_for_the_latency_budget() -> None:
    # A 60 s budget: a batcher that waited it for company would not answer within the test's
    # bound, which is not a measure of speed but of not waiting at all.
    async def lone() -> Any:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(Model().predict, executor, 16, 60_000)
            first = await asyncio.wait_for(batcher.predict(frame(1, 1), None), 30)
            second = await asyncio.wait_for(batcher.predict(frame(2, 1), None), 30)
            return first, second

    (first, shared_first), (second, shared_second) = asyncio.run(lone())
    assert (shared_first, shared_second) == (1, 1)
    assert list(first["y"]) == [2.0] and list(second["y"]) == [2.0]


def test_callers_that_came_together_still_wait_for_company() -> None:
    async def crowd() -> list[Any]:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(Model().predict, executor, 16, 500)
            await _gather(batcher, [(frame(c, 1), None) for c in range(3)])
            # Crowded now: a caller arriving just after another joins its call.
            first = asyncio.ensure_future(batcher.predict(frame(7, 1), None))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(batcher.predict(frame(8, 1), None))
            return list(await asyncio.gather(first, second))

    results = asyncio.run(crowd())
    assert [shared for _, shared in results] == [2, 2]
