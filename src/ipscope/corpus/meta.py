"""Document metadata as the index keeps it: at most ``META_BYTES`` of JSON a document.

A record's fields besides its id and text (title, author, url, date, licence, ...) are its metadata; a text
file's metadata is its path. An index keeps them so that reports can name a source ("Middlemarch — George
Eliot") rather than a file name, but a record may carry anything (a 1 MB title, a whole HTML page in a field
the text was extracted from), and every source of every span returns its document's metadata: so each
document's is capped. ``fit`` keeps whole the fields that fit, smallest first, cuts a string that does not (its
start kept, ending in "…") and drops what cannot be cut (a number, a list, an object); the caller's account
line names the fields cut and dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

META_BYTES = 4096  # serialised JSON (UTF-8) of one document's metadata
ELLIPSIS = "…"
_MIN_CUT = 16  # a string cut shorter than this many bytes of JSON says nothing: it is dropped
_LISTED = 20  # field names listed in the account; more are counted


def dumps(meta: dict[str, Any]) -> bytes:
    """The compact JSON of ``meta`` (values JSON cannot hold, such as dates from Parquet, as strings)."""
    return orjson.dumps(meta, default=str)


def _size(key: str, value: Any) -> int:
    """Bytes of ``"key":value`` in the JSON object."""
    try:
        return len(dumps({key: value})) - 2
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits from Python code
        return len(dumps({key: str(value)})) - 2


def _cut(value: str, key: str, budget: int) -> str | None:
    """The longest start of ``value`` that, with an ellipsis, serialises (as ``"key":value``) within ``budget``
    bytes; None when too little would be left to say anything."""
    if budget < _MIN_CUT + _size(key, ""):
        return None
    # bisect on the number of characters kept: a character takes 1 to 6 bytes of JSON (multi-byte UTF-8,
    # escapes), so no single guess from the overshoot fits them all (a 3-byte CJK title would shrink to nothing)
    lo, hi = 0, min(len(value), budget)  # value[:lo] + ELLIPSIS fits (or lo == 0); every k > hi does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size(key, value[:mid] + ELLIPSIS) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return value[:lo] + ELLIPSIS if lo > 0 else None


def fit(meta: dict[str, Any], limit: int = META_BYTES) -> tuple[bytes, list[str], list[str]]:
    """(JSON of the kept metadata, names of the fields cut, names of the fields dropped).

    Fields keep their order; when the whole does not fit in ``limit`` bytes, the fields are taken smallest first
    while they fit, then each string field that does not fit is cut to the room left, and the rest dropped."""
    if not meta:
        return b"", [], []
    try:
        whole = dumps(meta)
    except (TypeError, orjson.JSONEncodeError):
        whole = b""
    if whole and len(whole) <= limit:
        return whole, [], []
    sizes = {k: _size(k, v) for k, v in meta.items()}
    room = limit - 2  # the braces
    kept: dict[str, Any] = {}
    cut: list[str] = []
    dropped: list[str] = []
    for k in sorted(sizes, key=lambda k: (sizes[k], k)):
        comma = 1 if kept else 0
        if sizes[k] + comma <= room:
            kept[k] = meta[k]
            room -= sizes[k] + comma
            continue
        v = meta[k]
        s = _cut(v, k, room - comma) if isinstance(v, str) and len(k) <= 256 else None
        if s is None:
            dropped.append(k)
            continue
        kept[k] = s
        cut.append(k)
        room -= _size(k, s) + comma
    data = dumps({k: kept[k] for k in meta if k in kept})
    if len(data) > limit:  # cannot happen (every field was sized); never store more than promised
        return b"", [], list(meta)[:_LISTED]
    return data, _names(cut, meta), _names(dropped, meta)


def _names(names: list[str], meta: dict[str, Any]) -> list[str]:
    """Field names for the account, in the record's order, each at most 80 characters, at most ``_LISTED`` of
    them (then how many more)."""
    order = {str(k): i for i, k in enumerate(meta)}
    names = sorted(names, key=lambda k: order.get(k, 0))
    out = [n if len(n) <= 80 else n[:79] + ELLIPSIS for n in names[:_LISTED]]
    if len(names) > _LISTED:
        out.append(f"... and {len(names) - _LISTED:,} more")
    return out


def loads(data: bytes) -> dict[str, Any]:
    return orjson.loads(data) if data else {}
