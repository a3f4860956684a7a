"""Specs that load: Azure's sample unmodified, Azure's defaults, paths, cloud-only fields."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from specfiles import DEPLOYMENT_SCHEMA, ENDPOINT_SCHEMA, WriteSpec
from support.sample_project import SampleProject, make_sample_project

from epdev.specs import (
    CodeConfiguration,
    Environment,
    LoadedSpec,
    ModelRef,
    OnlineDeployment,
    OnlineEndpoint,
    Probe,
    RequestSettings,
    SpecError,
    apply_overrides,
    load_spec,
    load_specs,
    validate_spec,
)

MINIMAL_DEPLOYMENT = """\
name: blue
endpoint_name: my-endpoint
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    # Trains two small models; built once for the module.
    return make_sample_project(tmp_path_factory.mktemp("sample"))


def deployment_of(loaded: LoadedSpec) -> OnlineDeployment:
    assert loaded.kind == "online-deployment"
    assert isinstance(loaded.spec, OnlineDeployment)
    return loaded.spec


def endpoint_of(loaded: LoadedSpec) -> OnlineEndpoint:
    assert loaded.kind == "online-endpoint"
    assert isinstance(loaded.spec, OnlineEndpoint)
    return loaded.spec


# Azure's sample.


def test_azure_sample_endpoint_loads(sample: SampleProject) -> None:
    loaded = load_spec(sample.endpoint_yml)
    endpoint = endpoint_of(loaded)
    assert endpoint.name == "my-endpoint"
    assert endpoint.auth_mode == "key"
    assert endpoint.schema_ == ENDPOINT_SCHEMA
    assert loaded.path == sample.endpoint_yml
    assert loaded.cloud_only_note() is None


def test_azure_sample_deployments_load_unmodified(sample: SampleProject) -> None:
    before = {p: p.read_bytes() for p in sample.sample_dir.iterdir()}
    for which, yml in ((1, sample.blue_yml), (2, sample.green_yml)):
        loaded = load_spec(yml, "online-deployment")
        spec = deployment_of(loaded)
        assert spec.name == ("blue" if which == 1 else "green")
        assert spec.endpoint_name == "my-endpoint"
        assert spec.model_path == sample.model_file(which).parent
        assert not spec.is_mlflow
        assert spec.code_configuration is not None
        assert spec.code_configuration.code == sample.code_dir(which)
        assert spec.code_configuration.script_path == sample.code_dir(which) / "score.py"
        assert isinstance(spec.environment, Environment)
        assert spec.environment.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
        assert spec.environment.conda_file == sample.root / f"model-{which}/environment/conda.yaml"
        assert spec.environment_variables == {"MODEL_TAG": spec.name}
        assert spec.instance_count == 1
        assert spec.instance_type == "Standard_DS3_v2"  # cloud-only, kept as given
    assert {p: p.read_bytes() for p in sample.sample_dir.iterdir()} == before


def test_load_specs_on_the_sample_folder_puts_endpoints_first(sample: SampleProject) -> None:
    loaded, skipped = load_specs(sample.sample_dir)
    # blue-deployment.yml sorts before endpoint.yml; the endpoint still comes first.
    assert [(item.kind, item.name) for item in loaded] == [
        ("online-endpoint", "my-endpoint"),
        ("online-deployment", "blue"),
        ("online-deployment", "green"),
    ]
    assert skipped == []


def test_load_specs_skips_yaml_that_is_not_a_spec(sample: SampleProject) -> None:
    loaded, skipped = load_specs(sample.root)
    assert [item.name for item in loaded] == ["my-endpoint", "blue", "green"]
    assert skipped == [
        sample.root / "model-1/environment/conda.yaml",
        sample.root / "model-2/environment/conda.yaml",
    ]


def test_load_specs_on_one_file(sample: SampleProject) -> None:
    loaded, skipped = load_specs(sample.blue_yml)
    assert [item.name for item in loaded] == ["blue"]
    assert skipped == []


def test_load_specs_ignores_hidden_and_vendored_folders(write: WriteSpec, project: Path) -> None:
    write("endpoint.yml", f"$schema: {ENDPOINT_SCHEMA}\nname: my-endpoint\n")
    broken = "name: [unclosed\n"
    write(".venv/lib/site.yml", broken)
    write(".git/config.yml", broken)
    write("node_modules/pkg/spec.yaml", broken)
    write("ENDPOINT2.YML", f"$schema: {ENDPOINT_SCHEMA}\nname: second\n")
    loaded, skipped = load_specs(project)
    assert [item.name for item in loaded] == ["second", "my-endpoint"]
    assert skipped == [project / "env/conda.yaml"]


def test_schema_may_be_left_out_when_the_keys_tell(write: WriteSpec) -> None:
    loaded = load_spec(write("blue.yml", MINIMAL_DEPLOYMENT))
    assert loaded.kind == "online-deployment"
    loaded = load_spec(write("ep.yml", "name: my-endpoint\nauth_mode: aml_token\n"))
    assert endpoint_of(loaded).auth_mode == "aml_token"
    # The command knows the kind even when the keys do not tell.
    loaded = load_spec(write("bare.yml", "name: my-endpoint\n"), "online-endpoint")
    assert endpoint_of(loaded).name == "my-endpoint"


# Azure's defaults.


def test_deployment_defaults_are_azures(write: WriteSpec) -> None:
    spec = deployment_of(load_spec(write("blue.yml", MINIMAL_DEPLOYMENT)))
    assert spec.instance_count == 1
    assert spec.request_settings == RequestSettings(
        request_timeout_ms=5000, max_concurrent_requests_per_instance=1, max_queue_wait_ms=500
    )
    for probe in (spec.liveness_probe, spec.readiness_probe):
        assert probe.model_dump() == {
            "initial_delay": 10,
            "period": 10,
            "timeout": 2,
            "success_threshold": 1,
            "failure_threshold": 30,
        }
        assert probe.budget_seconds == 310.0
    assert spec.type == "managed"
    assert spec.scale_settings.type == "default"
    assert spec.environment is None
    assert spec.environment_variables == {}
    assert isinstance(spec.model, ModelRef)
    assert spec.model.type == "custom_model"


def test_partial_settings_keep_the_other_defaults(write: WriteSpec) -> None:
    text = MINIMAL_DEPLOYMENT + (
        "request_settings:\n  request_timeout_ms: 90000\nliveness_probe:\n  period: 3\n"
    )
    spec = deployment_of(load_spec(write("blue.yml", text)))
    assert spec.request_settings.request_timeout_ms == 90000
    assert spec.request_settings.max_queue_wait_ms == 500
    assert spec.liveness_probe == Probe(period=3)
    assert spec.readiness_probe == Probe()


def test_an_instance_may_start_until_the_more_patient_probe_gives_up(write: WriteSpec) -> None:
    text = MINIMAL_DEPLOYMENT + (
        "readiness_probe:\n  initial_delay: 0\n  period: 1\n  failure_threshold: 2\n"
        "liveness_probe:\n  initial_delay: 4\n  period: 1\n  timeout: 3\n"
        "  failure_threshold: 5\n"
    )
    spec = deployment_of(load_spec(write("blue.yml", text)))
    # A probe that times out takes its timeout, not its period, before the next one.
    assert spec.readiness_probe.budget_seconds == 2 * 2.0
    assert spec.liveness_probe.budget_seconds == 4 + 3 * 5.0
    assert spec.start_budget_seconds == 19.0


def test_endpoint_defaults_are_azures(write: WriteSpec) -> None:
    spec = endpoint_of(load_spec(write("ep.yml", "name: my-endpoint\n"), "online-endpoint"))
    assert spec.auth_mode == "key"
    assert spec.traffic == {}
    assert spec.mirror_traffic == {}
    assert spec.tags == {}


@pytest.mark.parametrize(
    ("written", "read"), [("Key", "key"), ("AMLToken", "aml_token"), ("aml_token", "aml_token")]
)
def test_auth_mode_casing_is_normalised(write: WriteSpec, written: str, read: str) -> None:
    loaded = load_spec(write("ep.yml", f"name: my-endpoint\nauth_mode: {written}\n"))
    assert endpoint_of(loaded).auth_mode == read


def test_endpoint_with_traffic_and_mirror(write: WriteSpec) -> None:
    text = "name: my-endpoint\ntraffic:\n  blue: 90\n  green: 10\nmirror_traffic:\n  red: 20\n"
    spec = endpoint_of(load_spec(write("ep.yml", text)))
    assert spec.traffic == {"blue": 90, "green": 10}
    assert spec.mirror_traffic == {"red": 20}


@pytest.mark.parametrize("name", ["abc", "a-1", "A12", "e" * 32, "my-endpoint-2"])
def test_valid_names(name: str) -> None:
    assert validate_spec("online-endpoint", {"name": name}).name == name


@pytest.mark.parametrize("name", ["ab", "1abc", "-abc", "abc-", "ab_c", "ab.c", "e" * 33, ""])
def test_invalid_names(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec("online-endpoint", {"name": name})
    assert str(caught.value).startswith(f"name: {name!r} is not a valid name")


# Paths.


def test_relative_paths_resolve_against_the_yaml_folder(
    write: WriteSpec, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MINIMAL_DEPLOYMENT.replace("path: model", "path: ../model").replace(
        "code: code", "code: ../code"
    ) + ("environment:\n  image: python:3.11-slim\n  conda_file: ../env/conda.yaml\n")
    path = write("specs/blue.yml", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = deployment_of(load_spec(Path(os.path.relpath(path))))
    assert spec.model_path == project / "model"
    assert spec.code_configuration is not None
    assert spec.code_configuration.code == project / "code"
    assert isinstance(spec.environment, Environment)
    assert spec.environment.conda_file == project / "env/conda.yaml"


def test_paths_are_absolute_when_the_spec_is_named_relative_to_cwd(
    write: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("blue.yml", MINIMAL_DEPLOYMENT)
    monkeypatch.chdir(project)
    spec = deployment_of(load_spec(Path("blue.yml")))
    # Absolute, so the paths still hold for a process started elsewhere.
    assert spec.model_path == project / "model"
    assert spec.model_path.is_absolute()
    assert spec.code_configuration is not None
    assert spec.code_configuration.code == project / "code"


def test_absolute_and_home_paths(
    write: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(project))
    text = MINIMAL_DEPLOYMENT.replace("path: model", f"path: {project / 'model'}").replace(
        "code: code", "code: ~/code"
    )
    spec = deployment_of(load_spec(write("elsewhere/blue.yml", text)))
    assert spec.model_path == project / "model"
    assert spec.code_configuration is not None
    assert spec.code_configuration.code == project / "code"


def test_validate_spec_resolves_against_base_dir(project: Path) -> None:
    data = {
        "name": "blue",
        "model": {"path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "score.py"},
    }
    spec = validate_spec("online-deployment", data, base_dir=project).spec
    assert isinstance(spec, OnlineDeployment)
    assert spec.model_path == project / "model"


def test_check_files_false_skips_existence_checks(write: WriteSpec, project: Path) -> None:
    text = (
        MINIMAL_DEPLOYMENT.replace("path: model", "path: not-yet/model")
        .replace("code: code", "code: src")
        .replace("score.py", "missing.py")
    ) + "environment:\n  image: python:3.11-slim\n  conda_file: nowhere/conda.yml\n"
    path = write("blue.yml", text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert [issue.field for issue in caught.value.issues] == [
        "model.path",
        "code_configuration.code",
        "environment.conda_file",
    ]
    spec = deployment_of(load_spec(path, check_files=False))
    assert spec.model_path == project / "not-yet/model"
    assert spec.code_configuration is not None
    assert spec.code_configuration.script_path == project / "src/missing.py"
    assert isinstance(spec.environment, Environment)
    assert spec.environment.conda_file == project / "nowhere/conda.yml"


def test_check_files_false_skips_the_scoring_script_check(write: WriteSpec, project: Path) -> None:
    (project / "code/norun.py").write_text("def init():\n    pass\n")
    path = write("blue.yml", MINIMAL_DEPLOYMENT.replace("score.py", "norun.py"))
    with pytest.raises(SpecError, match=r"does not define run\(\)"):
        load_spec(path)
    assert deployment_of(load_spec(path, check_files=False)).name == "blue"


@pytest.mark.parametrize(
    "script",
    [
        "from helpers import init, run\n",
        "import helpers\ninit = helpers.init\nrun = helpers.run\n",
        "from helpers import *\n",
        "try:\n    from fast import run\nexcept ImportError:\n"
        "    def run(raw):\n        return raw\ndef init():\n    pass\n",
        "def init():\n    pass\n\n\nasync def run(raw):\n    return raw\n",
        "init, run = (lambda: None), (lambda raw: raw)\n",
        "class init:\n    pass\n\n\nrun: object = print\n",
    ],
    ids=["imported", "assigned", "star-import", "in-try", "async", "tuple", "class-annotated"],
)
def test_scoring_scripts_that_define_init_and_run(
    write: WriteSpec, project: Path, script: str
) -> None:
    (project / "code/score.py").write_text(script)
    assert deployment_of(load_spec(write("blue.yml", MINIMAL_DEPLOYMENT))).name == "blue"


def test_mlflow_model_needs_no_code_configuration(write: WriteSpec, project: Path) -> None:
    (project / "mlflow-model").mkdir()
    (project / "mlflow-model/MLmodel").write_text("flavors: {}\n")
    spec = deployment_of(load_spec(write("blue.yml", "name: blue\nmodel:\n  path: mlflow-model\n")))
    assert spec.is_mlflow
    assert spec.code_configuration is None
    declared = "name: blue\nmodel:\n  path: model\n  type: mlflow_model\n"
    assert deployment_of(load_spec(write("green.yml", declared))).is_mlflow


def test_registered_references_are_kept_as_text(write: WriteSpec) -> None:
    text = MINIMAL_DEPLOYMENT.replace("model:\n  path: model", "model: azureml:my-model:1") + (
        "environment: azureml:my-env@latest\n"
    )
    spec = deployment_of(load_spec(write("blue.yml", text)))
    assert spec.model == "azureml:my-model:1"
    assert spec.model_path is None
    assert spec.environment == "azureml:my-env@latest"


def test_registered_model_without_code_is_served_as_mlflow(write: WriteSpec) -> None:
    # Only an MLflow model runs without a script; the devserver checks the registered type.
    spec = deployment_of(load_spec(write("blue.yml", "name: blue\nmodel: azureml:iris@latest\n")))
    assert spec.code_configuration is None
    assert spec.is_mlflow
    with_code = deployment_of(load_spec(write("green.yml", MINIMAL_DEPLOYMENT)))
    assert not with_code.is_mlflow


def test_registered_reference_as_model_path_says_where_it_goes(write: WriteSpec) -> None:
    text = "name: blue\nmodel:\n  path: azureml:iris:2\n"
    with pytest.raises(SpecError, match="write it as `model: azureml:iris:2`"):
        load_spec(write("blue.yml", text))


def test_numbers_where_azure_takes_text(write: WriteSpec) -> None:
    text = MINIMAL_DEPLOYMENT.replace("  path: model", "  path: model\n  version: 1") + (
        "environment_variables:\n  THREADS: 4\n  DEBUG: true\n  QUIET: false\n  RATIO: 0.5\n"
        "  NAME: text\n"
    )
    spec = deployment_of(load_spec(write("blue.yml", text)))
    assert spec.environment_variables == {
        "THREADS": "4",
        # az's REST client sends Python's str() of a YAML boolean: the cloud holds "True".
        "DEBUG": "True",
        "QUIET": "False",
        "RATIO": "0.5",
        "NAME": "text",
    }
    assert isinstance(spec.model, ModelRef)
    assert spec.model.version == "1"


# Cloud-only fields.


def test_cloud_only_fields_are_kept_and_noted_once(write: WriteSpec) -> None:
    text = MINIMAL_DEPLOYMENT.replace("  path: model", "  path: model\n  stage: Production") + (
        "instance_type: Standard_DS3_v2\napp_insights_enabled: false\n"
        "egress_public_network_access: disabled\n"
    )
    path = write("blue.yml", text)
    loaded = load_spec(path)
    spec = deployment_of(loaded)
    assert spec.instance_type == "Standard_DS3_v2"
    assert spec.app_insights_enabled is False
    assert loaded.cloud_only == [
        "app_insights_enabled",
        "egress_public_network_access",
        "instance_type",
        "model.stage",
    ]
    note = loaded.cloud_only_note()
    assert note == (
        f"{path}: not applicable locally, kept as given: app_insights_enabled, "
        "egress_public_network_access, instance_type, model.stage"
    )
    assert note.count("instance_type") == 1


def test_endpoint_cloud_only_fields(write: WriteSpec) -> None:
    text = (
        "name: my-endpoint\nauth_mode: key\nidentity:\n  type: system_assigned\n"
        "public_network_access: disabled\n"
    )
    loaded = load_spec(write("ep.yml", text))
    spec = endpoint_of(loaded)
    assert spec.identity == {"type": "system_assigned"}
    assert loaded.cloud_only == ["identity", "public_network_access"]
    note = loaded.cloud_only_note()
    assert note is not None
    assert note.endswith("not applicable locally, kept as given: identity, public_network_access")


def test_no_cloud_only_note_without_cloud_only_fields(write: WriteSpec) -> None:
    loaded = load_spec(write("blue.yml", MINIMAL_DEPLOYMENT))
    assert loaded.cloud_only == []
    assert loaded.cloud_only_note() is None


# Overrides (az ml's --set).


def test_apply_overrides_sets_nested_keys_without_touching_the_input() -> None:
    data = {"name": "blue", "request_settings": {"max_queue_wait_ms": 100}, "tags": "oops"}
    result = apply_overrides(
        data,
        {
            "instance_count": 3,
            "request_settings.request_timeout_ms": 100,
            "liveness_probe.period": 5,
            "tags.team": "ml",
        },
    )
    assert result == {
        "name": "blue",
        "request_settings": {"max_queue_wait_ms": 100, "request_timeout_ms": 100},
        "tags": {"team": "ml"},
        "instance_count": 3,
        "liveness_probe": {"period": 5},
    }
    assert data == {"name": "blue", "request_settings": {"max_queue_wait_ms": 100}, "tags": "oops"}


def test_apply_overrides_rejects_an_empty_key_part() -> None:
    with pytest.raises(SpecError, match="dotted key path"):
        apply_overrides({}, {"request_settings..timeout": 1})


def test_load_spec_with_overrides(write: WriteSpec) -> None:
    path = write("blue.yml", MINIMAL_DEPLOYMENT + "instance_count: 1\n")
    loaded = load_spec(
        path, overrides={"instance_count": "3", "request_settings.request_timeout_ms": 100}
    )
    spec = deployment_of(loaded)
    assert spec.instance_count == 3
    assert spec.request_settings.request_timeout_ms == 100
    assert spec.request_settings.max_concurrent_requests_per_instance == 1


# Round trips, as the devserver stores specs.


def test_a_dumped_spec_validates_again_to_the_same_spec(sample: SampleProject) -> None:
    for yml in (sample.endpoint_yml, sample.blue_yml):
        loaded = load_spec(yml)
        dumped = loaded.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        again = validate_spec(loaded.kind, dumped, check_files=False)
        assert again.spec == loaded.spec
        assert again.cloud_only == loaded.cloud_only


def test_models_accept_python_objects(project: Path) -> None:
    spec = OnlineDeployment(
        name="blue",
        model=ModelRef(path=project / "model"),
        code_configuration=CodeConfiguration(code=project / "code", scoring_script="score.py"),
        environment=Environment(image="python:3.11-slim"),
    )
    assert spec.model_path == project / "model"
    assert OnlineEndpoint(name="my-endpoint").auth_mode == "key"


def test_validate_spec_without_a_file_names_only_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec("online-endpoint", {"name": "my-endpoint", "traffic": {"blue": 50}})
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field) == (None, None, "traffic")
    assert str(issue) == (
        "traffic: traffic values must add up to 100 (or all be 0); blue=50 adds up to 50"
    )


def test_deployment_schema_constant_is_what_the_sample_uses(sample: SampleProject) -> None:
    assert sample.blue_yml.read_text().startswith(f"$schema: {DEPLOYMENT_SCHEMA}\n")
