"""The Open Inference Protocol (KServe V2) over an MLflow model, inside the worker.

The router sends ``/v2/models/<deployment>[/ready|/infer]`` here (the deployment is the V2
model's name). Metadata come from the model's signature. An infer request's inputs become the
model's input: for a column-based signature (or none), one column per input of shape ``[N]``
or ``[N, 1]``; for a tensor signature, the array (or a dict of arrays by name). Request
``parameters`` are MLflow's predict params. Each output of the prediction becomes a V2 output:
one per DataFrame column, or the array with its shape. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from epdev.runtimes.asgi import Receive, Scope, Send, read_body, send_json
from epdev.runtimes.worker.logs import logger

PLATFORM = "mlflow"

# V2 datatypes by numpy dtype name, and back.
_BY_NUMPY = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
_TO_NUMPY = {v2: name for name, v2 in _BY_NUMPY.items()} | {"BYTES": "object"}
# MLflow column types (mlflow.types.DataType names) as V2 datatypes.
_BY_MLFLOW = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
# Parameters that the protocol itself uses; the rest go to predict as MLflow params.
_RESERVED = frozenset({"content_type", "headers"})

Predict = Callable[[Any, dict[str, Any] | None], Awaitable[Any]]


class V2Error(Exception):
    """A request the model cannot take; the message is the `error` of the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def model_metadata(name: str, metadata: Any) -> dict[str, Any]:
    """`GET v2/models/<name>`: the model's inputs and outputs from its signature."""
    return {
        "name": name,
        "versions": [],
        "platform": PLATFORM,
        "inputs": _tensors(metadata.get_input_schema(), "input"),
        "outputs": _tensors(metadata.get_output_schema(), "output"),
    }


def _tensors(schema: Any, prefix: str) -> list[dict[str, Any]]:
    if schema is None:
        return []
    found = []
    tensor = schema.is_tensor_spec()
    for index, spec in enumerate(schema.inputs):
        name = spec.name or f"{prefix}-{index}"
        if tensor:
            datatype = _BY_NUMPY.get(str(spec.type), "BYTES")
            shape = [int(n) for n in spec.shape]
        else:
            datatype = _BY_MLFLOW.get(str(getattr(spec.type, "name", "")), "BYTES")
            shape = [-1]
        found.append({"name": name, "datatype": datatype, "shape": shape})
    return found


def model_input(payload: Any, schema: Any) -> tuple[Any, dict[str, Any] | None]:
    """The model's input and predict params from an inference request; V2Error if malformed."""
    import numpy as np
    import pandas as pd

    if not isinstance(payload, dict):
        raise V2Error("the inference request must be a JSON object with 'inputs'")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error("the inference request needs 'inputs': a list of at least one tensor")
    arrays: dict[str, Any] = {}
    for index, tensor in enumerate(inputs):
        name, array = _tensor(tensor, index)
        if name in arrays:
            raise V2Error(f"input {name!r} is given twice")
        arrays[name] = array
    params = payload.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise V2Error("'parameters' must be a JSON object")
    params = {k: v for k, v in (params or {}).items() if k not in _RESERVED} or None
    if schema is not None and schema.is_tensor_spec():
        if len(arrays) == 1 and not schema.has_input_names():
            return next(iter(arrays.values())), params
        return arrays, params
    rows = None
    columns: dict[str, Any] = {}
    for name, array in arrays.items():
        if array.ndim == 2 and array.shape[1] == 1:
            array = array.reshape(-1)
        if array.ndim != 1:
            raise V2Error(
                f"input {name!r} has shape {list(array.shape)}: this model takes columns, so "
                "send one input per column with shape [N] or [N, 1]"
            )
        if rows is not None and len(array) != rows:
            raise V2Error(
                f"input {name!r} has {len(array)} rows but the inputs before it have {rows}"
            )
        rows = len(array)
        columns[name] = array if array.dtype != np.dtype(object) else list(array)
    return pd.DataFrame(columns), params


def _tensor(tensor: Any, index: int) -> tuple[str, Any]:
    import numpy as np

    if not isinstance(tensor, dict):
        raise V2Error(f"inputs[{index}] must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise V2Error(f"inputs[{index}] needs a 'name'")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise V2Error(f"input {name!r}: 'shape' must be a list of whole numbers")
    datatype = tensor.get("datatype")
    if datatype not in _TO_NUMPY:
        known = ", ".join(sorted(_TO_NUMPY))
        raise V2Error(f"input {name!r}: datatype {datatype!r} is not one of {known}")
    if "data" not in tensor:
        raise V2Error(f"input {name!r} has no 'data'")
    flat = _flatten(tensor["data"])
    expected = math.prod(shape)
    if len(flat) != expected:
        raise V2Error(
            f"input {name!r}: shape {shape} holds {expected} values but 'data' has {len(flat)}"
        )
    try:
        array = np.array(flat, dtype=_TO_NUMPY[datatype]).reshape(shape)
    except (TypeError, ValueError, OverflowError) as exc:
        raise V2Error(f"input {name!r}: the data are not {datatype}: {exc}") from None
    return name, array


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def outputs(predictions: Any, schema: Any) -> list[dict[str, Any]]:
    """The prediction as V2 output tensors."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return [_output(str(col), predictions[col].to_numpy()) for col in predictions.columns]
    if isinstance(predictions, pd.Series):
        return [_output(str(predictions.name or _output_name(schema)), predictions.to_numpy())]
    if isinstance(predictions, dict):
        return [_output(str(k), np.asarray(v)) for k, v in predictions.items()]
    return [_output(_output_name(schema), np.asarray(predictions))]


def _output_name(schema: Any) -> str:
    """The name the metadata give a single output: the signature's, else `output-0`."""
    if schema is not None and len(schema.inputs) == 1 and schema.inputs[0].name:
        return str(schema.inputs[0].name)
    return "output-0"


def _output(name: str, array: Any) -> dict[str, Any]:
    datatype = _BY_NUMPY.get(str(array.dtype), "BYTES")
    data = array.ravel().tolist()
    if datatype == "BYTES":
        data = [v if isinstance(v, str) else json.dumps(v, default=str) for v in data]
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


class OpenInference:
    """ASGI handler for the worker's /v2 paths."""

    def __init__(self, metadata: Any, predict: Predict) -> None:
        self.metadata = metadata
        self.predict = predict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].strip("/").split("/")
        method = scope["method"]
        try:
            if parts[:2] != ["v2", "models"] or len(parts) < 3:
                raise V2Error(f"no such V2 path: {scope['path']}", 404)
            name, rest = parts[2], parts[3:]
            if rest[:1] == ["versions"]:
                raise V2Error(
                    f"model {name!r} is served in one version: leave /versions/... out", 404
                )
            if rest == [] and method == "GET":
                body: dict[str, Any] = model_metadata(name, self.metadata)
            elif rest == ["ready"] and method == "GET":
                body = {"name": name, "ready": True}
            elif rest == ["infer"] and method == "POST":
                body = await self.infer(name, await read_body(receive))
            else:
                raise V2Error(f"{method} is not served at {scope['path']}", 405)
            status = 200
        except V2Error as exc:
            status, body = exc.status, {"error": str(exc)}
        await send_json(send, status, body)

    async def infer(self, name: str, raw: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise V2Error(f"the body is not JSON: {exc}") from None
        data, params = model_input(payload, self.metadata.get_input_schema())
        request_id = payload.get("id")
        try:
            predictions = await self.predict(data, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("V2 infer for %s failed: %s", name, exc)
            raise V2Error(str(getattr(exc, "message", None) or exc)) from None
        produced = outputs(predictions, self.metadata.get_output_schema())
        wanted = payload.get("outputs")
        if isinstance(wanted, list) and wanted:
            names = [o.get("name") for o in wanted if isinstance(o, dict)]
            known = {o["name"] for o in produced}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise V2Error(f"requested outputs {unknown} are not among {sorted(known)}")
            produced = [o for o in produced if o["name"] in names]
        answer: dict[str, Any] = {"model_name": name}
        if request_id is not None:
            answer["id"] = request_id
        answer["outputs"] = produced
        return answer
