"""A batch worker process: load the batch script, call init() once, then run mini-batches.

    python -P -m epdev.runtimes.worker.batch --app-root DIR --entry-script FILE
                                             [--model-dir DIR] [--parent-pid P] [--summary-only]

Requests come on stdin, one JSON line each: ``{"minibatch": N, "files": [...]}``. Answers go
to the process's original stdout, kept private: a JSON line ``{"minibatch": N, "ok": true,
"rows": R, "bytes": B}`` followed by B bytes of output rows (UTF-8), or ``{"minibatch": N,
"ok": false, "error": "..."}``. Before the first request the worker says ``{"ready": true}`` or
``{"ready": false, "error": "..."}`` (and exits 3). Whatever the user's script prints goes to
stderr, which the engine keeps as the worker's log. End of stdin stops the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from epdev.runtimes.worker import logs
from epdev.runtimes.worker.batchrows import BadResult, run_minibatch
from epdev.runtimes.worker.fds import close_inherited
from epdev.runtimes.worker.main import BOOT_ERROR, watch_parent
from epdev.runtimes.worker.script import (
    ScriptError,
    ScriptImportError,
    UserScript,
    describe,
    format_traceback,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m epdev.runtimes.worker.batch")
    parser.add_argument("--app-root", required=True)
    parser.add_argument("--entry-script", required=True)
    parser.add_argument("--model-dir")
    parser.add_argument("--parent-pid", type=int, default=os.getppid())
    parser.add_argument("--summary-only", action="store_true")
    return parser.parse_args(argv)


def _private_stdout() -> IO[bytes]:
    """The original stdout for answers; fd 1 then points at stderr, so prints reach the log."""
    channel = os.fdopen(os.dup(1), "wb")
    sys.stdout.flush()
    os.dup2(2, 1)
    return channel


def _say(channel: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    channel.write(json.dumps(header).encode() + b"\n" + payload)
    channel.flush()


def load_batch_script(app_root: str, entry_script: str, model_dir: str | None) -> UserScript:
    """Set Azure's variables, load the script and call its init(); raises ScriptError or
    whatever init() raises."""
    root = Path(app_root).absolute()
    os.environ["AML_APP_ROOT"] = str(root)
    os.environ["AZUREML_ENTRY_SCRIPT"] = entry_script
    if model_dir:
        os.environ["AZUREML_MODEL_DIR"] = str(Path(model_dir).absolute())
    if str(root) not in sys.path:
        sys.path.append(str(root))
    script = UserScript(root / entry_script)
    script.load()
    script.init()
    return script


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    close_inherited()
    channel = _private_stdout()
    logs.configure()  # at the deployment's logging_level (AZUREML_LOG_LEVEL)
    watch_parent(args.parent_pid)
    try:
        script = load_batch_script(args.app_root, args.entry_script, args.model_dir)
    except ScriptImportError as exc:
        cause = exc.__cause__ or exc
        print(f"{exc}\n{format_traceback(cause)}", file=sys.stderr, flush=True)
        _say(channel, {"ready": False, "error": f"{exc}: {describe(cause)}"})
        return BOOT_ERROR
    except ScriptError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        _say(channel, {"ready": False, "error": str(exc)})
        return BOOT_ERROR
    except BaseException as exc:
        print(f"init() raised:\n{format_traceback(exc)}", file=sys.stderr, flush=True)
        _say(channel, {"ready": False, "error": f"init() failed: {describe(exc)}"})
        return BOOT_ERROR
    _say(channel, {"ready": True, "pid": os.getpid()})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        number = request["minibatch"]
        try:
            result = run_minibatch(script, request["files"], keep_rows=not args.summary_only)
        except BadResult as exc:
            print(f"mini-batch {number}: {exc}", file=sys.stderr, flush=True)
            _say(channel, {"minibatch": number, "ok": False, "error": str(exc)})
            continue
        except Exception as exc:
            print(f"mini-batch {number}: run() raised:\n{format_traceback(exc)}", file=sys.stderr)
            sys.stderr.flush()
            _say(channel, {"minibatch": number, "ok": False, "error": describe(exc)})
            continue
        payload = result.text.encode("utf-8")
        header = {"minibatch": number, "ok": True, "rows": result.rows, "bytes": len(payload)}
        _say(channel, header, payload)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
