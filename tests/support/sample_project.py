"""An Azure ML online-endpoint sample laid out as in Azure's examples, built on the fly.

root/
  model-1/model/sklearn_regression_model.pkl     (a linear model of 10 features, see train_model)
  model-1/onlinescoring/score.py
  model-1/environment/conda.yaml
  model-2/...                                     (the same, with a different model)
  endpoints/online/managed/sample/endpoint.yml
  endpoints/online/managed/sample/blue-deployment.yml
  endpoints/online/managed/sample/green-deployment.yml
  endpoints/online/managed/sample/sample-request.json
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

SCORE_PY = textwrap.dedent(
    """\
    import json
    import logging
    import os

    import joblib
    import numpy


    def init():
        global model
        model_path = os.path.join(
            os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl"
        )
        model = joblib.load(model_path)
        logging.info("Init complete")


    def run(raw_data):
        logging.info("model %s: request received", os.getenv("MODEL_TAG", "?"))
        data = numpy.array(json.loads(raw_data)["data"])
        result = model.predict(data)
        logging.info("Request processed")
        return result.tolist()
    """
)

CONDA_YAML = textwrap.dedent(
    """\
    name: model-env
    channels:
      - conda-forge
    dependencies:
      - python=3.11
      - numpy
      - pip
      - pip:
        - scikit-learn
        - joblib
        - azureml-inference-server-http
    """
)

ENDPOINT_YML = textwrap.dedent(
    """\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
    name: {endpoint}
    auth_mode: key
    """
)

DEPLOYMENT_YML = textwrap.dedent(
    """\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
    name: {name}
    endpoint_name: {endpoint}
    model:
      path: ../../../../{model_dir}/model/
    code_configuration:
      code: ../../../../{model_dir}/onlinescoring/
      scoring_script: score.py
    environment:
      conda_file: ../../../../{model_dir}/environment/conda.yaml
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
    environment_variables:
      MODEL_TAG: "{name}"
    instance_type: Standard_DS3_v2
    instance_count: {instances}
    """
)

SAMPLE_REQUEST = {"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}


@dataclass
class SampleProject:
    root: Path
    endpoint: str

    @property
    def sample_dir(self) -> Path:
        return self.root / "endpoints/online/managed/sample"

    @property
    def endpoint_yml(self) -> Path:
        return self.sample_dir / "endpoint.yml"

    @property
    def blue_yml(self) -> Path:
        return self.sample_dir / "blue-deployment.yml"

    @property
    def green_yml(self) -> Path:
        return self.sample_dir / "green-deployment.yml"

    @property
    def request_file(self) -> Path:
        return self.sample_dir / "sample-request.json"

    def model_file(self, which: int) -> Path:
        return self.root / f"model-{which}/model/sklearn_regression_model.pkl"

    def code_dir(self, which: int) -> Path:
        return self.root / f"model-{which}/onlinescoring"

    def expected_predictions(
        self, which: int, data: list[list[float]] | None = None
    ) -> list[float]:
        """What the pickled model returns for the sample request, computed in this process."""
        import joblib  # type: ignore[import-untyped]
        import numpy

        model = joblib.load(self.model_file(which))
        rows = SAMPLE_REQUEST["data"] if data is None else data
        return [float(v) for v in model.predict(numpy.array(rows)).tolist()]


def train_model(path: Path, seed: int) -> None:
    """A least-squares linear model, pickled with joblib as Azure's sample pickles its Ridge.

    Built from numpy parts alone (its `predict` is `numpy.tensordot` with the weights bound), so
    an instance that loads it imports numpy and nothing else: a scikit-learn model costs every
    instance about 2.5 s of CPU to import scikit-learn, and the suite starts dozens. The az
    samples, the MLflow tests and the azmlinfsrv comparison deploy real scikit-learn models."""
    import functools
    import types

    import joblib
    import numpy

    rng = numpy.random.default_rng(seed)
    features = rng.normal(size=(200, 10))
    weights = rng.normal(size=10)
    target = features @ weights + rng.normal(scale=0.1, size=200)
    fitted = numpy.linalg.lstsq(features, target, rcond=None)[0]
    model = types.SimpleNamespace(predict=functools.partial(numpy.tensordot, b=fitted, axes=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)


def make_sample_project(
    root: Path, endpoint: str = "my-endpoint", instances: int = 1
) -> SampleProject:
    """Write the sample project under `root` and return where its parts are."""
    project = SampleProject(root=root, endpoint=endpoint)
    for which in (1, 2):
        base = root / f"model-{which}"
        train_model(base / "model/sklearn_regression_model.pkl", seed=which)
        (base / "onlinescoring").mkdir(parents=True, exist_ok=True)
        (base / "onlinescoring/score.py").write_text(SCORE_PY)
        (base / "environment").mkdir(parents=True, exist_ok=True)
        (base / "environment/conda.yaml").write_text(CONDA_YAML)
    project.sample_dir.mkdir(parents=True, exist_ok=True)
    project.endpoint_yml.write_text(ENDPOINT_YML.format(endpoint=endpoint))
    for name, which in (("blue", 1), ("green", 2)):
        (project.sample_dir / f"{name}-deployment.yml").write_text(
            DEPLOYMENT_YML.format(
                name=name, endpoint=endpoint, model_dir=f"model-{which}", instances=instances
            )
        )
    project.request_file.write_text(json.dumps(SAMPLE_REQUEST))
    return project
