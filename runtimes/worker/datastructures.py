"""Headers, multi-valued dicts and uploaded files, shaped like werkzeug's for @rawhttp scripts.

Scripts written for Azure's server receive a flask request and return flask responses; these
classes offer the part of that API scripts use (``request.args.getlist``, ``request.files["f"]``,
``response.headers.add``...), on the standard library alone.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from os import PathLike
from typing import IO, Any, TypeVar, overload

T = TypeVar("T")
_MISSING: Any = object()


class MultiDict(Mapping[str, T]):
    """A mapping that keeps every value of a repeated key: `d[key]` is the first, `getlist` all."""

    def __init__(self, pairs: Iterable[tuple[str, T]] = ()) -> None:
        self._lists: dict[str, list[T]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> T:
        found = self._lists.get(key)
        if not found:
            raise KeyError(key)
        return found[0]

    def __setitem__(self, key: str, value: T) -> None:
        self._lists[key] = [value]

    def __delitem__(self, key: str) -> None:
        del self._lists[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.items(multi=True))!r})"

    @overload
    def get(self, key: str) -> T | None: ...
    @overload
    def get(self, key: str, default: Any = None, type: Callable[[T], Any] | None = None) -> Any: ...
    def get(self, key: str, default: Any = None, type: Callable[[T], Any] | None = None) -> Any:
        """The first value, converted with `type` when given (the default if that fails)."""
        found = self._lists.get(key)
        if not found:
            return default
        if type is None:
            return found[0]
        try:
            return type(found[0])
        except (ValueError, TypeError):
            return default

    def getlist(self, key: str, type: Callable[[T], Any] | None = None) -> list[Any]:
        found = list(self._lists.get(key, ()))
        if type is None:
            return found
        converted = []
        for value in found:
            with contextlib.suppress(ValueError, TypeError):
                converted.append(type(value))
        return converted

    def add(self, key: str, value: T) -> None:
        self._lists.setdefault(key, []).append(value)

    def setlist(self, key: str, values: Iterable[T]) -> None:
        self._lists[key] = list(values)

    def items(self, multi: bool = False) -> Any:
        if multi:
            return [(key, value) for key, values in self._lists.items() for value in values]
        return [(key, values[0]) for key, values in self._lists.items()]

    def values(self) -> Any:
        return [values[0] for values in self._lists.values()]

    def lists(self) -> list[tuple[str, list[T]]]:
        return [(key, list(values)) for key, values in self._lists.items()]

    def to_dict(self, flat: bool = True) -> dict[str, Any]:
        if flat:
            return dict(self.items())
        return dict(self.lists())

    def copy(self) -> MultiDict[T]:
        return type(self)(self.items(multi=True))


class Headers:
    """HTTP headers: names match in any case, a name may repeat, order is kept."""

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        source = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._pairs: list[tuple[str, str]] = [(str(k), str(v)) for k, v in source]

    def __getitem__(self, name: str) -> str:
        lower = name.lower()
        for key, value in self._pairs:
            if key.lower() == lower:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: object) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        self.remove(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lower = name.lower()
        return any(key.lower() == lower for key, _ in self._pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._pairs))

    def __len__(self) -> int:
        return len(self._pairs)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def __str__(self) -> str:
        return "".join(f"{key}: {value}\r\n" for key, value in self._pairs) + "\r\n"

    def get(self, name: str, default: Any = None, type: Callable[[str], Any] | None = None) -> Any:
        try:
            value = self[name]
        except KeyError:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default

    def getlist(self, name: str, type: Callable[[str], Any] | None = None) -> list[Any]:
        lower = name.lower()
        found = [value for key, value in self._pairs if key.lower() == lower]
        return found if type is None else [type(value) for value in found]

    get_all = getlist

    def keys(self, lower: bool = False) -> list[str]:
        return [key.lower() if lower else key for key, _ in self._pairs]

    def values(self) -> list[str]:
        return [value for _, value in self._pairs]

    def items(self, lower: bool = False) -> list[tuple[str, str]]:
        return [(key.lower() if lower else key, value) for key, value in self._pairs]

    def add(self, name: str, value: object) -> None:
        self._pairs.append((name, _text(value)))

    add_header = add

    def set(self, name: str, value: object) -> None:
        """Replace every header of this name with one, kept where the first one was."""
        lower = name.lower()
        text = _text(value)
        for index, (key, _) in enumerate(self._pairs):
            if key.lower() == lower:
                self._pairs[index] = (name, text)
                self._pairs[index + 1 :] = [
                    pair for pair in self._pairs[index + 1 :] if pair[0].lower() != lower
                ]
                return
        self._pairs.append((name, text))

    def setdefault(self, name: str, default: object) -> str:
        if name not in self:
            self.add(name, default)
        return self[name]

    def remove(self, name: str) -> None:
        lower = name.lower()
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != lower]

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        try:
            value = self[name]
        except KeyError:
            if default is _MISSING:
                raise
            return default
        self.remove(name)
        return value

    def extend(self, pairs: Iterable[tuple[str, object]] | Mapping[str, object]) -> None:
        source = pairs.items() if isinstance(pairs, Mapping) else pairs
        for key, value in source:
            self.add(key, value)

    def update(self, pairs: Iterable[tuple[str, object]] | Mapping[str, object]) -> None:
        source = pairs.items() if isinstance(pairs, Mapping) else pairs
        for key, value in source:
            self.set(key, value)

    def copy(self) -> Headers:
        return Headers(self._pairs)

    def to_wsgi_list(self) -> list[tuple[str, str]]:
        return list(self._pairs)


def _text(value: object) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError("a header value must not contain a newline")
    return text


class ContentTyped:
    """The content-type views werkzeug gives requests, responses and uploaded files alike."""

    headers: Headers

    @property
    def content_type(self) -> str | None:
        value: str | None = self.headers.get("content-type")
        return value

    @property
    def mimetype(self) -> str:
        return (self.content_type or "").split(";", 1)[0].strip().lower()


class FileStorage(ContentTyped):
    """One uploaded file of a multipart/form-data request; reads like the file it holds."""

    def __init__(
        self,
        stream: IO[bytes] | None = None,
        filename: str | None = None,
        name: str | None = None,
        content_type: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.stream: IO[bytes] = stream if stream is not None else io.BytesIO()
        self.filename = filename
        self.name = name
        self.headers = headers if headers is not None else Headers()
        if content_type is not None and "content-type" not in self.headers:
            self.headers.add("Content-Type", content_type)

    @property
    def content_length(self) -> int:
        value: int = self.headers.get("content-length", 0, type=int)
        return value

    def save(self, dst: str | PathLike[str] | IO[bytes], buffer_size: int = 16384) -> None:
        if isinstance(dst, str | PathLike):
            with open(dst, "wb") as out:
                shutil.copyfileobj(self.stream, out, buffer_size)
        else:
            shutil.copyfileobj(self.stream, dst, buffer_size)

    def close(self) -> None:
        self.stream.close()

    def __getattr__(self, name: str) -> Any:
        # read, seek, tell, readline...: a FileStorage passes for the file itself (PIL, pandas).
        if name == "stream":  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self.stream, name)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.stream)

    def __bool__(self) -> bool:
        return bool(self.filename)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.filename!r} ({self.content_type!r})>"
