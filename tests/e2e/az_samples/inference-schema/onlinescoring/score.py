import json
import logging
import os

import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema

# Samples of the request and the answer: inference-schema builds the swagger from them and
# converts each request's values to their types before run() sees them.
data_sample = NumpyParameterType(np.array([[1.0, 2.0, 3.0]]))
frame_sample = PandasParameterType(pd.DataFrame({"x1": [1.0], "x2": [2.0], "x3": [3.0]}))
options_sample = StandardPythonParameterType({"scale": 1.0})
output_sample = StandardPythonParameterType(
    {"data": [14.5], "frame": [14.5], "types": ["ndarray", "DataFrame", "dict"]}
)


def init():
    global coef, intercept
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model", "linear.json")
    with open(path) as f:
        model = json.load(f)
    coef, intercept = np.array(model["coef"]), model["intercept"]
    logging.info("Init complete")


@input_schema("data", data_sample)
@input_schema("frame", frame_sample)
@input_schema("options", options_sample)
@output_schema(output_sample)
def run(data, frame, options={"scale": 1.0}):  # noqa: B006 - the default is read-only
    scale = options["scale"]
    logging.info("Request processed")
    return {
        "data": ((data @ coef + intercept) * scale).tolist(),
        "frame": ((frame.to_numpy() @ coef + intercept) * scale).tolist(),
        "types": [type(data).__name__, type(frame).__name__, type(options).__name__],
    }
