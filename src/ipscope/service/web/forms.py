"""Form bodies of the pages, read with a size cap: ``application/x-www-form-urlencoded`` and
``multipart/form-data`` (a file upload), parsed with the standard library (no extra dependency).

An uploaded text file is decoded by the reader stack's :func:`ipscope.corpus.encoding.decode` (BOM, UTF-8,
then the legacy encodings it detects): the same bytes give the same text as ``ipscope index`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from ..limits import read_body

__all__ = ["Form", "Upload", "read_form"]


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: dict[str, Upload]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def file(self, name: str) -> Upload | None:
        """The uploaded file of a field, or None when the field was left empty."""
        f = self.files.get(name)
        return f if f is not None and (f.filename or f.data) else None


async def read_form(request: Request, max_bytes: int) -> Form:
    """The form, read up to ``max_bytes`` (413 beyond: the Guard middleware has already refused a declared
    Content-Length over the server's body limit)."""
    body = await read_body(request, max_bytes)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return _multipart(ctype, body)
    fields: dict[str, str] = {}
    for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(k, v.replace("\r\n", "\n"))  # a textarea sends CRLF line ends
    return Form(fields, {})


def _multipart(ctype: str, body: bytes) -> Form:
    msg: Any = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    if not msg.is_multipart():
        return Form(fields, files)
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or name in fields or name in files:
            continue
        filename = part.get_param("filename", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = Upload(str(filename), data)
        else:
            fields[name] = data.decode("utf-8", "replace").replace("\r\n", "\n")
    return Form(fields, files)
