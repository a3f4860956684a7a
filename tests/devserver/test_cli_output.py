"""az's output rules (-o, --query), its multi-word options and the `ml` command surface, in
process: the formatting functions directly, the commands through click's CliRunner."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from epdev.devserver.cli.azstyle import az_words
from epdev.devserver.cli.main import cli
from epdev.devserver.cli.output import FORMATS, render, table, tsv

ENDPOINT = {
    "name": "ep",
    "auth_mode": "key",
    "provisioning_state": "Succeeded",
    "traffic": {"green": 10, "blue": 90},
    "scoring_uri": "https://127.0.0.1:1/endpoints/ep/score",
    "local": False,
    "description": None,
    "deployments": ["blue", "green"],
}


def run(*args: str, home: str = "/nonexistent-epdev-home") -> Any:
    return CliRunner().invoke(cli, list(args), env={"EPDEV_HOME": home})


# JSON and YAML


def test_json_is_azs_indented_sorted_unicode_json() -> None:
    text = render({"b": 1, "a": "é", "c": [True, None]}, "json")
    assert text == '{\n  "a": "é",\n  "b": 1,\n  "c": [\n    true,\n    null\n  ]\n}\n'


def test_yaml_is_block_style_with_sorted_keys_and_takes_query_records() -> None:
    text = render(OrderedDict([("z", 1), ("a", {"b": [1, 2]})]), "yaml")
    assert text == "a:\n  b:\n  - 1\n  - 2\nz: 1\n"
    assert yaml.safe_load(render(ENDPOINT, "yamlc")) == ENDPOINT  # no colour off a terminal


def test_none_prints_nothing_and_jsonc_is_json_off_a_terminal() -> None:
    assert render(ENDPOINT, "none") == ""
    assert json.loads(render(ENDPOINT, "jsonc")) == ENDPOINT


# TSV, as az's knack prints it


def test_tsv_scalars_print_plain() -> None:
    assert tsv("abc") == "abc\n"
    assert tsv(3) == "3\n"
    assert tsv(2.5) == "2.5\n"


def test_tsv_top_level_booleans_are_lowercase_nested_ones_are_pythons() -> None:
    assert tsv(True) == "true\n"
    assert tsv([False, True]) == "false\ntrue\n"
    assert tsv({"ok": True}) == "True\n"


def test_tsv_lists_print_one_line_per_item() -> None:
    assert tsv(["blue", "green"]) == "blue\ngreen\n"
    assert tsv([["a", 1], ["b", 2]]) == "a\t1\nb\t2\n"


def test_tsv_records_print_values_in_key_order_nested_as_count_or_blank() -> None:
    assert tsv({"b": 2, "a": 1, "c": None}) == "1\t2\tNone\n"
    assert (
        tsv(ENDPOINT)
        == "key\t2\tNone\tFalse\tep\tSucceeded\thttps://127.0.0.1:1/endpoints/ep/score\t\n"
    )


def test_tsv_keeps_the_order_of_records_a_query_built() -> None:
    built = OrderedDict([("name", "ep"), ("auth", "key")])
    assert tsv(built) == "ep\tkey\n"
    assert tsv([built, built]) == "ep\tkey\nep\tkey\n"


# Tables


def test_table_without_query_uses_the_commands_columns() -> None:
    lines = table([ENDPOINT], "endpoint").splitlines()
    assert lines[0].split() == [
        "Name",
        "Auth",
        "Mode",
        "Provisioning",
        "State",
        "Traffic",
        "Scoring",
        "Uri",
    ]
    assert lines[1].startswith("----")
    assert lines[2].split()[:3] == ["ep", "key", "Succeeded"]
    assert "green=10" in lines[2]


def test_table_with_a_query_shows_scalar_fields_in_the_querys_order() -> None:
    text = table(
        [OrderedDict([("name", "blue"), ("state", "Succeeded"), ("nested", {"a": 1})])],
        "deployment",
        query_active=True,
    )
    assert text == "Name  State\n----  ---------\nblue  Succeeded\n"


def test_table_of_scalars_and_lists() -> None:
    assert table(["a", "b"], query_active=True) == "Result\n------\na\nb\n"
    assert table([[1, 2]], query_active=True) == "Column1  Column2\n-------  -------\n1        2\n"


def test_automatic_table_sorts_keys_and_skips_id_type_and_non_scalars() -> None:
    text = table({"zeta": 1, "alpha": "x", "id": "i", "type": "t", "tags": {}, "none": None})
    assert text == "Alpha  Zeta\n-----  ----\nx      1\n"


# az's multi-word options


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (
            ["--traffic", "blue=90", "green=10", "-n", "e"],
            ["--traffic", "blue=90 green=10", "-n", "e"],
        ),
        (["--traffic", "blue=90 green=10"], ["--traffic", "blue=90 green=10"]),
        (["-t", "blue=100", "green=0"], ["-t", "blue=100 green=0"]),
        (["--traffic=blue=50", "green=50"], ["--traffic", "blue=50 green=50"]),
        (["--mirror-traffic", "green=10", "--yes"], ["--mirror-traffic", "green=10", "--yes"]),
        (["--set", "a=1", "b.c=2", "-f", "x"], ["--set", "a=1", "--set", "b.c=2", "-f", "x"]),
        (["--tags", "k=v", "n=1"], ["--tags", "k=v", "--tags", "n=1"]),
        (["--set-default", "--name", "x"], ["--set-default", "--name", "x"]),
        (["-t", "custom_model", "-p", "m"], ["-t", "custom_model", "-p", "m"]),
    ],
)
def test_az_words_joins_and_repeats_multi_word_values(
    words: list[str], expected: list[str]
) -> None:
    assert az_words(words) == expected


# The command surface


def _leaves(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if name == "ml":
            continue
        if isinstance(command, click.Group):
            found.extend(_leaves(command, f"{prefix}{name} "))
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_command_takes_azs_global_options() -> None:
    for label, command in _leaves(cli):
        options = {opt for param in command.params for opt in param.opts}
        if "args" in {param.name for param in command.params}:
            continue  # a cloud-only stand-in takes anything
        missing = {"-o", "--output", "--query", "-g", "-w", "--subscription"} - options
        assert not missing, f"epdev {label} lacks {missing}"


def test_ml_is_the_same_program() -> None:
    assert cli.commands["ml"].commands is cli.commands  # type: ignore[attr-defined]
    assert run("ml", "online-endpoint", "--help").exit_code == 0


def test_workspace_show_answers_a_local_workspace() -> None:
    result = run("ml", "workspace", "show", "-w", "my-ws", "-g", "my-rg")
    view = json.loads(result.output)
    assert result.exit_code == 0
    assert (view["name"], view["location"], view["container_registry"]) == ("my-ws", "local", None)
    assert run("ml", "workspace", "show", "--query", "location", "-o", "tsv").output == "local\n"


def test_compute_commands_answer_a_local_compute_and_say_so_once() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "ml",
            "compute",
            "create",
            "-n",
            "batch-cluster",
            "--type",
            "amlcompute",
            "--min-instances",
            "0",
            "--max-instances",
            "5",
            "--query",
            "[name, location]",
            "-o",
            "tsv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "batch-cluster\nlocal\n"
    assert result.stderr.count("not applicable locally") == 1
    for args in (["show", "-n", "c"], ["list"], ["delete", "-n", "c", "--yes"]):
        assert run("ml", "compute", *args).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "create", "-n", "r"],
        ["datastore", "list"],
        ["connection", "show", "-n", "c"],
        ["schedule", "create", "-f", "s.yml"],
        ["component", "list"],
        ["feature-store", "show", "-n", "f"],
        ["workspace", "create", "-n", "w"],
        ["compute", "start", "-n", "c"],
        ["job", "create", "-f", "job.yml"],
        ["model", "archive", "-n", "m"],
        ["data", "import", "-f", "d.yml"],
    ],
)
def test_cloud_only_commands_fail_with_one_line(args: list[str]) -> None:
    result = run("ml", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is cloud-only" in lines[0], result.output
    assert f"az ml {args[0]} {args[1]}" in lines[0]


def test_words_az_does_not_know_get_clicks_usual_error() -> None:
    result = run("ml", "no-such-group")
    assert result.exit_code == 2 and "No such command" in result.output


def test_a_bad_query_is_a_usage_error() -> None:
    result = run("ml", "workspace", "show", "--query", "[?name==")
    assert result.exit_code == 2 and "--query" in result.output


def test_a_query_with_no_result_prints_nothing() -> None:
    result = run("ml", "workspace", "show", "--query", "nothing_here", "-o", "json")
    assert result.exit_code == 0 and result.output == ""


def test_every_format_is_offered() -> None:
    for fmt in FORMATS:
        assert run("ml", "workspace", "show", "-o", fmt).exit_code == 0


# Batch paths as az writes them


def test_datastore_output_paths_land_under_the_home(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from epdev.devserver.cli.batch import _input, output_folder
    from epdev.devserver.cli.common import Failure

    monkeypatch.setenv("EPDEV_HOME", str(tmp_path))
    where = output_folder("azureml://datastores/workspaceblobstore/paths/my-ep/run-1")
    assert where == str(tmp_path / "datastores" / "workspaceblobstore" / "my-ep" / "run-1")
    assert output_folder("folder:azureml://datastores/ws/paths/out") == str(
        tmp_path / "datastores" / "ws" / "out"
    )
    for bad in ("azureml://subscriptions/x/paths/y", "azureml://datastores/ws/paths/../../etc"):
        with pytest.raises(Failure):
            output_folder(bad)
    assert _input("folder:https://example.org/data") == "https://example.org/data"
    assert _input("azureml:heart@latest") == "azureml:heart@latest"
    with pytest.raises(Failure, match="--input ~nosuchuser/x: there is no user"):
        _input("~nosuchuser/x")
    with pytest.raises(Failure, match="--output-path ~nosuchuser: there is no user"):
        output_folder("~nosuchuser")


def test_hidden_studio_flags_are_accepted() -> None:
    result = run("ml", "online-endpoint", "show", "-n", "x", "--web")
    assert "no such option" not in result.output.lower()
    assert result.exit_code == 1  # no devserver in this home: the one-line failure
