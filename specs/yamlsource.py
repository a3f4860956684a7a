"""YAML reading that remembers where every key and value came from."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from epdev.specs.errors import SpecError

Location = tuple[str | int, ...]

MAX_SPEC_BYTES = 1024 * 1024
"""The largest spec file read; real ones are a few kilobytes."""

MAX_DEPTH = 32
"""The deepest nesting of mappings and lists a spec may have; real ones stay under ten."""

MAX_VALUES = 20_000
"""The most keys, values and collections a spec file may write out (before aliases expand)."""


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
    return parse_yaml(read_spec_text(path), path)


def read_spec_text(path: Path) -> str:
    """The text of a spec file: a regular file of at most MAX_SPEC_BYTES, in UTF-8."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever; fstat then
        # tells a regular file from a FIFO or a device without reading from it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SpecError.single("file does not exist", file=path) from None
    except IsADirectoryError:
        raise SpecError.single("is a folder, not a file", file=path) from None
    except OSError as exc:
        raise SpecError.single(f"cannot read file: {exc.strerror}", file=path) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SpecError.single("is a folder, not a file", file=path)
        raise SpecError.single(f"is {_file_kind(mode)}, not a regular file", file=path)
    with os.fdopen(fd, "rb") as stream:
        try:
            raw = stream.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            raise SpecError.single(f"cannot read file: {exc.strerror}", file=path) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError.single(
            f"file is larger than {MAX_SPEC_BYTES // 1024 // 1024} MiB; a spec is a few "
            "kilobytes (keep data and models in files it points at)",
            file=path,
        )
    try:
        # utf-8-sig: Windows editors may start the file with a byte order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError.single(f"file is not UTF-8 text ({exc.reason})", file=path) from None


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def parse_yaml(text: str, path: Path | None = None) -> YamlDocument:
    try:
        _check_shape(text, path)
        node = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError as exc:
        raise _yaml_error(_python_error(text, exc), path) from None
    if node is None:
        raise SpecError.single("file is empty", file=path)
    document = YamlDocument(data=None)
    document.data = _Builder(document, path).build(node, ())
    return document


# libyaml's parser, where PyYAML has it, reads a large document many times faster; errors are
# worded by the pure-Python one, as they always were.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _python_error(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    if _FAST_LOADER is yaml.SafeLoader:
        return exc
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as python:
        return python
    return exc


def _check_shape(text: str, path: Path | None) -> None:
    """Refuse documents with more values than a spec can have, or nested deeper than MAX_DEPTH,
    before composing them: composing costs far more than parsing, and PyYAML composes (and we
    build) recursively, so a few hundred levels would end in a RecursionError. The event parser
    is not recursive, so it measures both safely."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=_FAST_LOADER)):
        line = event.start_mark.line + 1 if event.start_mark else None
        if count > MAX_VALUES:
            raise SpecError.single(
                f"the document has more than {MAX_VALUES:,} values; a spec has a few hundred",
                file=path,
                line=line,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError.single(
                    f"the document is nested more than {MAX_DEPTH} levels deep",
                    file=path,
                    line=line,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_error(exc: yaml.YAMLError, path: Path | None) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context
        if (
            context
            and context.startswith("while ")  # "while parsing a flow sequence", ...
            and exc.context_mark is not None
            and exc.context_mark.line != (mark.line if mark is not None else None)
        ):
            context = f"{context} started on line {exc.context_mark.line + 1}"
        parts = [part for part in (context, exc.problem) if part]
        problem = ", ".join(parts) or "invalid YAML"
        return SpecError.single(f"invalid YAML: {problem}", file=path, line=line)
    return SpecError.single(f"invalid YAML: {exc}", file=path)


_MERGE_TAG = "tag:yaml.org,2002:merge"

# Aliases and merge keys let a few lines expand to billions of values, or make each merge copy
# what earlier merges copied. Every value built and every key or line merged costs one unit of
# this budget; real specs spend a few hundred.
_MAX_WORK = 200_000


class _Builder:
    """Turns a composed node tree into plain data, recording each key path's line."""

    def __init__(self, doc: YamlDocument, path: Path | None) -> None:
        self.doc = doc
        self.path = path
        self.constructor = yaml.SafeLoader("")
        self.active: set[int] = set()  # nodes being built: an alias to one would never end
        self.work = 0

    def spend(self, units: int, node: yaml.Node, loc: Location) -> None:
        self.work += units
        if self.work > _MAX_WORK:
            raise self._error(
                "the document expands to too many values (aliases or merge keys repeat too "
                "much of it)",
                node,
                loc,
            )

    def build(self, node: yaml.Node, loc: Location) -> Any:
        self.spend(1, node, loc)
        if len(loc) > MAX_DEPTH:  # aliases can nest what the text does not
            raise self._error(
                f"the document is nested more than {MAX_DEPTH} levels deep", node, loc
            )
        if id(node) in self.active:
            raise self._error("an alias refers to a node that contains it", node, loc)
        self.doc.lines.setdefault(loc, node.start_mark.line + 1)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            return self._construct(node, loc)
        finally:
            self.active.discard(id(node))

    def _construct(self, node: yaml.Node, loc: Location) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # an unknown tag such as `!Ref`, a bad `!!int`
            raise _yaml_error(exc, self.path) from None
        except (ValueError, TypeError) as exc:
            raise self._error(f"invalid YAML value: {exc}", node, loc) from None

    def _mapping(self, node: yaml.MappingNode, loc: Location) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError.single(
                    "a mapping key must be a plain value", file=self.path, line=line
                )
            key = self._construct(key_node, loc)
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
        for value_node in merges:
            self._merge(result, value_node, loc)
        return result

    def _merge(self, result: dict[Any, Any], value_node: yaml.Node, loc: Location) -> None:
        """`<<: *base` (or `<<: [*a, *b]`): keys written here win, then earlier sources."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self._error("<< must merge a mapping or a list of mappings", source, loc)
            scratch = YamlDocument(data=None)
            self.doc, saved = scratch, self.doc
            try:
                merged = self.build(source, loc)
            finally:
                self.doc = saved
            self.spend(len(merged) + len(scratch.lines), source, loc)
            taken = [key for key in merged if key not in result]
            for key in taken:
                result[key] = merged[key]
            won = set(taken)
            depth = len(loc)
            for sub, line in scratch.lines.items():
                if len(sub) > depth and sub[depth] in won:
                    self.doc.lines.setdefault(sub, line)

    def _error(self, message: str, node: yaml.Node, loc: Location) -> SpecError:
        return SpecError.single(
            message, file=self.path, line=node.start_mark.line + 1, field=dotted(loc) or None
        )


def dotted(loc: Location) -> str:
    """`a.b[0].c` for a key path."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
