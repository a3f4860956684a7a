"""Specs written to hurt: alias and merge bombs, deep nesting, odd files, oversized fields.

Each is refused with one located line, before anything reads, expands or stores too much.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from specfiles import DEPLOYMENT_SCHEMA, WriteSpec

from epdev.specs import OnlineDeployment, OnlineEndpoint, SpecError, load_spec, validate_spec
from epdev.specs.limits import MAX_DESCRIPTION, MAX_TAG_VALUE, MAX_TAGS
from epdev.specs.yamlsource import MAX_SPEC_BYTES, parse_yaml

DEPLOYMENT = """\
name: blue
endpoint_name: my-endpoint
model:
  path: model
code_configuration:
  code: code
  scoring_script: score.py
"""


def merge_bomb(levels: int, width: int) -> str:
    """Each mapping merges the one before it and adds `width` keys: building the last one
    copies every earlier mapping once per level (30 levels of 60 keys, 21 KB, took 42 s and
    were accepted before the work budget)."""
    lines = []
    for level in range(levels):
        keys = ", ".join(f"k{level}_{i}: {i}" for i in range(width))
        merge = f"<<: *a{level - 1}, " if level else ""
        lines.append(f"a{level}: &a{level} {{{merge}{keys}}}")
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int) -> str:
    """Billion laughs: each list holds the previous one ten times."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        items = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{items}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (merge_bomb(30, 60), "the document expands to too many values"),
        (alias_bomb(9), "the document expands to too many values"),
        # 680 KB: refused while parsing, before anything is composed (9.5 s with PyYAML alone).
        (merge_bomb(200, 250), "the document has more than 20,000 values"),
    ],
    ids=["merge", "alias", "large"],
)
def test_alias_and_merge_bombs_are_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_yaml(text, Path("bomb.yml"))
    assert str(caught.value).startswith("bomb.yml:")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_merges_that_real_specs_use_still_load() -> None:
    # Forty levels of small merges: well within the budget.
    document = parse_yaml(merge_bomb(40, 2))
    assert len(document.data["a39"]) == 80


@pytest.mark.parametrize(
    "nested",
    ["[" * 500 + "]" * 500, "".join(f"\n{'  ' * i}k{i}:" for i in range(500)) + " 1"],
    ids=["flow", "block"],
)
def test_too_deep_documents_are_refused_in_one_line(write: WriteSpec, nested: str) -> None:
    path = write("deep.yml", DEPLOYMENT + "properties:\n  x: " + nested + "\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "nested more than 32 levels deep" in message
    assert "\n" not in message


def test_too_deep_data_from_the_api_is_refused() -> None:
    data: dict[str, Any] = {"name": "my-endpoint"}
    deep: Any = 1
    for _ in range(2000):  # past Python's recursion limit, were the walk recursive
        deep = {"k": deep}
    data["properties"] = deep
    with pytest.raises(SpecError, match=r"properties\.k\.k.*: the document is nested more than 32"):
        validate_spec("online-endpoint", data)


def test_a_path_with_an_unknown_user_names_the_field(write: WriteSpec) -> None:
    path = write("blue.yml", DEPLOYMENT.replace("path: model", "path: ~nosuchuser/m"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == (
        f"{path}:4: model.path: ~nosuchuser/m: there is no user 'nosuchuser' whose home folder "
        "~nosuchuser could mean"
    )


def test_a_fifo_or_a_device_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "blue.yml"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    with pytest.raises(SpecError, match=r"blue\.yml: is a named pipe \(FIFO\), not a regular file"):
        load_spec(fifo)
    with pytest.raises(SpecError, match=r"/dev/zero: is a device, not a regular file"):
        load_spec(Path("/dev/zero"))


def test_a_huge_spec_file_is_refused_unread(write: WriteSpec) -> None:
    path = write("big.yml", DEPLOYMENT + "description: " + "x" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(SpecError, match=r"big\.yml: file is larger than 1 MiB"):
        load_spec(path)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("../score.py", "'../score.py' is outside the code folder; put the script in it"),
        (
            "sub/../../score.py",
            "'sub/../../score.py' is outside the code folder; put the script in it",
        ),
        (
            "/etc/passwd",
            "'/etc/passwd' must be a path relative to the code folder, such as score.py",
        ),
    ],
)
def test_a_scoring_script_outside_the_code_folder_is_refused(
    write: WriteSpec, project: Path, script: str, message: str
) -> None:
    (project / "score.py").write_text((project / "code/score.py").read_text())
    path = write(
        "blue.yml", DEPLOYMENT.replace("scoring_script: score.py", f"scoring_script: {script}")
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == f"{path}:7: code_configuration.scoring_script: {message}"


def test_a_script_in_a_subfolder_of_the_code_is_fine(write: WriteSpec, project: Path) -> None:
    (project / "code/sub").mkdir()
    (project / "code/sub/score.py").write_text((project / "code/score.py").read_text())
    text = DEPLOYMENT.replace("scoring_script: score.py", "scoring_script: sub/score.py")
    spec = load_spec(write("blue.yml", text)).spec
    assert isinstance(spec, OnlineDeployment)
    assert spec.code_configuration is not None
    assert spec.code_configuration.script_path == project / "code/sub/score.py"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"A=B": "x"}, "'A=B': a variable's name cannot contain '='"),
        ({"A": "x\0y"}, "'A': the value contains a NUL character"),
        ({"A\0": "x"}, "'A\\x00': the name contains a NUL character"),
        ({"": "x"}, "a variable's name must not be empty"),
        (
            {"A": "x" * 200_000},
            "'A' is 200003 bytes as NAME=value; at most 131071 bytes are allowed",
        ),
    ],
)
def test_environment_variables_a_process_cannot_hold_are_refused(
    variables: dict[str, str], message: str
) -> None:
    model = {"type": "mlflow_model", "path": "model"}
    data = {"name": "blue", "model": model, "environment_variables": variables}
    with pytest.raises(SpecError) as caught:
        validate_spec("online-deployment", data, check_files=False)
    assert str(caught.value) == f"environment_variables: {message}"


def test_min_instances_above_max_instances_is_refused(write: WriteSpec) -> None:
    text = DEPLOYMENT + "scale_settings:\n  type: target_utilization\n  min_instances: 3\n"
    path = write("blue.yml", text + "  max_instances: 2\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == (
        f"{path}:8: scale_settings: min_instances (3) is greater than max_instances (2)"
    )


def test_numbers_and_booleans_in_tags_and_properties_are_kept_as_the_cloud_shows_them(
    write: WriteSpec,
) -> None:
    text = DEPLOYMENT + (
        "tags:\n  build: 42\n  ratio: 0.5\n  prod: true\n  team: ml\n"
        "properties:\n  retries: 3\n  canary: false\n"
    )
    spec = load_spec(write("blue.yml", text)).spec
    assert isinstance(spec, OnlineDeployment)
    # az's REST client sends str() of each value.
    assert spec.tags == {"build": "42", "ratio": "0.5", "prod": "True", "team": "ml"}
    assert spec.properties == {"retries": "3", "canary": "False"}
    endpoint = validate_spec("online-endpoint", {"name": "my-endpoint", "tags": {"n": 1}}).spec
    assert isinstance(endpoint, OnlineEndpoint)
    assert endpoint.tags == {"n": "1"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"description": "x" * (MAX_DESCRIPTION + 1)},
            f"description: String should have at most {MAX_DESCRIPTION} characters",
        ),
        (
            {"tags": {f"t{i}": "x" for i in range(MAX_TAGS + 1)}},
            f"tags: has {MAX_TAGS + 1} tags; at most {MAX_TAGS} are allowed",
        ),
        (
            {"tags": {"t": "x" * (MAX_TAG_VALUE + 1)}},
            f"tags: the value of 't' is longer than {MAX_TAG_VALUE} characters",
        ),
        ({"tags": {"t": None}}, "tags.t: Input should be a valid string"),
        (
            {"properties": {"p" * 600: "x"}},
            f"properties: '{'p' * 40}...' is longer than 512 characters",
        ),
    ],
    ids=["description", "tag-count", "tag-value", "tag-null", "property-name"],
)
def test_oversized_fields_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec("online-endpoint", {"name": "my-endpoint", **changes})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("schema", "what"),
    [
        ("pipelineComponentBatchDeployment", "a pipeline component batch deployment"),
        ("serverlessEndpoint", "a serverless endpoint"),
    ],
)
def test_schemas_only_the_cloud_runs_are_refused_in_so_many_words(
    write: WriteSpec, schema: str, what: str
) -> None:
    url = f"https://azuremlschemas.azureedge.net/latest/{schema}.schema.json"
    text = f"$schema: {url}\nname: hello\nendpoint_name: my-endpoint\ntype: pipeline\n"
    path = write("hello.yml", text + "component: azureml:hello_batch@latest\n")
    runs = "model deployments are" if "deployment" in what else "online and batch endpoints are"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == f"{path}:1: $schema: {what}: not supported locally; {runs}"


def test_a_pipeline_batch_deployment_is_refused_once_not_key_by_key(write: WriteSpec) -> None:
    url = DEPLOYMENT_SCHEMA.replace("managedOnlineDeployment", "batchDeployment")
    text = (
        f"$schema: {url}\nname: hello\nendpoint_name: my-endpoint\ntype: pipeline\n"
        "component: azureml:hello_batch@latest\nsettings:\n  default_compute: batch-cluster\n"
    )
    path = write("hello.yml", text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == (
        f"{path}:4: type: a pipeline component batch deployment: not supported locally; "
        "model deployments are"
    )
