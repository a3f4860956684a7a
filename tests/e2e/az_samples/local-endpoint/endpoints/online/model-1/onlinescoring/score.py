import json
import logging
import os

import joblib
import numpy


def init():
    """Called once when the instance starts: load the model into a global."""
    global model
    # AZUREML_MODEL_DIR is the folder that holds the registered or uploaded model folder.
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("Init complete")


def run(raw_data):
    """Called for each scoring request: the body as text; the return value is sent as JSON."""
    logging.info("Request received")
    data = numpy.array(json.loads(raw_data)["data"])
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
