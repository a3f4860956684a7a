import glob
import logging
import os

import joblib
import pandas as pd


def init():
    global model

    # AZUREML_MODEL_DIR is the folder that holds the registered model's folder.
    model_path = glob.glob(os.environ["AZUREML_MODEL_DIR"] + "/*/*.joblib")[0]
    model = joblib.load(model_path)
    logging.info("Batch deployment initialized with %s", model_path)


def run(mini_batch):
    logging.info("Running inference on a mini-batch of %d file(s)", len(mini_batch))
    results = []
    for file_path in mini_batch:
        data = pd.read_csv(file_path)
        predictions = model.predict(data[["age", "chol", "thalach"]])
        results.append(
            pd.DataFrame(
                {
                    "file": os.path.basename(file_path),
                    "row": data["row"],
                    "prediction": predictions,
                }
            )
        )
    return pd.concat(results)
