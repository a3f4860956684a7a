"""YAML reading that remembers lines: the parts of YAML that specs meet in the wild."""

from __future__ import annotations

from pathlib import Path

import pytest

from epdev.specs import SpecError
from epdev.specs.yamlsource import dotted, parse_yaml, read_yaml


def test_lines_of_keys_values_and_items() -> None:
    document = parse_yaml("# comment\nname: blue\ntags:\n  a: x\nlist:\n  - one\n  - two: 2\n")
    assert document.data == {"name": "blue", "tags": {"a": "x"}, "list": ["one", {"two": 2}]}
    assert document.lines[("name",)] == 2
    assert document.lines[("tags", "a")] == 4
    assert document.lines[("list", 1)] == 7
    assert document.lines[("list", 1, "two")] == 7
    # Deeper than the YAML goes: the nearest parent's line.
    assert document.line_of(("tags", "a", "deeper")) == 4
    assert document.line_of(("missing",)) == 2  # the root mapping starts on line 2


def test_merge_keys_and_anchors() -> None:
    text = (
        "defaults: &probe\n"
        "  period: 5\n"
        "  timeout: 3\n"
        "liveness_probe:\n"
        "  <<: *probe\n"
        "  timeout: 4\n"
        "readiness_probe: *probe\n"
    )
    document = parse_yaml(text)
    assert document.data["liveness_probe"] == {"period": 5, "timeout": 4}
    assert document.data["readiness_probe"] == {"period": 5, "timeout": 3}
    assert document.lines[("liveness_probe", "timeout")] == 6  # written here: its own line
    assert document.lines[("liveness_probe", "period")] == 2  # merged: the anchor's line


def test_merge_of_several_mappings_prefers_the_first() -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n"
    assert parse_yaml(text).data["c"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !Ref x\n", "1: invalid YAML: could not determine a constructor for the tag '!Ref'"),
        (
            "a: !!python/object:os.system x\n",
            "1: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: &x [1, *x]\n", "1: a[1]: an alias refers to a node that contains it"),
        (
            "a: !!int ten\n",
            "1: a: invalid YAML value: invalid literal for int() with base 10: 'ten'",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "2: invalid YAML: expected a single document in the stream, but found another document",
        ),
        ("? [a, b]\n: 1\n", "1: a mapping key must be a plain value"),
        ("a:\n  <<: 3\n", "2: a: << must merge a mapping or a list of mappings"),
        ("a:\n\t- b\n", "2: invalid YAML: while scanning for the next token, found character"),
    ],
)
def test_yaml_problems_are_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.yml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        read_yaml(path)
    assert str(caught.value).startswith(f"{path}:{message}")


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(SpecError, match="expands to too many values"):
        parse_yaml("\n".join(lines) + "\n")


def test_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_bytes(b"\xef\xbb\xbfname: blue\n")
    assert read_yaml(path).data == {"name": "blue"}


def test_unreadable_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin\.yml: file is not UTF-8 text"):
        read_yaml(latin)
    with pytest.raises(SpecError, match="is a folder, not a file"):
        read_yaml(tmp_path)
    with pytest.raises(SpecError, match="file does not exist"):
        read_yaml(tmp_path / "missing.yml")


def test_dotted() -> None:
    assert dotted(()) == ""
    assert dotted(("a", "b")) == "a.b"
    assert dotted(("a", 0, "c")) == "a[0].c"
