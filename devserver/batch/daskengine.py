"""The Dask engine: each mini-batch is a task on an existing dask.distributed cluster.

The job runner keeps retries, timeouts, the error threshold and the output, exactly as with
the local engine; Dask only runs `run_on_dask` where it likes. A timed-out task is cancelled,
but a task already running in a Dask worker thread runs on until it returns (Dask cannot stop
a thread): its answer is then ignored.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from epdev.devserver.batch.slots import Answer, EngineFailed, MiniBatchFailed, ScriptSetup
from epdev.runtimes.worker.batchtask import InitFailed, run_on_dask
from epdev.runtimes.worker.script import describe

CONNECT_TIMEOUT_SECONDS = 30


class DaskSlots:
    def __init__(self, address: str, setup: ScriptSetup, size: int) -> None:
        self.address = address
        self.size = size
        self.setup: dict[str, Any] = {
            "app_root": str(setup.app_root),
            "entry_script": setup.entry_script,
            "model_dir": str(setup.model_dir),
            "environment": setup.environment,
            "summary_only": setup.summary_only,
        }
        self._client: Any = None
        self._run_id = uuid.uuid4().hex[:8]

    async def start(self) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise EngineFailed(
                "engine dask needs the distributed package: pip install 'epdev[dask]'"
            ) from None
        try:
            self._client = await Client(  # type: ignore[no-untyped-call]
                self.address, asynchronous=True, timeout=CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            raise EngineFailed(
                f"cannot reach the Dask scheduler at {self.address}: {exc}"
            ) from None

    async def run(self, slot: int, number: int, files: list[str], timeout: float) -> Answer:
        future = self._client.submit(
            run_on_dask,
            self.setup,
            files,
            pure=False,
            key=f"epdev-minibatch-{self._run_id}-{number}-{uuid.uuid4().hex[:6]}",
        )
        try:
            rows, text = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            await future.cancel()
            raise MiniBatchFailed(
                f"run() did not finish within the timeout of {timeout:g} s"
            ) from None
        except InitFailed as exc:
            raise EngineFailed(str(exc)) from None
        except asyncio.CancelledError:
            await future.cancel()
            raise
        except Exception as exc:
            raise MiniBatchFailed(describe(exc)) from None
        return Answer(rows=int(rows), data=str(text).encode("utf-8"))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
