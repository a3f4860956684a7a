"""Batch endpoint and deployment specs: both Azure forms, Azure's defaults, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from specfiles import WriteSpec

from epdev.specs import (
    BatchDeployment,
    BatchEndpoint,
    SpecError,
    json_schema,
    load_spec,
    load_specs,
)

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json"

# The current form, as in Azure's examples (line numbers below refer to it).
CURRENT = f"""\
$schema: {DEPLOYMENT_SCHEMA}
name: mnist-torch-dpl
endpoint_name: mnist-batch
type: model
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
  conda_file: env/conda.yaml
compute: azureml:batch-cluster
resources:
  instance_count: 2
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 10
  output_action: append_row
  output_file_name: predictions.csv
  retry_settings:
    max_retries: 3
    timeout: 30
  error_threshold: -1
  logging_level: info
"""

# The older form: tuning at the root.
OLDER = f"""\
$schema: {DEPLOYMENT_SCHEMA}
name: older
endpoint_name: mnist-batch
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
compute: azureml:batch-cluster
resources:
  instance_count: 1
max_concurrency_per_instance: 3
mini_batch_size: 5
output_action: summary_only
retry_settings:
  max_retries: 1
  timeout: 60
error_threshold: 4
logging_level: warning
environment_variables:
  THREADS: 4
"""

MINIMAL = """\
name: minimal
endpoint_name: mnist-batch
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
settings:
  mini_batch_size: 10
"""


def test_current_form_loads(write: WriteSpec, project: Path) -> None:
    loaded = load_spec(write("current.yml", CURRENT))
    assert loaded.kind == "batch-deployment"
    spec = loaded.spec
    assert isinstance(spec, BatchDeployment)
    assert spec.instance_count == 2
    assert spec.tuning.max_concurrency_per_instance == 2
    assert spec.model_path == project / "model"
    assert loaded.cloud_only_note() == (
        f"{project / 'current.yml'}: not applicable locally, kept as given: compute"
    )


def test_older_root_level_form_loads(write: WriteSpec) -> None:
    spec = load_spec(write("older.yml", OLDER)).spec
    assert isinstance(spec, BatchDeployment)
    tuning = spec.tuning
    assert (tuning.mini_batch_size, tuning.max_concurrency_per_instance) == (5, 3)
    assert tuning.output_action == "summary_only"
    assert (tuning.retry_settings.max_retries, tuning.retry_settings.timeout) == (1, 60)
    assert (tuning.error_threshold, tuning.logging_level) == (4, "warning")
    assert tuning.environment_variables == {"THREADS": "4"}


def test_azure_defaults(write: WriteSpec) -> None:
    spec = load_spec(write("minimal.yml", MINIMAL), "batch-deployment").spec
    assert isinstance(spec, BatchDeployment)
    tuning = spec.tuning
    assert spec.instance_count == 1
    assert tuning.mini_batch_size == 10
    assert tuning.max_concurrency_per_instance == 1
    assert tuning.error_threshold == -1
    assert (tuning.retry_settings.max_retries, tuning.retry_settings.timeout) == (3, 30)
    assert tuning.output_action == "append_row"
    assert tuning.output_file_name == "predictions.csv"
    assert tuning.logging_level == "info"
    assert spec.engine == "local"


def test_endpoint_with_default_deployment(write: WriteSpec) -> None:
    text = f"$schema: {ENDPOINT_SCHEMA}\nname: mnist-batch\ndefaults:\n  deployment_name: blue\n"
    spec = load_spec(write("endpoint.yml", text)).spec
    assert isinstance(spec, BatchEndpoint)
    assert spec.defaults.deployment_name == "blue"
    assert spec.auth_mode == "aad_token"


def test_kinds_are_guessed_without_schema(write: WriteSpec) -> None:
    write("endpoint.yml", "name: mnist-batch\ndefaults:\n  deployment_name: minimal\n")
    write("minimal.yml", MINIMAL)
    loaded, skipped = load_specs(write("x.txt", "").parent)
    assert [item.kind for item in loaded] == ["batch-endpoint", "batch-deployment"]
    assert [path.name for path in skipped] == ["conda.yaml"]


def test_mlflow_model_needs_no_code(write: WriteSpec, project: Path) -> None:
    (project / "mlflow-model").mkdir()
    (project / "mlflow-model" / "MLmodel").write_text("flavors: {}\n")
    text = "name: mlflow\nendpoint_name: mnist-batch\nmodel:\n  path: mlflow-model\nsettings: {}\n"
    spec = load_spec(write("mlflow.yml", text), "batch-deployment").spec
    assert isinstance(spec, BatchDeployment)
    assert spec.is_mlflow and spec.code_configuration is None
    registered = "name: reg\nendpoint_name: mnist-batch\nmodel: azureml:mnist:1\n"
    assert load_spec(write("registered.yml", registered), "batch-deployment").spec


NEED_CODE = (
    "code_configuration (code and scoring_script) is required unless the model is an MLflow model"
)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  mini_batch_size: 10\n  output_action",
            "  mini_batch_siz: 10\n  output_action",
            ["{file}:18: settings.mini_batch_siz: unknown key; did you mean 'mini_batch_size'?"],
        ),
        (
            "  error_threshold: -1",
            "  error_threshold: -2",
            ["{file}:24: settings.error_threshold: Input should be greater than or equal to -1"],
        ),
        (
            "  output_action: append_row",
            "  output_action: append_rows",
            ["{file}:19: settings.output_action: Input should be 'append_row' or 'summary_only'"],
        ),
        (
            "  output_file_name: predictions.csv",
            "  output_file_name: out/predictions.csv",
            [
                "{file}:20: settings.output_file_name: 'out/predictions.csv' must be a plain "
                "file name, without folders"
            ],
        ),
        (
            "    timeout: 30",
            "    timeout: 0",
            [
                "{file}:23: settings.retry_settings.timeout: Input should be greater than or "
                "equal to 1"
            ],
        ),
        (
            "  instance_count: 2",
            "  instance_count: two",
            [
                "{file}:15: resources.instance_count: Input should be a valid integer, unable to "
                "parse string as an integer"
            ],
        ),
        (
            "type: model",
            "type: pipeline",
            [
                "{file}:4: type: a pipeline component batch deployment: not supported locally; "
                "model deployments are"
            ],
        ),
        (
            "code_configuration:\n  code: code\n  scoring_script: score.py\n",
            "",
            [f"{{file}}:1: code_configuration: {NEED_CODE}"],
        ),
        (
            "  logging_level: info\n",
            "  logging_level: info\nmini_batch_size: 3\n",
            [
                "{file}:1: mini_batch_size is set both at the root and under settings:; keep one "
                "(settings: is the current form)"
            ],
        ),
    ],
    ids=[
        "typo-hint",
        "threshold",
        "output-action",
        "output-folder",
        "timeout",
        "instances",
        "pipeline",
        "no-code",
        "both-places",
    ],
)
def test_malformed_batch_deployment(
    write: WriteSpec, old: str, new: str, expected: list[str]
) -> None:
    assert old in CURRENT
    path = write("bad.yml", CURRENT.replace(old, new, 1))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert [str(issue) for issue in caught.value.issues] == [
        line.format(file=path) for line in expected
    ]


def test_online_file_given_to_a_batch_command(write: WriteSpec) -> None:
    online = "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
    path = write("online.yml", CURRENT.replace(DEPLOYMENT_SCHEMA, online))
    with pytest.raises(SpecError) as caught:
        load_spec(path, "batch-deployment")
    assert str(caught.value) == (
        f"{path}:1: $schema: this file is an online-deployment spec "
        "(managedOnlineDeployment.schema.json), not a batch-deployment spec"
    )


def test_batch_schemas_export() -> None:
    schema = json_schema("batch-deployment")
    assert schema["title"] == "batchDeployment (epdev)"
    assert "settings" in schema["properties"]
    assert json_schema("batch-endpoint")["title"] == "batchEndpoint (epdev)"
