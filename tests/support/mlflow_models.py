"""MLflow models the tests save for themselves, and `mlflow models serve` to compare against.

mlflow is imported inside the functions: only the tests that use them pay for it.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from support.waiting import wait_until

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

# A pyfunc "model from code": saved as source, so loading it needs no pickled test class.
PARAMS_MODEL = textwrap.dedent(
    """\
    import mlflow
    import pandas as pd


    class Scaler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            params = params or {}
            if params.get("fail"):
                raise RuntimeError("asked to fail")
            scale = params.get("scale", 1.0)
            return pd.DataFrame(
                {"id": model_input["id"], "y": model_input["x"] * scale + params.get("shift", 0)}
            )


    mlflow.models.set_model(Scaler())
    """
)


def training_frame() -> Any:
    import pandas as pd

    rows = [
        [5.1, 3.5, 1.4, 0.2, 0],
        [4.9, 3.0, 1.4, 0.2, 0],
        [6.2, 2.9, 4.3, 1.3, 1],
        [5.9, 3.0, 4.2, 1.5, 1],
        [6.3, 3.3, 6.0, 2.5, 2],
        [7.1, 3.0, 5.9, 2.1, 2],
    ]
    frame = pd.DataFrame(rows, columns=[*FEATURES, "label"])
    return frame[FEATURES], frame["label"]


def pinned(*names: str) -> list[str]:
    """A saved model's requirements, pinned to what this environment has (MLflow adds itself).

    Saving with them skips MLflow's own inference, which loads the model again in a fresh
    interpreter to see what it imports: about 5 s of CPU per saved model, and its answer is this
    environment's test tools (pytest, dask) besides the model's needs."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in names]


SKLEARN_NEEDS = ("numpy", "pandas", "scikit-learn", "scipy", "skops")
"""What an sklearn model saved in MLflow's default format (skops) needs to load."""


def quiet(save: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """Saving a model is setup: mlflow's own deprecation warnings there are not under test."""

    @functools.wraps(save)
    def wrapper(path: Path) -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return save(path)

    return wrapper


@quiet
def save_sklearn_model(path: Path) -> Path:
    """A small classifier saved with mlflow.sklearn.save_model, with signature and example."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    features, labels = training_frame()
    model = LogisticRegression(max_iter=500).fit(features, labels)
    signature = infer_signature(features, model.predict(features))
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=signature,
        input_example=features.head(2),
        pip_requirements=pinned(*SKLEARN_NEEDS),
    )
    return path


@quiet
def save_params_model(path: Path) -> Path:
    """A custom pyfunc whose predict takes params (scale, shift, fail), with a signature."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    path.parent.mkdir(parents=True, exist_ok=True)
    code = path.parent / f"{path.name}_code.py"
    code.write_text(PARAMS_MODEL)
    example = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    output = pd.DataFrame({"id": [1, 2], "y": [1.0, 2.0]})
    signature = infer_signature(example, output, params={"scale": 1.0, "shift": 0.0, "fail": False})
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(code),
        signature=signature,
        pip_requirements=pinned("cloudpickle", "pandas"),
    )
    return path


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a server started in a session of its own, and what it started: SIGTERM to its
    process group, SIGKILL after 30 s."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_serve(
    model: Path, log: Path, workers: int | None = None, python: str = sys.executable
) -> Iterator[str]:
    """`mlflow models serve --env-manager local` on a free loopback port; yields its URL.

    `python` is the interpreter whose mlflow serves (a benchmark's own venv, say)."""
    port = free_port()
    env = dict(os.environ)
    if workers is not None:
        env["MLFLOW_MODELS_WORKERS"] = str(workers)
    argv = [python, "-m", "mlflow", "models", "serve", "-m", str(model)]
    argv += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        # Its own session: the CLI runs uvicorn as a child, which must stop with it.
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"mlflow models serve exited:\n{log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{url}/ping", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(
            up,
            180,
            interval=0.3,
            what=lambda: f"mlflow models serve did not start:\n{log.read_text()}",
        )
        yield url
    finally:
        stop_group(proc)


def register_model(model: Path, tracking_uri: str, name: str, alias: str) -> str:
    """Register `model` as a new version of `name` in the registry at `tracking_uri`, with
    `alias` pointing at it; returns the version."""
    import mlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        client.create_registered_model(name)
        version = client.create_model_version(name, source=str(model)).version
        client.set_registered_model_alias(name, alias, version)
    return str(version)


# The Open Inference Protocol's own example: UINT32 input0 [2, 2], BOOL input1 [3] in, and
# FP32 output0 [3, 2] = [[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]] out.
TENSOR_MODEL = textwrap.dedent(
    """\
    import mlflow
    import numpy as np


    class SpecExample(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            rows = np.arange(1, len(model_input["input1"]) + 1, dtype=np.float32)
            return {"output0": np.stack([rows, rows + np.float32(0.1)], axis=1)}


    mlflow.models.set_model(SpecExample())
    """
)


@quiet
def save_tensor_model(path: Path) -> Path:
    """A pyfunc with a tensor signature, shaped after the V2 spec's inference example."""
    import mlflow.pyfunc
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    path.parent.mkdir(parents=True, exist_ok=True)
    code = path.parent / f"{path.name}_code.py"
    code.write_text(TENSOR_MODEL)
    signature = ModelSignature(
        inputs=Schema(
            [
                TensorSpec(np.dtype("uint32"), (-1, 2), "input0"),
                TensorSpec(np.dtype("bool"), (-1,), "input1"),
            ]
        ),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, 2), "output0")]),
    )
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(code),
        signature=signature,
        pip_requirements=pinned("cloudpickle", "numpy"),
    )
    return path
