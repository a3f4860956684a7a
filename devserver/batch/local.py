"""The local engine: one worker process per slot (`python -m epdev.runtimes.worker.batch`),
started for the job and stopped when it ends. A worker that times out or dies is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from epdev.devserver.batch.slots import Answer, EngineFailed, MiniBatchFailed, ScriptSetup

# init() may load a large model; past this, the job fails rather than waiting forever.
INIT_TIMEOUT_SECONDS = 600.0


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        self.proc = proc
        self.log = log

    async def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self._answer(), timeout)

    async def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            code = await self.proc.wait()
            raise MiniBatchFailed(f"the worker exited with code {code}")
        header: dict[str, Any] = json.loads(line)
        size = int(header.get("bytes", 0))
        header["data"] = await self.proc.stdout.readexactly(size) if size else b""
        return header

    async def stop(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        self.log.close()

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()
        self.log.close()


class LocalSlots:
    def __init__(self, setup: ScriptSetup, size: int, log_path: Any) -> None:
        self.setup = setup
        self.size = size
        self._log_path = log_path  # slot index -> Path of that worker's log
        self._workers: dict[int, _Worker] = {}
        self.pids: list[int] = []

    async def start(self) -> None:
        started = await asyncio.gather(
            *(self._spawn(i) for i in range(self.size)), return_exceptions=True
        )
        problems = [s for s in started if isinstance(s, BaseException)]
        if problems:
            await self.stop()
            first = problems[0]
            if isinstance(first, EngineFailed):
                raise first
            raise EngineFailed(f"could not start the workers: {first}")

    async def _spawn(self, slot: int) -> None:
        setup = self.setup
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(setup.environment)
        argv = [
            sys.executable,
            "-P",
            "-m",
            "epdev.runtimes.worker.batch",
            "--app-root",
            str(setup.app_root),
            "--entry-script",
            setup.entry_script,
            "--model-dir",
            str(setup.model_dir),
            "--parent-pid",
            str(os.getpid()),
        ]
        if setup.summary_only:
            argv.append("--summary-only")
        log_path: Path = self._log_path(slot)
        log = log_path.open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=setup.app_root,
                env=env,
                start_new_session=True,
                limit=1 << 20,
            )
        except OSError as exc:
            log.close()
            raise EngineFailed(f"could not start a worker: {exc}") from exc
        worker = _Worker(proc, log)
        self._workers[slot] = worker
        self.pids.append(proc.pid)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), INIT_TIMEOUT_SECONDS)
        except TimeoutError:
            raise EngineFailed(f"init() did not finish within {INIT_TIMEOUT_SECONDS:g} s") from None
        hello: dict[str, Any] = json.loads(line) if line.strip() else {}
        if not hello.get("ready"):
            reason = hello.get("error") or f"the worker exited (see {log_path})"
            raise EngineFailed(f"worker {slot} could not start: {reason}")

    async def run(self, slot: int, number: int, files: list[str], timeout: float) -> Answer:
        worker = self._workers[slot]
        try:
            answer = await worker.ask({"minibatch": number, "files": files}, timeout)
        except TimeoutError:
            await self._replace(slot, worker)
            raise MiniBatchFailed(
                f"run() did not finish within the timeout of {timeout:g} s"
            ) from None
        except (MiniBatchFailed, ConnectionError, asyncio.IncompleteReadError) as exc:
            await self._replace(slot, worker)
            raise MiniBatchFailed(str(exc) or "the worker went away") from None
        if not answer.get("ok"):
            raise MiniBatchFailed(str(answer.get("error") or "run() failed"))
        return Answer(rows=int(answer["rows"]), data=answer["data"])

    async def _replace(self, slot: int, worker: _Worker) -> None:
        await worker.kill()
        await self._spawn(slot)

    async def stop(self) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
