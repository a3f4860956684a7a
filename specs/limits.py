"""Size limits of free-form spec fields: descriptions, tags, properties, environment variables.

A spec lives in the state store and in every listing, so one huge field slows every call. Tags
follow Azure Resource Manager's documented limits (50 tags, names up to 512 characters, values
up to 256); environment variables the Linux kernel's (one `NAME=value` string under 128 KiB, as
execve takes it). Azure documents no limit for the others; these leave room for any real spec.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from epdev.specs.base import ScalarText

MAX_DESCRIPTION = 10_000
MAX_TAGS = 50
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
MAX_PROPERTIES = 100
MAX_PROPERTY_NAME = 512
MAX_PROPERTY_VALUE = 8_192
MAX_VARIABLES = 1_000
MAX_VARIABLE_BYTES = 128 * 1024 - 1  # "NAME=value" with its NUL: the kernel's MAX_ARG_STRLEN
MAX_VARIABLES_BYTES = 1024 * 1024


def _check_tags(value: dict[str, str]) -> dict[str, str]:
    _check_mapping(value, "tags", MAX_TAGS, MAX_TAG_NAME, MAX_TAG_VALUE)
    return value


def _check_properties(value: dict[str, str]) -> dict[str, str]:
    _check_mapping(value, "properties", MAX_PROPERTIES, MAX_PROPERTY_NAME, MAX_PROPERTY_VALUE)
    return value


def _check_mapping(
    value: dict[str, str], what: str, count: int, name_length: int, value_length: int
) -> None:
    if len(value) > count:
        raise ValueError(f"has {len(value)} {what}; at most {count} are allowed")
    for name, text in value.items():
        if len(name) > name_length:
            raise ValueError(f"{_short(name)} is longer than {name_length} characters")
        if len(text) > value_length:
            raise ValueError(
                f"the value of {_short(name)} is longer than {value_length} characters"
            )


def _check_variables(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_VARIABLES:
        raise ValueError(f"has {len(value)} variables; at most {MAX_VARIABLES} are allowed")
    total = 0
    for name, text in value.items():
        if not name:
            raise ValueError("a variable's name must not be empty")
        if "=" in name:
            raise ValueError(f"{_short(name)}: a variable's name cannot contain '='")
        if "\0" in name or "\0" in text:
            where = "name" if "\0" in name else "value"
            raise ValueError(f"{_short(name)}: the {where} contains a NUL character")
        size = len(name.encode()) + 1 + len(text.encode()) + 1
        if size > MAX_VARIABLE_BYTES:
            raise ValueError(
                f"{_short(name)} is {size} bytes as NAME=value; at most {MAX_VARIABLE_BYTES} "
                "bytes are allowed"
            )
        total += size
    if total > MAX_VARIABLES_BYTES:
        raise ValueError(
            f"the variables take {total} bytes; at most {MAX_VARIABLES_BYTES} are allowed"
        )
    return value


def _short(name: str) -> str:
    return repr(name if len(name) <= 40 else f"{name[:40]}...")


Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]
"""A resource's description."""

Tags = Annotated[
    dict[str, ScalarText],
    AfterValidator(_check_tags),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_TAGS,
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        mode="validation",
    ),
]
"""`tags`: text values, within Azure's limits. Numbers and booleans become text as az's REST
client sends them: Python's str() (7 -> "7", true -> "True")."""

Properties = Annotated[
    dict[str, ScalarText],
    AfterValidator(_check_properties),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_PROPERTIES,
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        mode="validation",
    ),
]
"""`properties`: text values, as `tags`."""

EnvironmentVariables = Annotated[
    dict[str, ScalarText],
    AfterValidator(_check_variables),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_VARIABLES,
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        mode="validation",
    ),
]
"""`environment_variables`: names without '=' or NUL, values without NUL, within what a
process environment holds."""
