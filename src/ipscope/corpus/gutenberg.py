"""Title and author of a plain-text Project Gutenberg eBook, read from its header.

A heuristic, applied to text files only (a JSONL or Parquet record names its own title): a Project Gutenberg
eBook begins with a header of ``Key: value`` lines (``Title:``, ``Author:``, ``Release Date:`` ...), values
continued on indented lines, ended by a line ``*** START OF THE PROJECT GUTENBERG EBOOK ... ***``. Only a
text whose first ``HEAD_CHARS`` characters hold both "Project Gutenberg" and that start line is read, and only
the ``Title`` and ``Author`` lines before the start line are taken, so an ordinary text that happens to have a
line beginning "Title:" gains nothing. Checked on every book of ../shared/data/gutenberg against its
MANIFEST.csv (tests/test_meta.py).
"""

from __future__ import annotations

import re

HEAD_CHARS = 12_000  # the headers of the shared set end within the first 2,500 characters
_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG E-?BOOK", re.I | re.M)
_FIELD = re.compile(r"^(Title|Author):[ \t]*(.*)$", re.I)
MAX_CHARS = 300  # a header value longer than this is not a title or an author (no header at all, then)


def header_meta(text: str) -> dict[str, str]:
    """{"title": ..., "author": ...} from a Project Gutenberg header at the start of ``text`` (either may be
    missing); {} when ``text`` does not begin with such a header."""
    head = text[:HEAD_CHARS]
    start = _START.search(head)
    if start is None or "project gutenberg" not in head[: start.start()].lower():
        return {}
    out: dict[str, str] = {}
    key = None
    for line in head[: start.start()].splitlines():
        m = _FIELD.match(line.strip("\ufeff"))
        if m:
            key = m.group(1).lower()
            if key in out:  # a second Title: line is not this header's
                key = None
                continue
            out[key] = m.group(2).strip()
        elif key is not None and line[:1] in (" ", "\t") and line.strip():
            out[key] = _join(out[key], line.strip())  # a continuation line (a long title, a subtitle)
        else:
            key = None
    out = {k: " ".join(v.split()) for k, v in out.items() if v.strip()}
    if any(len(v) > MAX_CHARS for v in out.values()):
        return {}
    return out


def _join(value: str, more: str) -> str:
    """A value and its continuation line: a wrapped title goes on after a comma or with a lower-case word
    ("Sybil" / "or the Two Nations"), a subtitle after a colon ("Jack Sheppard: A Romance")."""
    if not value:
        return more
    if value[-1] in ",;:-(" or more[:1].islower():
        return f"{value} {more}"
    return f"{value}: {more}"
