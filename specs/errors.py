"""Spec errors that name the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec, located as precisely as we can."""

    message: str
    file: Path | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class SpecError(ValueError):
    """A spec that cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))

    @classmethod
    def single(
        cls,
        message: str,
        *,
        file: Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> SpecError:
        return cls([SpecIssue(message, file=file, line=line, field=field)])
