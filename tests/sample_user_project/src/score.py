"""A linear price model: the weights live in model/weights.json."""

import json
import logging
import os

weights = None


def init():
    global weights
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.json")
    with open(path) as handle:
        weights = json.load(handle)
    logging.info("loaded %d weights", len(weights["coef"]))


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    coef, intercept = weights["coef"], weights["intercept"]
    return [intercept + sum(c * x for c, x in zip(coef, row, strict=True)) for row in rows]
