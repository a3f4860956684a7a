"""Azure ML's no-code MLflow requests: `{"input_data": ..., "params": ...}`, as Azure serves them.

Azure deploys an MLflow model with no scoring script by running its own MLflow scoring script
under azmlinfsrv: `run(input_data, params=None)` decorated with inference-schema types built
from the model's signature. So `input_data` becomes

- a DataFrame, for a column signature: split orientation (`columns`, `data`, and `index`),
  each column cast to its signature type;
- a NumPy array of the signature's dtype, for an unnamed tensor signature (a list);
- a dict of NumPy arrays, for named tensors (`{"name": [...]}`);
- with no signature: a list as an array, a `columns`/`index`/`data` mapping as a DataFrame,
  any other mapping as named arrays.

The model's predictions come back as a bare JSON value (a list for an array, records for a
DataFrame), not MLflow's `{"predictions": ...}`. A failure, parsing included, is azmlinfsrv's
500 with the traceback in the logs.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

INPUT_DATA = "input_data"
PARAMS = "params"
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
FORMATS = (INPUT_DATA, *MLFLOW_FORMATS)


@dataclass(frozen=True, slots=True)
class AzureRequest:
    """The fields of an `input_data` request, as decoded JSON."""

    input_data: Any
    params: dict[str, Any] | None


def is_json(content_type: str | None) -> bool:
    """Whether flask's `request.is_json` holds, as azmlinfsrv requires for `input_data`."""
    if content_type is None:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def read_payload(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def azure_request(payload: Any) -> AzureRequest | None:
    """The request, when `payload` has `input_data` and none of MLflow's own fields."""
    if not isinstance(payload, dict) or INPUT_DATA not in payload:
        return None
    if any(key in payload for key in MLFLOW_FORMATS):
        return None  # ambiguous: fields_problem says so
    params = payload.get(PARAMS)
    return AzureRequest(payload[INPUT_DATA], params if isinstance(params, dict) else None)


def fields_problem(payload: Any) -> str | None:
    """What is wrong with a JSON object's fields, or None when exactly one input field is there."""
    if not isinstance(payload, dict):
        return None
    found = [key for key in payload if key in FORMATS]
    if len(found) == 1:
        return None
    accepted = (
        f"'{INPUT_DATA}' (Azure ML) or one of "
        + ", ".join(f"'{name}'" for name in MLFLOW_FORMATS)
        + f" (MLflow), with an optional '{PARAMS}'"
    )
    if found:
        received = "the fields " + ", ".join(repr(str(key)) for key in found) + " together"
    elif payload:
        received = "the fields " + ", ".join(repr(str(key)) for key in list(payload)[:20])
    else:
        received = "no fields"
    return (
        f"The request must be a JSON object with exactly one input field: {accepted}. "
        f"Received {received}."
    )


def model_input(input_data: Any, schema: Any) -> Any:
    """`input_data` as Azure's scoring script hands it to the model (see the module's doc)."""
    import numpy as np

    if schema is not None and schema.is_tensor_spec():
        if not schema.has_input_names():
            if not isinstance(input_data, list):
                raise ValueError("Invalid input format: expected an array of items.")
            return np.array(input_data, dtype=schema.inputs[0].type)
        if not isinstance(input_data, dict):
            raise ValueError(
                f"Invalid input data type to parse. Expected: {dict} but got {type(input_data)}"
            )
        typed = dict(input_data)
        for spec in schema.inputs:
            if spec.name in typed:
                if not isinstance(typed[spec.name], list):
                    raise ValueError("Invalid input format: expected an array of items.")
                typed[spec.name] = np.array(typed[spec.name], dtype=spec.type)
        if typed and isinstance(next(iter(typed.values())), np.ndarray):
            return typed
        return _untyped(typed)
    if schema is not None:
        frame = _split_frame(input_data)
        types = dict(zip(schema.input_names(), schema.pandas_types(), strict=False))
        return frame.astype({column: types.get(column, object) for column in frame.columns})
    return _untyped(input_data)


def _untyped(input_data: Any) -> Any:
    import numpy as np

    if isinstance(input_data, str):
        input_data = json.loads(input_data)
    if isinstance(input_data, dict) and INPUT_DATA in input_data:
        input_data = input_data[INPUT_DATA]
    if isinstance(input_data, list):
        return np.asarray(input_data)
    if isinstance(input_data, dict) and {"columns", "index", "data"} <= input_data.keys():
        return _split_frame(input_data)
    if isinstance(input_data, dict):
        return {name: np.asarray(value) for name, value in input_data.items()}
    raise ValueError(f"input_data of type {type(input_data).__name__} cannot be parsed")


def _split_frame(input_data: Any) -> Any:
    import pandas as pd

    if not isinstance(input_data, list | dict):
        raise ValueError(
            f"Error, unable to convert input of type {type(input_data)} into Pandas Dataframe"
        )
    return pd.read_json(io.StringIO(json.dumps(input_data)), orient="split", dtype=False)


def jsonable(predictions: Any) -> Any:
    """Predictions as plain JSON values: arrays as lists, DataFrames as records."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return pd.DataFrame(predictions).to_dict(orient="records")
    if isinstance(predictions, dict):
        # Named tensor outputs; json.dumps cannot take arrays.
        return {key: jsonable(value) for key, value in predictions.items()}
    return predictions
