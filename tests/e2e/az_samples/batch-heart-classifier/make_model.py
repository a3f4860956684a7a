"""Train the sample's classifier (a logistic regression on three columns) into model/ and write
its unlabeled data, five CSV files of eight rows each, into data/."""

from pathlib import Path

import joblib
import numpy
import pandas as pd
from sklearn.linear_model import LogisticRegression

COLUMNS = ["age", "chol", "thalach"]
rng = numpy.random.default_rng(3)


def table(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.integers(30, 80, rows),
            "chol": rng.integers(150, 350, rows),
            "thalach": rng.integers(90, 200, rows),
        }
    )


train = table(300)
target = (train["age"] / 80 + train["chol"] / 350 - train["thalach"] / 200 > 0.9).astype(int)
Path("model").mkdir(exist_ok=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(train[COLUMNS], target), "model/model.joblib")

Path("data").mkdir(exist_ok=True)
for part in range(5):
    rows = table(8)
    rows.insert(0, "row", range(8))
    rows.to_csv(f"data/part-{part:03d}.csv", index=False)
