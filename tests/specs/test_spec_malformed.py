"""Malformed specs: every problem names the file, the line and the field, and nothing else."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Tag
from specfiles import DEPLOYMENT_SCHEMA, ENDPOINT_SCHEMA, WriteSpec

from epdev.specs import OnlineDeployment, OnlineEndpoint, SpecError, load_spec, load_specs
from epdev.specs.kinds import SpecKind

# Line numbers below refer to these texts.
DEPLOYMENT = f"""\
$schema: {DEPLOYMENT_SCHEMA}
name: blue
endpoint_name: my-endpoint
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
environment:
  image: python:3.11-slim
instance_count: 1
"""

ENDPOINT = f"""\
$schema: {ENDPOINT_SCHEMA}
name: my-endpoint
auth_mode: key
"""

BAD_NAME = (
    "is not a valid name: use 3 to 32 characters, start with a letter, then letters, digits or "
    "hyphens, and end with a letter or digit"
)
NEED_CODE = (
    "code_configuration (code and scoring_script) is required unless the model is an MLflow model"
)
BAD_INT = "Input should be a valid integer, unable to parse string as an integer"


@dataclass(frozen=True)
class Bad:
    text: str
    # Every issue, in order, with {file} and {dir} (the project folder) filled in. An entry
    # ending in "..." only has to start the issue.
    expected: list[str]
    kind: SpecKind | None = None


def deployment(old: str, new: str) -> str:
    assert old in DEPLOYMENT
    return DEPLOYMENT.replace(old, new)


CASES: dict[str, Bad] = {
    # YAML itself.
    "yaml-syntax": Bad(
        deployment("  scoring_script", "   scoring_script"),
        ["{file}:8: invalid YAML: mapping values are not allowed here"],
    ),
    "yaml-unclosed-bracket": Bad(
        "name: blue\ntags: [a, b\ninstance_count: 1\n",
        [
            "{file}:3: invalid YAML: while parsing a flow sequence started on line 2, "
            "expected ',' or ']', but got ':'"
        ],
    ),
    "not-a-mapping": Bad(
        "# deployments\n- blue\n- green\n",
        ["{file}:2: a spec must be a YAML mapping of keys to values"],
    ),
    "a-scalar": Bad(
        "just some text\n", ["{file}:1: a spec must be a YAML mapping of keys to values"]
    ),
    "empty-file": Bad("", ["{file}: file is empty"]),
    "only-comments": Bad("# nothing yet\n", ["{file}: file is empty"]),
    "duplicate-key": Bad(
        DEPLOYMENT + "instance_count: 2\n",
        ["{file}:12: instance_count: key 'instance_count' appears twice in the same mapping"],
    ),
    "duplicate-nested-key": Bad(
        deployment("  code: code\n", "  code: code\n  code: other\n"),
        ["{file}:8: code_configuration.code: key 'code' appears twice in the same mapping"],
    ),
    # Types.
    "instance-count-text": Bad(
        deployment("instance_count: 1", "instance_count: two"),
        [f"{{file}}:11: instance_count: {BAD_INT}"],
    ),
    "instance-count-bool": Bad(
        deployment("instance_count: 1", "instance_count: true"),
        ["{file}:11: instance_count: Input should be a valid integer, not true or false"],
    ),
    "instance-count-zero": Bad(
        deployment("instance_count: 1", "instance_count: 0"),
        ["{file}:11: instance_count: Input should be greater than or equal to 1"],
    ),
    "request-timeout-text": Bad(
        DEPLOYMENT + "request_settings:\n  request_timeout_ms: abc\n",
        [f"{{file}}:13: request_settings.request_timeout_ms: {BAD_INT}"],
    ),
    "probe-period-zero": Bad(
        DEPLOYMENT + "liveness_probe:\n  initial_delay: 5\n  period: 0\n",
        ["{file}:14: liveness_probe.period: Input should be greater than or equal to 1"],
    ),
    "code-configuration-text": Bad(
        deployment("code_configuration:\n  code: code\n  scoring_script: score.py\n", "")
        + "code_configuration: score.py\n",
        ["{file}:9: code_configuration: Input should be a mapping of keys to values, not a text"],
    ),
    "env-var-list": Bad(
        DEPLOYMENT + "environment_variables:\n  THREADS: 4\n  HOSTS: [a, b]\n",
        ["{file}:14: environment_variables.HOSTS: Input should be a valid string"],
    ),
    # Unknown keys, with hints.
    "unknown-key-hint": Bad(
        deployment("instance_count: 1", "instance_cont: 1"),
        ["{file}:11: instance_cont: unknown key; did you mean 'instance_count'?"],
    ),
    "unknown-nested-key-hint": Bad(
        deployment("  scoring_script: score.py", "  scoring_scrpt: score.py"),
        # One mistake, one issue: no separate "scoring_script is missing".
        ["{file}:8: code_configuration.scoring_scrpt: unknown key; did you mean 'scoring_script'?"],
    ),
    "unknown-key-wrong-case": Bad(
        deployment("instance_count: 1", "Instance_Count: 1"),
        ["{file}:11: Instance_Count: unknown key; did you mean 'instance_count'?"],
    ),
    "unknown-key-no-hint": Bad(
        DEPLOYMENT + "colour: blue\n",
        ["{file}:12: colour: unknown key"],
    ),
    "unknown-probe-key": Bad(
        DEPLOYMENT + "readiness_probe:\n  perido: 3\n",
        ["{file}:13: readiness_probe.perido: unknown key; did you mean 'period'?"],
    ),
    # Union fields: an error inside the inline mapping is reported once, at its own line.
    "inline-model-unknown-key": Bad(
        deployment("  path: model", "  pth: model"),
        ["{file}:5: model.pth: unknown key; did you mean 'path'?"],
    ),
    "inline-model-bad-type": Bad(
        deployment("  path: model", "  path: model\n  type: onnx_model"),
        ["{file}:6: model.type: Input should be 'custom_model', 'mlflow_model' or 'triton_model'"],
    ),
    "inline-model-key-named-like-a-tag": Bad(
        # 'mapping' is also the name of the union branch in pydantic's error location.
        deployment("  path: model", "  path: model\n  mapping: yes"),
        ["{file}:6: model.mapping: unknown key"],
    ),
    "inline-model-tag-not-text": Bad(
        deployment("  path: model", "  path: model\n  tags:\n    team: [a, b]"),
        ["{file}:7: model.tags.team: Input should be a valid string"],
    ),
    "model-a-number": Bad(
        deployment("model:\n  path: model", "model: 3"),
        [
            "{file}:4: model: should be a registered model reference (azureml:name:version) "
            "or a mapping with the model's path"
        ],
    ),
    "inline-environment-unknown-key": Bad(
        deployment("  image: python:3.11-slim", "  image: python:3.11-slim\n  conda_flie: x.yml"),
        ["{file}:11: environment.conda_flie: unknown key; did you mean 'conda_file'?"],
    ),
    "inline-environment-missing-conda": Bad(
        deployment("  image: python:3.11-slim", "  image: python:3.11-slim\n  conda_file: no.yml"),
        ["{file}:11: environment.conda_file: no.yml does not exist (looked for {dir}/no.yml)"],
    ),
    "environment-a-list": Bad(
        deployment("environment:\n  image: python:3.11-slim", "environment: [python]"),
        [
            "{file}:9: environment: should be a registered environment reference "
            "(azureml:name:version) or a mapping with image, conda_file or build"
        ],
    ),
    "image-and-build": Bad(
        deployment(
            "  image: python:3.11-slim", "  image: python:3.11-slim\n  build:\n    path: code"
        ),
        [
            "{file}:11: environment.build: "
            "give either image (with an optional conda_file) or build, not both"
        ],
    ),
    # Files the spec names.
    "missing-code-folder": Bad(
        deployment("  code: code", "  code: src"),
        ["{file}:7: code_configuration.code: src does not exist (looked for {dir}/src)"],
    ),
    "missing-scoring-script": Bad(
        deployment("score.py", "scor.py"),
        [
            "{file}:8: code_configuration.scoring_script: "
            "scoring script {dir}/code/scor.py does not exist"
        ],
    ),
    "scoring-script-syntax-error": Bad(
        deployment("score.py", "broken.py"),
        [
            "{file}:8: code_configuration.scoring_script: "
            "scoring script {dir}/code/broken.py has a syntax error on line 5: ..."
        ],
    ),
    "scoring-script-without-run": Bad(
        deployment("score.py", "norun.py"),
        [
            "{file}:8: code_configuration.scoring_script: "
            "scoring script {dir}/code/norun.py does not define run()"
        ],
    ),
    "missing-model-path": Bad(
        deployment("  path: model", "  path: models/v2"),
        ["{file}:5: model.path: models/v2 does not exist (looked for {dir}/models/v2)"],
    ),
    "no-code-configuration": Bad(
        deployment("code_configuration:\n  code: code\n  scoring_script: score.py\n", ""),
        [f"{{file}}:1: code_configuration: {NEED_CODE}"],
    ),
    # Names.
    "missing-name": Bad(
        deployment("name: blue\n", ""),
        ["{file}:1: name: required key is missing"],
    ),
    "deployment-name-underscore": Bad(
        deployment("name: blue", "name: blue_v2"),
        [f"{{file}}:2: name: 'blue_v2' {BAD_NAME}"],
    ),
    "deployment-endpoint-name": Bad(
        deployment("endpoint_name: my-endpoint", "endpoint_name: my-endpoint-"),
        [f"{{file}}:3: endpoint_name: 'my-endpoint-' {BAD_NAME}"],
    ),
    "endpoint-name-digit-first": Bad(
        ENDPOINT.replace("name: my-endpoint", "name: 1st-endpoint"),
        [f"{{file}}:2: name: '1st-endpoint' {BAD_NAME}"],
    ),
    "endpoint-name-too-long": Bad(
        ENDPOINT.replace("name: my-endpoint", "name: " + "e" * 33),
        [f"{{file}}:2: name: '{'e' * 33}' {BAD_NAME}"],
    ),
    # Traffic.
    "traffic-sum": Bad(
        ENDPOINT + "traffic:\n  blue: 90\n  green: 20\n",
        [
            "{file}:4: traffic: traffic values must add up to 100 (or all be 0); "
            "blue=90, green=20 adds up to 110"
        ],
    ),
    "traffic-text": Bad(
        ENDPOINT + "traffic:\n  blue: all\n",
        [f"{{file}}:5: traffic.blue: {BAD_INT}"],
    ),
    "mirror-over-half": Bad(
        ENDPOINT + "traffic:\n  blue: 100\nmirror_traffic:\n  green: 60\n",
        ["{file}:6: mirror_traffic: mirror traffic is 60%; it may be at most 50%"],
    ),
    "mirror-to-two": Bad(
        ENDPOINT + "mirror_traffic:\n  green: 10\n  red: 10\n",
        ["{file}:4: mirror_traffic: mirror traffic may go to one deployment only"],
    ),
    "mirror-and-live": Bad(
        ENDPOINT + "traffic:\n  blue: 100\nmirror_traffic:\n  blue: 10\n",
        [
            "{file}:6: mirror_traffic: 'blue' receives live traffic; a deployment cannot also "
            "receive mirror traffic"
        ],
    ),
    "auth-mode": Bad(
        ENDPOINT.replace("auth_mode: key", "auth_mode: password"),
        ["{file}:3: auth_mode: Input should be 'key', 'aml_token' or 'aad_token'"],
    ),
    # What kind of spec.
    "deployment-as-endpoint": Bad(
        DEPLOYMENT,
        [
            "{file}:1: $schema: this file is an online-deployment spec "
            "(managedOnlineDeployment.schema.json), not an online-endpoint spec"
        ],
        kind="online-endpoint",
    ),
    "deployment-as-endpoint-no-schema": Bad(
        deployment(f"$schema: {DEPLOYMENT_SCHEMA}\n", ""),
        [
            "{file}:1: this file looks like an online-deployment spec, not an online-endpoint "
            "spec (add a $schema line to say which it is)"
        ],
        kind="online-endpoint",
    ),
    "unknown-schema": Bad(
        deployment("managedOnlineDeployment.schema.json", "commandJob.schema.json"),
        ["{file}:1: $schema: commandJob.schema.json is not an endpoint or deployment schema"],
    ),
    "schema-not-text": Bad(
        deployment(f"$schema: {DEPLOYMENT_SCHEMA}", "$schema: 2"),
        ["{file}:1: $schema: $schema must be a URL text"],
    ),
    "cannot-tell-kind": Bad(
        "name: something\ndescription: what am I?\n",
        [
            "{file}:1: cannot tell what this spec describes: add a $schema line naming "
            "managedOnlineEndpoint, managedOnlineDeployment, batchEndpoint or batchDeployment"
        ],
    ),
    # Several problems: all of them, in file order.
    "several-problems": Bad(
        deployment("instance_count: 1", "instance_count: two").replace("  path: model", "  pth: m"),
        [
            "{file}:5: model.pth: unknown key; did you mean 'path'?",
            f"{{file}}:11: instance_count: {BAD_INT}",
        ],
    ),
}


def spec_issues(path: Path, kind: SpecKind | None = None, **options: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, kind, **options)
    issues = [str(issue) for issue in caught.value.issues]
    assert str(caught.value) == "; ".join(issues)
    return issues


def assert_issues(got: list[str], expected: list[str]) -> None:
    assert len(got) == len(expected), got
    for issue, want in zip(got, expected, strict=True):
        if want.endswith("..."):
            assert issue.startswith(want.removesuffix("...")), issue
        else:
            assert issue == want


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_spec_names_file_line_and_field(
    case: Bad, project: Path, write: WriteSpec
) -> None:
    (project / "code/broken.py").write_text(
        "def init():\n    pass\n\ndef run(raw):\n    return raw +\n"
    )
    (project / "code/norun.py").write_text("def init():\n    pass\n")
    path = write("spec.yml", case.text)
    expected = [e.format(file=path, dir=project) for e in case.expected]
    assert_issues(spec_issues(path, case.kind), expected)


def test_there_are_at_least_fifteen_malformed_cases() -> None:
    assert len(CASES) >= 15


def test_issue_fields_are_structured(write: WriteSpec) -> None:
    path = write("blue.yml", deployment("instance_count: 1", "instance_cont: 1"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field) == (path, 11, "instance_cont")
    assert issue.message == "unknown key; did you mean 'instance_count'?"
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    assert spec_issues(path) == [f"{path}: file does not exist"]


def test_bad_override_names_the_override_not_a_line(write: WriteSpec) -> None:
    path = write("blue.yml", DEPLOYMENT)
    issues = spec_issues(path, overrides={"request_settings.request_timeout_ms": "soon"})
    assert issues == [
        f"{path}: request_settings.request_timeout_ms: {BAD_INT} "
        "(from the override request_settings.request_timeout_ms='soon')"
    ]


def test_duplicate_names_across_files_of_a_folder(write: WriteSpec, project: Path) -> None:
    write("endpoint.yml", ENDPOINT)
    blue = write("blue.yml", DEPLOYMENT)
    copy = write("blue-copy.yml", DEPLOYMENT)
    again = write("more/endpoint.yml", ENDPOINT)
    with pytest.raises(SpecError) as caught:
        load_specs(project)
    # Files are read in sorted path order: blue-copy.yml comes before blue.yml.
    assert [str(issue) for issue in caught.value.issues] == [
        f"{blue}:2: name: online-deployment 'blue' of endpoint 'my-endpoint' is also "
        f"described in {copy}",
        f"{again}:2: name: online-endpoint 'my-endpoint' is also described in "
        f"{project / 'endpoint.yml'}",
    ]


def test_same_deployment_name_on_two_endpoints_is_fine(write: WriteSpec, project: Path) -> None:
    write("a.yml", DEPLOYMENT)
    write("b.yml", DEPLOYMENT.replace("endpoint_name: my-endpoint", "endpoint_name: other"))
    loaded, _ = load_specs(project)
    specs = [item.spec for item in loaded]
    assert all(isinstance(spec, OnlineDeployment) for spec in specs)
    assert [(getattr(spec, "endpoint_name", None), spec.name) for spec in specs] == [
        ("my-endpoint", "blue"),
        ("other", "blue"),
    ]


def test_load_specs_reports_every_bad_file_together(write: WriteSpec, project: Path) -> None:
    one = write("one.yml", deployment("instance_count: 1", "instance_count: two"))
    two = write("two.yml", ENDPOINT.replace("auth_mode: key", "auth_mode: keys"))
    write("fine.yml", ENDPOINT)
    with pytest.raises(SpecError) as caught:
        load_specs(project)
    assert [str(issue) for issue in caught.value.issues] == [
        f"{one}:11: instance_count: {BAD_INT}",
        f"{two}:3: auth_mode: Input should be 'key', 'aml_token' or 'aad_token'",
    ]


def test_load_specs_on_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match=r"no \.yml or \.yaml files in this folder"):
        load_specs(tmp_path / "empty")
    with pytest.raises(SpecError, match="file or folder does not exist"):
        load_specs(tmp_path / "missing")


def _unions(annotation: Any) -> list[Any]:
    """Every union with more than one non-None member inside an annotation."""
    found: list[Any] = []
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if (
        origin in (typing.Union, types.UnionType)
        and len([a for a in args if a is not type(None)]) > 1
    ):
        found.append(annotation)
    if origin is typing.Annotated:
        args = args[:1]
    for arg in args:
        found.extend(_unions(arg))
    return found


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            item = stack.pop()
            if isinstance(item, type) and issubclass(item, BaseModel) and item not in seen:
                _models(item, seen)
            stack.extend(typing.get_args(item))
    return seen


def test_every_union_in_the_specs_is_tagged() -> None:
    # Untagged unions make pydantic report every branch's errors; the loader's location cleanup
    # relies on tags (see the inline-model cases above) to report one error at the right field.
    for model in _models(OnlineDeployment, set()) | _models(OnlineEndpoint, set()):
        for name, info in model.model_fields.items():
            for union in _unions(info.annotation):
                members = [m for m in typing.get_args(union) if m is not type(None)]
                tagged = [
                    m
                    for m in members
                    if typing.get_origin(m) is typing.Annotated
                    and any(isinstance(x, Tag) for x in m.__metadata__)
                ]
                assert tagged == members, f"{model.__name__}.{name}: untagged union {union}"
