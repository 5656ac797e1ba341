"""How reports name a document: "Title — Author (doc id)" where its metadata has a title, else its id."""

from __future__ import annotations

from typing import Any, Iterable

TITLE_CHARS = 120  # a title is data: a long one is shortened for display (the JSON keeps it whole)
# C0 and C1 control characters: a title or id from a crawled corpus may hold terminal escape sequences (ESC [ ...
# recolours, ESC ] ... sets the window title), which the terminal reports would otherwise pass to the terminal
_CONTROLS = {c: " " for c in (*range(0x20), *range(0x7F, 0xA0))}
_ID_CONTROLS = {c: "\ufffd" for c in _CONTROLS}


def _text(value: Any) -> str:
    """A metadata value as one line: a string, or the strings of a list joined ("A, B")."""
    if isinstance(value, str):
        return " ".join(value.translate(_CONTROLS).split())
    if isinstance(value, (list, tuple)):
        return ", ".join(s for s in (_text(v) for v in value if isinstance(v, str)) if s)
    return ""


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def display_name(doc_id: str, meta: dict[str, Any] | None) -> str:
    """"Title — Author (doc id)", "Title (doc id)" without an author, or the id alone without a title."""
    meta = meta or {}
    doc_id = doc_id.translate(_ID_CONTROLS)  # shown, not parsed: the JSON keeps the id exact
    title = _clip(_text(meta.get("title")), TITLE_CHARS)
    if not title:
        return doc_id
    author = _clip(_text(meta.get("author", meta.get("authors"))), TITLE_CHARS // 2)
    return f"{title} — {author} ({doc_id})" if author else f"{title} ({doc_id})"


def names_by_id(pairs: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """doc id -> display name, from (doc id, meta) pairs (e.g. a trace report's sources)."""
    out: dict[str, str] = {}
    for doc_id, meta in pairs:
        if doc_id not in out or (meta and out[doc_id] == doc_id):
            out[doc_id] = display_name(doc_id, meta)
    return out
