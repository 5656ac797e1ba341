"""Queries: a file, standard input or bytes -> ``QueryText`` (the text as decoded, and how it was read).

The one place where ``trace``, ``similar`` (and later the service) turn what a user gave into a query, so
every command decodes and limits queries the same way.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

MAX_QUERY_CHARS = 50_000_000  # the longest query any command takes (trace's limit)
# Per capability, the longest query it answers, checked by check_query_size (called by trace() and similar()).
# similar compares every 200-token window of the query in depth, so it takes 1/25 of trace's limit.
QUERY_LIMITS: dict[str, int] = {"trace": MAX_QUERY_CHARS, "similar": MAX_QUERY_CHARS // 25}


@dataclass(frozen=True, slots=True)
class QueryText:
    """A query as read. ``source_sha256`` is the SHA-256 of the raw bytes when they are not the UTF-8
    encoding of ``text`` (read in another encoding, or with a byte-order mark), else None."""

    name: str
    text: str
    encoding: str = "utf-8"
    detected: bool = False  # the encoding was detected rather than given or certain (a BOM, valid UTF-8)
    source_sha256: str | None = None


def decode_query(data: bytes, name: str) -> QueryText:
    """The text of a query's raw bytes (UTF-8 only for now)."""
    if b"\x00" in data[:8192]:
        raise InputError(f"query {name}: binary data (NUL bytes), not text", "give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"query {name}: invalid UTF-8 at byte {e.start}",
                         "convert it to UTF-8, e.g. iconv -f latin1 -t utf-8") from e
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"query {name}: {len(text):,} characters is more than the {MAX_QUERY_CHARS:,} one query may have",
                         "split it into several queries (they can all be given to one ipscope trace call)")
    raw_sha = None if data == text.encode("utf-8") else hashlib.sha256(data).hexdigest()
    return QueryText(name, text, "utf-8", False, raw_sha)


def read_query(arg: str | Path) -> QueryText:
    """Read one query: a path, or ``-`` for standard input."""
    arg = str(arg)
    if arg == "-":
        return decode_query(sys.stdin.buffer.read(), "<stdin>")
    p = Path(arg)
    if p.is_dir():
        raise InputError(f"query {arg}: a directory, not a file",
                         "give the text files themselves (a shell glob such as DIR/*.txt), or - for standard input")
    if not p.is_file():
        raise InputError(f"query {arg}: no such file", "give a text file, or - to read standard input")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"query {arg}: cannot read ({e.strerror})", "check the file's permissions") from e
    return decode_query(data, arg)


def check_query_size(text: str, name: str, capability: str) -> None:
    """Refuse a query longer than ``QUERY_LIMITS[capability]`` characters, naming the limit and the fix."""
    limit = QUERY_LIMITS[capability]
    if len(text) > limit:
        raise InputError(f"query {name}: {len(text):,} characters is more than the {limit:,} one {capability} query "
                         "may have", f"split it into several queries (one ipscope {capability} call takes them all)")
