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
from .encoding import How, decode

MAX_QUERY_CHARS = 50_000_000  # the longest query any command takes (trace's limit)
# Per capability, the longest query it answers, checked by check_query_size (called by trace() and similar()).
# similar compares every 200-token window of the query in depth, so it takes 1/25 of trace's limit.
QUERY_LIMITS: dict[str, int] = {"trace": MAX_QUERY_CHARS, "similar": MAX_QUERY_CHARS // 25}


@dataclass(frozen=True, slots=True)
class QueryText:
    """A query as read. ``encoding`` is the codec that decoded it and ``how`` what decided it (``given``:
    ``--encoding``; ``bom``; ``utf-8``; ``detected``: see corpus/encoding.py); ``replacements`` counts
    U+FFFD put in for bytes that encoding cannot read. ``source_sha256`` is the SHA-256 of the raw bytes
    when they are not the UTF-8 encoding of ``text`` (another encoding, or undecodable bytes), else None."""

    name: str
    text: str
    encoding: str = "utf-8"
    how: How = "utf-8"
    replacements: int = 0
    source_sha256: str | None = None

    @property
    def detected(self) -> bool:
        """Whether the encoding was guessed (rather than given, marked, or valid UTF-8)."""
        return self.how == "detected"


def decode_query(data: bytes, name: str, encoding: str | None = None) -> QueryText:
    """The text of a query's raw bytes, decoded as corpus text files are (corpus/encoding.py); bytes the
    encoding cannot read become U+FFFD, counted, so one stray byte does not lose a query."""
    try:
        dec = decode(data, encoding, "replace")
    except InputError as e:  # binary data (BinaryInputError), an unknown --encoding
        raise InputError(f"query {name}: {e.message}", e.fix) from None
    text = dec.text  # its length is checked by the capability that answers it (check_query_size)
    raw_sha = None if dec.encoding == "utf-8" and not dec.replacements else hashlib.sha256(data).hexdigest()
    return QueryText(name, text, dec.encoding, dec.how, dec.replacements, raw_sha)


def read_query(arg: str | Path, encoding: str | None = None) -> QueryText:
    """Read one query: a path, or ``-`` for standard input; ``encoding`` overrides detection."""
    arg = str(arg)
    if arg == "-":
        return decode_query(sys.stdin.buffer.read(), "<stdin>", encoding)
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
    return decode_query(data, arg, encoding)


def check_query_size(text: str, name: str, capability: str) -> None:
    """Refuse a query longer than ``QUERY_LIMITS[capability]`` characters, naming the limit and the fix."""
    limit = QUERY_LIMITS[capability]
    if len(text) > limit:
        raise InputError(f"query {name}: {len(text):,} characters is more than the {limit:,} one {capability} query "
                         "may have", f"split it into several queries (one ipscope {capability} call takes them all)")
