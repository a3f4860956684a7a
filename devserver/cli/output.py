"""Printing results as az does: `-o json|jsonc|yaml|yamlc|table|tsv|none`, shaped by `--query`.

The rules are az's (its knack library's): JSON and YAML with sorted keys; `--query` is a JMESPath
expression applied before formatting, and a result of null prints nothing; TSV prints one line
per list item, a record's values tab-separated (in key order, or in the query's order when a
query built the record), a nested list as its length and a nested record as nothing; a table
shows each record's scalar fields, in the command's own columns when there is no query.
"""

from __future__ import annotations

import io
import json
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import click
import jmespath
import yaml

FORMATS = ("json", "jsonc", "yaml", "yamlc", "table", "tsv", "none")
DEFAULT_FORMAT = "json"

# Where the command's global options leave their values for `emit`.
_META_KEY = "epdev.output"

# Columns shown by `-o table` (with no --query), per kind of record, in order.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "endpoint": ("name", "auth_mode", "provisioning_state", "traffic", "scoring_uri"),
    "deployment": (
        "name",
        "endpoint_name",
        "provisioning_state",
        "instance_count",
        "ready_instances",
        "health.state",
    ),
    "job": ("name", "status", "endpoint_name", "deployment_name", "items", "failed", "engine"),
    "asset": ("name", "version", "type", "path"),
}

# az leaves these out of automatic tables.
_TABLE_SKIPPED = frozenset({"id", "type", "etag"})


@dataclass
class OutputSettings:
    format: str = DEFAULT_FORMAT
    query: Any = None  # a compiled JMESPath expression, or None

    @property
    def query_active(self) -> bool:
        return self.query is not None


def settings() -> OutputSettings:
    """The current command's `-o` and `--query` (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return OutputSettings()
    found = ctx.meta.get(_META_KEY)
    if found is None:
        found = ctx.meta[_META_KEY] = OutputSettings()
    assert isinstance(found, OutputSettings)
    return found


def store_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Callback of the global `-o/--output` option."""
    if value is not None:
        settings().format = value.lower()


def store_query(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Callback of the global `--query` option: compiled now, so a bad one fails as usage."""
    if value is None:
        return
    try:
        settings().query = jmespath.compile(value)
    except jmespath.exceptions.JMESPathError as exc:
        raise click.BadParameter(f"invalid jmespath_type value: {value!r} ({exc})") from None


def shaped(data: Any) -> Any:
    """`data` with the current `--query` applied."""
    query = settings().query
    # Records a query builds ({a: x, b: y}) keep its order; az prints them so in TSV.
    return data if query is None else query.search(data, jmespath.Options(dict_cls=OrderedDict))


def emit(data: Any, fmt: str | None = None, kind: str | None = None) -> None:
    """Print a command's result as the user asked; `kind` names the table's columns."""
    if data is None:
        return
    current = settings()
    data = shaped(data)
    if data is None:
        return
    text = render(data, fmt or current.format, kind, current.query_active)
    if text:
        click.echo(text, nl=False)


def render(data: Any, fmt: str, kind: str | None = None, query_active: bool = False) -> str:
    """The text of `data` in format `fmt`, ending with a newline (empty for `none`)."""
    if fmt in ("json", "jsonc"):
        text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return _colored(text, "json") if fmt == "jsonc" else text
    if fmt in ("yaml", "yamlc"):
        plain = json.loads(json.dumps(data))  # safe_dump refuses a query's OrderedDicts
        text = yaml.safe_dump(plain, default_flow_style=False, allow_unicode=True)
        return _colored(text, "yaml") if fmt == "yamlc" else text
    if fmt == "table":
        return table(data, kind, query_active)
    if fmt == "tsv":
        return tsv(data)
    if fmt == "none":
        return ""
    raise click.UsageError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")


def _colored(text: str, language: str) -> str:
    """Colour for a terminal, as az's jsonc/yamlc; plain text when stdout is not one."""
    if not sys.stdout.isatty():
        return text
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import JsonLexer, YamlLexer
    except ImportError:
        return text
    lexer = JsonLexer() if language == "json" else YamlLexer()
    return str(highlight(text, lexer, TerminalFormatter()))


# TSV


def tsv(data: Any) -> str:
    """az's TSV: a list is one row per item, anything else one row. A record's values are in
    key order, except a record a query built, whose order is the query's."""
    out = io.StringIO()
    for row in data if isinstance(data, list) else [data]:
        _tsv_row(row, out)
    return out.getvalue()


def _tsv_row(row: Any, out: io.StringIO) -> None:
    if isinstance(row, dict):
        ordered = isinstance(row, OrderedDict)
        values = list(row.values()) if ordered else [v for _, v in sorted(row.items())]
        out.write("\t".join(_tsv_cell(v) for v in values))
    elif isinstance(row, list):
        out.write("\t".join(_tsv_cell(v) for v in row))
    elif isinstance(row, bool):
        out.write(str(row).lower())
    else:
        out.write(_tsv_cell(row))
    out.write("\n")


def _tsv_cell(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return value if isinstance(value, str) else str(value)


# Tables


def table(data: Any, kind: str | None = None, query_active: bool = False) -> str:
    """The command's own columns for its records; with a query (or for other results), az's
    automatic table of each record's scalar fields."""
    rows = data if isinstance(data, list) else [data]
    if not query_active and kind in TABLE_COLUMNS and all(isinstance(r, dict) for r in rows):
        return _kind_table(rows, kind)
    entries = [_auto_entry(row, sort_keys=not query_active) for row in rows]
    return _layout(entries)


def _kind_table(rows: list[dict[str, Any]], kind: str) -> str:
    if kind == "job":
        rows = [_job_row(row) for row in rows]
    columns = TABLE_COLUMNS[kind]
    headers = [col.replace("_", " ").replace(".", " ").title() for col in columns]
    entries = [
        {h: _cell(_field(row, col)) for h, col in zip(headers, columns, strict=True)}
        for row in rows
    ]
    return _layout(entries, headers)


def _auto_entry(item: Any, sort_keys: bool) -> dict[str, Any]:
    if isinstance(item, dict):
        keys = sorted(item) if sort_keys else list(item)
        return {
            key[:1].upper() + key[1:]: item[key]
            for key in keys
            if key not in _TABLE_SKIPPED
            and item[key] is not None
            and not isinstance(item[key], list | dict)
        }
    if isinstance(item, list):
        return {f"Column{i + 1}": value for i, value in enumerate(item)}
    return {"Result": item}


def _layout(entries: list[dict[str, Any]], headers: list[str] | None = None) -> str:
    """Columns two spaces apart under a dashed rule, as tabulate's "simple" style."""
    if headers is None:
        headers = []
        for entry in entries:
            headers.extend(key for key in entry if key not in headers)
    if not entries or not headers:
        return ""
    cells = [[_plain(entry.get(h)) for h in headers] for entry in entries]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _job_row(row: dict[str, Any]) -> dict[str, Any]:
    """A job's progress as table cells: items handled of total, and failed ones."""
    progress = row.get("progress") or {}
    handled = progress.get("items_done", 0) + progress.get("items_failed", 0)
    return {
        **row,
        "items": f"{handled}/{progress.get('items_total', 0)}",
        "failed": progress.get("items_failed", 0),
    }


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _field(row: dict[str, Any], column: str) -> Any:
    """A row's value for `column`; `a.b` reaches into a nested record."""
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
