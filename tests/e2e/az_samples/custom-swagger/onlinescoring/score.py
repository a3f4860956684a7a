import json
import logging
import os


def init():
    global coef, intercept
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model", "linear.json")
    with open(path) as f:
        model = json.load(f)
    coef, intercept = model["coef"], model["intercept"]
    logging.info("Init complete")


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    logging.info("Request processed")
    return [sum(c * x for c, x in zip(coef, row, strict=True)) + intercept for row in rows]
