"""The JSON Schema export, for editors and API docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.sample_project import make_sample_project

from epdev.specs import json_schema
from epdev.specs.kinds import SpecKind

KINDS: list[SpecKind] = ["online-endpoint", "online-deployment"]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_plain_json(kind: SpecKind) -> None:
    schema = json_schema(kind)
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    assert schema["title"].endswith("(epdev)")
    assert schema["description"]
    # The Azure `$schema` line is an allowed key.
    assert schema["properties"]["$schema"]["title"] == "$schema"


def test_deployment_schema_lists_the_fields() -> None:
    schema = json_schema("online-deployment")
    properties = schema["properties"]
    for key in (
        "name",
        "endpoint_name",
        "model",
        "code_configuration",
        "environment",
        "environment_variables",
        "instance_count",
        "request_settings",
        "liveness_probe",
        "readiness_probe",
        "scale_settings",
        "instance_type",
    ):
        assert key in properties, key
    defs = schema["$defs"]
    assert defs["RequestSettings"]["properties"]["request_timeout_ms"]["default"] == 5000
    assert defs["Probe"]["properties"]["failure_threshold"]["default"] == 30
    assert set(defs["CodeConfiguration"]["required"]) == {"code", "scoring_script"}
    assert properties["instance_count"] == {
        "default": 1,
        "minimum": 1,
        "title": "Instance Count",
        "type": "integer",
    }
    # YAML numbers are accepted where epdev reads text.
    assert properties["environment_variables"]["additionalProperties"] == {
        "type": ["string", "number", "boolean"]
    }


def test_endpoint_schema_lists_the_fields() -> None:
    properties = json_schema("online-endpoint")["properties"]
    assert properties["auth_mode"]["enum"] == ["key", "aml_token", "aad_token"]
    for key in ("traffic", "mirror_traffic", "tags", "identity"):
        assert key in properties


def test_schema_is_a_copy() -> None:
    json_schema("online-endpoint")["title"] = "changed"
    assert json_schema("online-endpoint")["title"] != "changed"


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown spec kind 'batch-job'"):
        json_schema("batch-job")  # type: ignore[arg-type]


def _validator(kind: SpecKind) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_azure_sample_satisfies_the_schema(tmp_path: Path) -> None:
    sample = make_sample_project(tmp_path)
    endpoint = _validator("online-endpoint")
    deployment = _validator("online-deployment")
    assert list(endpoint.iter_errors(yaml.safe_load(sample.endpoint_yml.read_text()))) == []
    for yml in (sample.blue_yml, sample.green_yml):
        assert list(deployment.iter_errors(yaml.safe_load(yml.read_text()))) == []


def test_schema_rejects_what_the_loader_rejects() -> None:
    deployment = _validator("online-deployment")
    data = {"name": "blue", "instance_cont": 2, "model": 3}
    messages = sorted(error.message for error in deployment.iter_errors(data))
    assert any("instance_cont" in message for message in messages), messages
    assert len(messages) == 2, messages
