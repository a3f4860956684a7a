"""Builds sklearn-diabetes/model: an MLflow model with no scoring script, as Azure's ncd sample.

scikit-learn's diabetes data ships inside the package, so nothing is downloaded. The model has
a column signature (age, sex, bmi, ...), so Azure takes `input_data` in split orientation.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

# Named rather than inferred: MLflow's inference loads the model again in a fresh interpreter.
NEEDS = ("numpy", "pandas", "scikit-learn", "scipy", "skops")


def main(folder: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    data = load_diabetes(as_frame=True, scaled=False)
    features = data.frame.drop(columns="target")
    model = LinearRegression().fit(features, data.frame["target"])
    target = folder / "sklearn-diabetes" / "model"
    shutil.rmtree(target, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model,
            str(target),
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(2),
            pip_requirements=[f"{name}=={version(name)}" for name in NEEDS],
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
