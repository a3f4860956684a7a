"""The worker on its own: `python -P -m epdev.runtimes.worker --bind HOST:PORT ...`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from runtime_helpers import write_script
from support.waiting import wait_until

SCRIPT = """
import os

def init():
    pass

def run(data):
    return {"data": data, "model_dir": os.environ["AZUREML_MODEL_DIR"]}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_worker_binds_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    code_dir = write_script(tmp_path / "code", SCRIPT, name="main.py")
    port = free_port()
    command = [
        sys.executable,
        "-P",
        "-m",
        "epdev.runtimes.worker",
        "--bind",
        f"127.0.0.1:{port}",
        "--app-root",
        str(code_dir),
        "--model-dir",
        str(tmp_path),
        "--parent-pid",
        "0",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AML_", "AZUREML_"))}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as worker:
        try:

            def answer() -> httpx.Response | None:
                try:
                    return httpx.post(f"http://127.0.0.1:{port}/score", content="hi")
                except httpx.TransportError:
                    assert worker.poll() is None
                    return None

            response = wait_until(answer, 10, interval=0.05)
            assert response.json() == {"data": "hi", "model_dir": str(tmp_path)}
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=10)
    assert worker.returncode == -signal.SIGTERM
    assert b"scoring script " + str(code_dir / "main.py").encode() + b" loaded" in stderr
