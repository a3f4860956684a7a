"""The worker's command line: load the script, call init() once, then serve until told to stop.

    python -P -m epdev.runtimes.worker --fd N [--ready-fd M] [--parent-pid P]
                                       [--max-concurrent-requests K]
                                       [--app-root DIR] [--entry-script FILE] [--model-dir DIR]

The listening socket comes either inherited (``--fd``, already bound and listening) or from
``--bind HOST:PORT``. Once init() has returned and the server accepts requests, the worker
writes ``ready`` and a newline to ``--ready-fd``; when the script cannot load or init() raises
it writes ``error <one-line reason>`` there, logs the traceback on stderr and exits with code 3
(as azmlinfsrv does). The worker exits by itself once the process ``--parent-pid`` is no longer
its parent. ``--app-root``, ``--entry-script`` and ``--model-dir`` default to Azure's variables
``AML_APP_ROOT`` (else the current folder), ``AZUREML_ENTRY_SCRIPT`` and ``AZUREML_MODEL_DIR``,
which the worker then sets to the values it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from epdev.runtimes.worker import aliases, logs, modes, swagger
from epdev.runtimes.worker.fds import close_inherited
from epdev.runtimes.worker.logs import logger
from epdev.runtimes.worker.script import (
    RAW,
    SCHEMA,
    ScriptError,
    ScriptImportError,
    UserScript,
    describe,
    format_traceback,
)

BOOT_ERROR = 3
"""The exit code for a script that cannot load or whose init() fails, as in azmlinfsrv."""
PARENT_POLL_SECONDS = 0.5
MODEL_TREE_LIMIT = 200


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m epdev.runtimes.worker",
        description="Serve one Azure ML scoring script (one instance of a deployment).",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="an inherited, listening TCP socket")
    where.add_argument("--bind", metavar="HOST:PORT", help="bind and listen here instead")
    parser.add_argument("--ready-fd", type=int, help="a pipe to report ready or error on")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=os.getppid(),
        help="exit when this process is no longer the parent (default: the parent; 0: never)",
    )
    parser.add_argument("--max-concurrent-requests", type=int, default=1, metavar="K")
    parser.add_argument("--app-root", default=env.get("AML_APP_ROOT") or str(Path.cwd()))
    parser.add_argument("--entry-script", default=env.get("AZUREML_ENTRY_SCRIPT") or "main.py")
    parser.add_argument("--model-dir", default=env.get("AZUREML_MODEL_DIR"))
    return parser.parse_args(argv)


class Reporter:
    """Tells whoever started the worker, over a pipe, whether it became ready."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        if fd is not None:
            os.set_inheritable(fd, False)

    def _write(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, (" ".join(line.split("\n")) + "\n").encode("utf-8", "replace"))
            os.close(self.fd)
        except OSError:
            pass
        self.fd = None

    def ready(self) -> None:
        self._write("ready")

    def failed(self, reason: str) -> None:
        self._write(f"error {reason}")


def watch_parent(parent_pid: int) -> None:
    """Exit the process soon after `parent_pid` stops being our parent (it died)."""
    if parent_pid <= 0:
        return

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"parent process {parent_pid} exited; stopping the worker\n")
                os._exit(0)

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()


def listening_socket(args: argparse.Namespace) -> socket.socket:
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        host, _, port = str(args.bind).rpartition(":")
        sock = socket.create_server((host.strip("[]") or "0.0.0.0", int(port)), backlog=2048)
    sock.set_inheritable(False)
    return sock


def model_tree(path: Path, depth: int = 0) -> Iterator[str]:
    """The folder under `path`, one entry a line, as azmlinfsrv logs it when init() fails."""
    indent = "    " * depth
    if not path.is_dir():
        yield f"{indent}{path.name}"
        return
    yield f"{indent}{path.name}{os.sep}"
    try:
        children = sorted(path.iterdir())
    except OSError:
        return
    for child in children:
        yield from model_tree(child, depth + 1)


def log_model_dir() -> None:
    model_dir = Path(os.environ.get("AZUREML_MODEL_DIR") or "/nonexistent")
    if not model_dir.exists():
        return
    logger.info("files under AZUREML_MODEL_DIR (%s):", model_dir)
    tree = model_tree(model_dir)
    for line in itertools.islice(tree, MODEL_TREE_LIMIT):
        logger.info(line)
    if next(tree, None) is not None:
        logger.info("(listing stops after %d entries)", MODEL_TREE_LIMIT)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    close_inherited(keep=(args.fd, args.ready_fd))
    logs.configure()
    reporter = Reporter(args.ready_fd)
    watch_parent(args.parent_pid)
    sock = listening_socket(args)

    app_root = Path(args.app_root).absolute()
    os.environ["AML_APP_ROOT"] = str(app_root)
    os.environ["AZUREML_ENTRY_SCRIPT"] = args.entry_script
    if args.model_dir is not None:
        os.environ["AZUREML_MODEL_DIR"] = str(Path(args.model_dir).absolute())
    sys.path.append(str(app_root))

    if os.environ.get(modes.SCORING_MODE) == modes.MLFLOW:
        return serve_mlflow(args, reporter, sock)

    # Before the script runs: its imports of Azure's raw-HTTP modules resolve to the worker's.
    aliases.install()
    script = UserScript(app_root / args.entry_script)
    try:
        script.load()
    except ScriptImportError as exc:
        cause = exc.__cause__ or exc
        logger.error("%s\n%s", exc, format_traceback(cause))
        reporter.failed(f"{exc}: {describe(cause)}")
        return BOOT_ERROR
    except ScriptError as exc:
        logger.error("%s", exc)
        reporter.failed(str(exc))
        return BOOT_ERROR
    logger.info("scoring script %s loaded; %s", script.path, _how_run_is_called(script))
    logger.info("calling init()")
    try:
        script.init()
    except BaseException as exc:
        logger.error("init() raised, so this instance cannot serve:\n%s", format_traceback(exc))
        log_model_dir()
        reporter.failed(f"init() failed: {describe(exc)}")
        return BOOT_ERROR
    logger.info("init() finished")
    try:
        documents = swagger.build(app_root, script.run_function)
    except swagger.SwaggerFileError as exc:
        logger.error("%s", exc)
        reporter.failed(str(exc))
        return BOOT_ERROR
    logger.info("swagger documents served for versions [%s]", ", ".join(documents.supported))

    # Imported only now: a script that fails to load reports as early as it can.
    from epdev.runtimes.worker.app import ScoringApp
    from epdev.runtimes.worker.handoff import RunThreads
    from epdev.runtimes.worker.server import serve

    executor = RunThreads(args.max_concurrent_requests, "run")

    def started() -> None:
        logger.info("worker %d is serving requests", os.getpid())
        reporter.ready()

    try:
        serve(ScoringApp(script, executor, documents), sock, started)
    finally:
        # The threads are not daemons: a run() under way finishes before the process exits.
        executor.shutdown(wait=False, cancel_futures=True)
    return 0


def _how_run_is_called(script: UserScript) -> str:
    if script.mode == RAW:
        return "run() is decorated with @rawhttp: it receives the request itself"
    if script.mode == SCHEMA:
        names = ", ".join(name for name, _ in script.params)
        return f"run() is decorated with @input_schema: it receives the JSON body's {names}"
    return "run() receives the request body as text"


def serve_mlflow(args: argparse.Namespace, reporter: Reporter, sock: socket.socket) -> int:
    """Load the MLflow model under AZUREML_MODEL_DIR and serve MLflow's scoring protocol."""
    from epdev.runtimes.worker.mlflow_model import ModelNotFound, load_model

    model_dir = Path(os.environ.get("AZUREML_MODEL_DIR") or ".")
    try:
        model, folder = load_model(model_dir)
    except ModelNotFound as exc:
        logger.error("%s", exc)
        reporter.failed(str(exc))
        return BOOT_ERROR
    except BaseException as exc:
        logger.error("the MLflow model cannot be loaded:\n%s", format_traceback(exc))
        log_model_dir()
        reporter.failed(f"the MLflow model cannot be loaded: {describe(exc)}")
        return BOOT_ERROR

    from epdev.runtimes.worker.adaptive_batching import Batcher
    from epdev.runtimes.worker.handoff import RunThreads
    from epdev.runtimes.worker.mlflow_app import MLflowApp, MLflowModel, merge_data
    from epdev.runtimes.worker.server import serve

    served = MLflowModel(model)
    batch_size = _number(modes.MAX_BATCH_SIZE, 1)
    latency_ms = _number(modes.MAX_LATENCY_MS, 0.0)
    if batch_size > 1:
        # One predict call at a time: concurrency comes from merging, not from threads.
        executor = RunThreads(1, "predict")
        batcher: Batcher | None = Batcher(
            served.predict, executor, int(batch_size), latency_ms, merge_data
        )
        how = f"adaptive batching of up to {int(batch_size)} requests, {latency_ms:g} ms"
    else:
        executor = RunThreads(args.max_concurrent_requests, "predict")
        batcher = None
        how = "no batching"
    logger.info("MLflow model %s loaded; serving MLflow's scoring protocol (%s)", folder, how)

    def started() -> None:
        logger.info("worker %d is serving requests", os.getpid())
        reporter.ready()

    try:
        serve(MLflowApp(served, executor, batcher), sock, started)
    finally:
        # The threads are not daemons: a run() under way finishes before the process exits.
        executor.shutdown(wait=False, cancel_futures=True)
    return 0


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def run() -> None:
    """Entry point: run main() and leave at once on a boot error, whatever threads init() left."""
    code = main()
    if code != 0:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)
