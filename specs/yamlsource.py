"""YAML reading that remembers where every key and value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from epdev.specs.errors import SpecError

Location = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Plain data from one YAML file plus the line of each key path (1-based)."""

    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, loc: Location) -> int | None:
        # Pydantic locations can run deeper than the YAML (a union's member name, a model's
        # validator); the nearest existing parent is the best line to point at.
        for depth in range(len(loc), -1, -1):
            found = self.lines.get(loc[:depth])
            if found is not None:
                return found
        return None


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.single("file does not exist", file=path) from None
    except UnicodeDecodeError as exc:
        raise SpecError.single(f"file is not UTF-8 text ({exc.reason})", file=path) from None
    except OSError as exc:
        raise SpecError.single(f"cannot read file: {exc.strerror}", file=path) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | None = None) -> YamlDocument:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError.single(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(f"invalid YAML: {exc}", file=path) from None
    document = YamlDocument(data=None)
    if node is None:
        raise SpecError.single("file is empty", file=path)
    builder = _Builder(document, path)
    document.data = builder.build(node, ())
    return document


class _Builder:
    """Turns a composed node tree into plain data, recording each key path's line."""

    def __init__(self, doc: YamlDocument, path: Path | None) -> None:
        self.doc = doc
        self.path = path
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Location) -> Any:
        self.doc.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, loc: Location) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self.constructor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise SpecError.single("a mapping key must be a plain value", file=self.path, line=line)
            if key in result:
                raise SpecError.single(
                    f"key {key!r} appears twice in the same mapping",
                    file=self.path,
                    line=line,
                    field=dotted((*loc, key)),
                )
            result[key] = self.build(value_node, (*loc, key))
            # Errors about a value point at its key's line.
            self.doc.lines[(*loc, key)] = line
        return result


def dotted(loc: Location) -> str:
    """`a.b[0].c` for a key path."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out

