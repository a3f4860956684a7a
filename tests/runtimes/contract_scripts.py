"""Scoring scripts that exercise Azure's server contract beyond a plain run(raw_data).

Shared by the worker tests and the comparison against azmlinfsrv: each runs unchanged under
either server. SCHEMA needs inference-schema, numpy and pandas; INPUTS inference-schema and
numpy; RAW only the standard library (it imports Azure's raw-HTTP modules, which the worker
provides and azmlinfsrv ships).
"""

SCHEMA = """
import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0, 3.0]])))
@input_schema(
    param_name="frame",
    param_type=PandasParameterType(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
)
@input_schema("options", StandardPythonParameterType({"scale": 2.0, "label": "s"}))
@output_schema(StandardPythonParameterType({"total": 12.0}))
def run(data, frame, options={"scale": 1.0, "label": "default"}, request_headers=None):
    return {
        "data": [type(data).__name__, data.dtype.str, list(data.shape), data.tolist()],
        "frame": [
            type(frame).__name__,
            {name: str(kind) for name, kind in frame.dtypes.items()},
            frame.to_dict("records"),
        ],
        "options": [type(options).__name__, options],
        "total": float(data.sum()) * options["scale"],
        "probe": request_headers.get("X-Probe"),
    }
"""

INPUTS = """
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema

sample_input = StandardPythonParameterType(
    {"input1": NumpyParameterType(np.array([[1.0, 2.0], [3.0, 4.0]]))}
)
sample_global_parameters = StandardPythonParameterType(1.0)
sample_output = StandardPythonParameterType({"Results": StandardPythonParameterType([3.0])})


def init():
    pass


@input_schema("Inputs", sample_input)
@input_schema("GlobalParameters", sample_global_parameters)
@output_schema(sample_output)
def run(Inputs, GlobalParameters=1.0):
    data = Inputs["input1"]
    return {
        "Results": (data.sum(axis=1) * GlobalParameters).tolist(),
        "kind": type(data).__name__,
        "global": GlobalParameters,
    }
"""

RAW = """
import hashlib
import json

try:
    from azureml.contrib.services.aml_request import AMLRequest, rawhttp
    from azureml.contrib.services.aml_response import AMLResponse
except ImportError:  # Azure's server alone ships them under its own name
    from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
    from azureml_inference_server_http.api.aml_response import AMLResponse

PNG = bytes(range(256)) * 4


def init():
    pass


@rawhttp
def run(request):
    op = request.args.get("op", "info")
    if op == "info":
        return {
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "args": request.args.to_dict(flat=False),
            "first": request.args.get("a"),
            "content_type": request.content_type,
            "mimetype": request.mimetype,
            "is_json": request.is_json,
            "json": request.get_json(silent=True),
            "text": request.get_data(as_text=True),
            "length": request.content_length,
            "probe": request.headers.get("X-Probe"),
            "has_probe": "x-probe" in request.headers,
        }
    if op == "form":
        files = {
            name: [
                [f.filename, f.mimetype, f.name, hashlib.sha256(f.read()).hexdigest()]
                for f in request.files.getlist(name)
            ]
            for name in request.files
        }
        return {
            "form": request.form.to_dict(flat=False),
            "files": files,
            "data": len(request.data),
        }
    if op == "echo":
        upload = request.files["file"]
        return AMLResponse(upload.read(), 200, {"Content-Type": upload.mimetype})
    if op == "png":
        return AMLResponse(PNG, 200, {"Content-Type": "image/png", "X-Multi": "a, b"})
    if op == "json":
        return AMLResponse({"made": [1, "two"]}, 201, json_str=True)
    if op == "none":
        return AMLResponse(None, 202)
    if op == "text":
        return AMLResponse("plain words", 200)
    if op == "fail":
        return AMLResponse("it broke", 503)
    if op == "strict-json":
        return request.json
    if op == "raise":
        raise ValueError("raw-run-failed")
    return {"unknown": op, "body": json.loads(request.get_data() or b"null")}
"""

UNDECORATED = """
def init():
    pass


def run(data):
    return {"got": data}
"""
