"""Names that go into control-plane URLs: Azure ML's patterns, and quoting as one path segment.

The client checks every name before it builds a URL and the server refuses any that do not
match, so a name can never step into another resource's path (`a/../b`, `a/deployments/b`) or
smuggle a query (`a?x=1`).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

# azure-ai-ml's EndpointConfigurations: 3 to 32 characters, a letter first, then letters, digits
# or hyphens, and a letter or digit last. Online and batch endpoints and deployments share it.
RESOURCE_PATTERN = r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$"
# The jobs API's job id: a letter or digit, then letters, digits, '_' or '-'; 255 at most.
JOB_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"
# Registered data and models (and their versions): a letter or digit first, then '.', '_', '-'.
ASSET_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$"
VERSION_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$"

NameKind = Literal[
    "endpoint", "deployment", "batch endpoint", "batch deployment", "job", "asset", "version"
]

_RULES: dict[NameKind, tuple[re.Pattern[str], str]] = {
    "endpoint": (re.compile(RESOURCE_PATTERN), "resource"),
    "deployment": (re.compile(RESOURCE_PATTERN), "resource"),
    "batch endpoint": (re.compile(RESOURCE_PATTERN), "resource"),
    "batch deployment": (re.compile(RESOURCE_PATTERN), "resource"),
    "job": (re.compile(JOB_PATTERN), "job"),
    "asset": (re.compile(ASSET_PATTERN), "asset"),
    "version": (re.compile(VERSION_PATTERN), "version"),
}

_HINTS = {
    "resource": "use 3 to 32 characters: a letter first, then letters, digits or '-', "
    "and a letter or digit last",
    "job": "use letters, digits, '_' and '-' (255 at most), starting with a letter or digit",
    "asset": "use letters, digits, '.', '_' and '-' (255 at most), starting with a letter or digit",
    "version": "use letters, digits, '.', '_' and '-' (64 at most), starting with a letter or "
    "digit",
}


def hint(pattern: str) -> str | None:
    """What a name matching `pattern` may hold, when it is one of the patterns above."""
    for compiled, rule in _RULES.values():
        if compiled.pattern == pattern:
            return _HINTS[rule]
    return None


class InvalidName(ValueError):
    """A name that Azure would refuse; the message names it and says what is allowed."""


def problem(kind: NameKind, value: object) -> str | None:
    """Why `value` is not a valid name of this kind, or None when it is."""
    pattern, rule = _RULES[kind]
    if isinstance(value, str) and pattern.fullmatch(value):
        return None
    return f"{kind} name {value!r} is not valid: {_HINTS[rule]}"


def check(kind: NameKind, value: str) -> str:
    """`value`, or InvalidName saying why it cannot be a name of this kind."""
    reason = problem(kind, value)
    if reason is not None:
        raise InvalidName(reason)
    return value


def segment(kind: NameKind, value: str) -> str:
    """`value` checked and quoted as one URL path segment (every reserved character escaped)."""
    return quote(check(kind, value), safe="")
