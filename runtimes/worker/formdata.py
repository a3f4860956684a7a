"""Form bodies (urlencoded and multipart/form-data) parsed into fields and uploaded files."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

from epdev.runtimes.worker.datastructures import FileStorage, Headers, MultiDict

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def parse_form(
    mimetype: str, content_type: str, body: bytes
) -> tuple[MultiDict[str], MultiDict[FileStorage]]:
    """(fields, files) of a form body; both empty for any other content type."""
    if mimetype == URLENCODED:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return MultiDict(pairs), MultiDict()
    if mimetype == MULTIPART and body:
        return _multipart(content_type, body)
    return MultiDict(), MultiDict()


def _multipart(content_type: str, body: bytes) -> tuple[MultiDict[str], MultiDict[FileStorage]]:
    # The standard library's MIME parser splits the parts and keeps their bytes exactly. Imported
    # here: most scripts never receive a form, and the worker starts once per instance.
    from email import policy
    from email.message import Message
    from email.parser import BytesParser

    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: MultiDict[str] = MultiDict()
    files: MultiDict[FileStorage] = MultiDict()
    if not message.is_multipart():
        return fields, files
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        name = _text(part.get_param("name", header="content-disposition"))
        if name is None:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = _text(part.get_param("filename", header="content-disposition"))
        if filename is None:
            charset = part.get_content_charset() or "utf-8"
            fields.add(name, data.decode(charset, "replace"))
            continue
        headers = Headers((key, str(value)) for key, value in part.items())
        files.add(name, FileStorage(io.BytesIO(data), filename, name, headers=headers))
    return fields, files


def _text(value: object) -> str | None:
    """A header parameter as text: raw UTF-8 bytes (what curl sends) decoded, not escaped."""
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, value)
        charset, _, raw = value
        return str(raw).encode("latin-1", "surrogateescape").decode(charset or "utf-8", "replace")
    text = str(value)
    try:
        return text.encode("ascii", "surrogateescape").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
