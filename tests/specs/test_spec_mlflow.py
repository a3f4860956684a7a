"""MLflow models in deployment specs: registry URIs and the adaptive batching variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from specfiles import WriteSpec

from epdev.specs import OnlineDeployment, SpecError, load_spec


def _deployment(path: Path) -> OnlineDeployment:
    spec = load_spec(path).spec
    assert isinstance(spec, OnlineDeployment)
    return spec


@pytest.mark.parametrize("uri", ["models:/iris/3", "models:/iris@champion"])
def test_a_registry_uri_is_an_mlflow_model_with_no_path(write: WriteSpec, uri: str) -> None:
    spec = _deployment(write("blue.yml", f"name: blue\nmodel:\n  path: {uri}\n"))
    assert (spec.model_uri, spec.model_path, spec.is_mlflow) == (uri, None, True)
    assert spec.code_configuration is None


def test_a_malformed_registry_uri_is_a_located_error(write: WriteSpec) -> None:
    with pytest.raises(SpecError, match=r"blue.yml:3: model.path: 'models:/iris' is not an MLflow"):
        load_spec(write("blue.yml", "name: blue\nmodel:\n  path: models:/iris\n"))


def test_batching_defaults_raise_concurrency_only_for_mlflow_models(
    write: WriteSpec, project: Path
) -> None:
    (project / "mlflow-model").mkdir()
    (project / "mlflow-model/MLmodel").write_text("flavors: {}\n")
    spec = _deployment(write("blue.yml", "name: blue\nmodel:\n  path: mlflow-model\n"))
    assert spec.batching.enabled and spec.batching.max_batch_size == 32
    assert spec.concurrent_requests_per_instance == 32
    tuned = "environment_variables:\n  EPDEV_MAX_BATCH_SIZE: 8\n  EPDEV_MAX_LATENCY_MS: 0.5\n"
    spec = _deployment(write("b2.yml", "name: blue\nmodel:\n  path: mlflow-model\n" + tuned))
    assert (spec.batching.max_batch_size, spec.batching.max_latency_ms) == (8, 0.5)
    assert spec.concurrent_requests_per_instance == 8
    explicit = "request_settings:\n  max_concurrent_requests_per_instance: 2\n"
    spec = _deployment(write("b3.yml", "name: blue\nmodel:\n  path: mlflow-model\n" + explicit))
    assert spec.concurrent_requests_per_instance == 2
    off = "environment_variables:\n  EPDEV_ADAPTIVE_BATCHING: false\n"
    spec = _deployment(write("b4.yml", "name: blue\nmodel:\n  path: mlflow-model\n" + off))
    assert not spec.batching.enabled and spec.concurrent_requests_per_instance == 1


@pytest.mark.parametrize(
    ("variable", "words"),
    [
        ("EPDEV_MAX_BATCH_SIZE: 0", "EPDEV_MAX_BATCH_SIZE must be a whole number of at least 1"),
        ("EPDEV_MAX_LATENCY_MS: soon", "EPDEV_MAX_LATENCY_MS must be milliseconds"),
        ("EPDEV_ADAPTIVE_BATCHING: maybe", "EPDEV_ADAPTIVE_BATCHING must be true or false"),
    ],
)
def test_bad_batching_variables_are_spec_errors(
    write: WriteSpec, variable: str, words: str
) -> None:
    text = f"name: blue\nmodel:\n  path: models:/iris/1\nenvironment_variables:\n  {variable}\n"
    with pytest.raises(SpecError, match=words):
        load_spec(write("blue.yml", text))
