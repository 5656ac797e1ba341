"""Corpus records for the audit: streamed from JSONL, JSONL.gz or Parquet, checked field by field.

The files are found and read by the corpus reader stack (``corpus/records.py``, which ``ipscope index`` uses
too). A record that cannot be judged (a malformed JSON line, no valid http(s) URL, a ``text`` that is not a
string) becomes a *rejected* record with its line number and the reason; a record without an ``id`` gets
``<path relative to the input>#<line>`` (``#<row>`` for Parquet), as the index gives it, and its manifest line
says ``"id_assigned": true``. Everything else is passed on, with the optional fields normalised (``headers`` as
a dict with lower-cased names, whether given as an object or as a list of ``[name, value]`` pairs; ``source_kind``
as one of ``summary.SOURCE_KINDS``, an unknown one rejecting the record, since the public summary's sections rest
on it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..corpus.records import FileKind, RawRecord, discover as _discover, jsonl_records, parquet_file, \
    parquet_records, record_id
from ..errors import InputError
from ..messages import Message, error, error_messages
from .summary import SOURCE_KINDS, SourceKind, kinds_help, source_kind

__all__ = ["RawRecord", "Record", "check", "discover", "read_raw", "read_units"]

Input = tuple[Path, FileKind, str]  # (path, kind, name): what ``discover`` finds


@dataclass(slots=True)
class Record:
    """A record that can be judged."""

    source: str
    line: int
    raw: bytes
    id: str
    url: str
    text: str
    key: str  # the site (sites.site_key of the URL)
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None
    license: str | None = None
    media_path: str | None = None
    notes: list[str] = field(default_factory=list)  # fields ignored, with why
    id_assigned: bool = False  # the record had no id: ``<name>#<line>`` was given
    source_kind: SourceKind | None = None  # the record's own ``source_kind`` field (canonical), if it has one


def discover(paths: Iterable[str | Path]) -> list[Input]:
    """Input files: the given files (read as JSONL unless named .parquet; .gz: gzipped), and the corpus files
    (*.jsonl, *.jsonl.gz, *.parquet) found under given directories."""
    return _discover(paths, records_only=True)


def _read_parquet(path: Path, name: str, row_groups: tuple[int, ...] | None = None) -> Iterator[RawRecord]:
    try:
        pf = parquet_file(path)
    except InputError as e:
        if not os.access(path, os.R_OK):
            raise error(InputError, "audit.records.unreadable", path=str(path)) from e
        coded = error_messages(e)
        detail = coded[0] if coded else e.message
        yield RawRecord(str(path), -1, b"", None, Message("audit.rejected.parquet", detail=detail), "unreadable", name)
        return
    yield from parquet_records(pf, str(path), row_groups=row_groups, label=name, damage_line=-1)


def read_raw(inputs: list[Input]) -> Iterator[RawRecord]:
    """The records of every input, in order; damage in a file is a record at line -1 (a place in the file)."""
    for p, kind, name in inputs:
        if kind == "parquet":
            yield from _read_parquet(p, name)
        else:
            yield from jsonl_records(p, label=name, damage_line=-1)


def read_units(units: Iterable[Any]) -> Iterator[RawRecord]:
    """The records of pieces of the inputs (``corpus.readers.Unit``: a byte range of a JSONL file cut at line ends
    with the number of its first line, a whole ``.gz`` file, some row groups of a Parquet file), in order; each
    record has the file, line and id it has when its whole file is read (``ipscope audit --jobs``)."""
    for u in units:
        if u.kind == "parquet":
            # no row groups: a file whose footer could not be read, which _read_parquet reports as one place
            yield from _read_parquet(Path(u.path), u.name, u.row_groups or None)
        elif u.kind == "jsonl":
            yield from jsonl_records(u.path, u.start, u.end, u.first_line, label=u.name, damage_line=-1)
        else:
            yield from jsonl_records(u.path, label=u.name, damage_line=-1)


def record_kind(obj: dict[str, Any]) -> SourceKind | str | None:
    """The canonical ``source_kind`` of a record object, None when it has none (absent or null), or the reason
    the record is rejected: a value that names no kind."""
    v = obj.get("source_kind")
    if v is None:
        return None
    k = source_kind(v)
    if k is None:
        return Message("audit.rejected.source_kind", value=str(v)[:80], choices=kinds_help())
    return k


# headers whose lines must stay apart: an X-Robots-Tag line that names an agent covers that line only
# (Google's rule), so joining "googlebot: noindex" and "noai" with ", " would give the noai to googlebot
_JOIN = {"x-robots-tag": "\n"}


def _headers(value: Any, notes: list[str]) -> dict[str, str]:
    """Headers as {lower-cased name: value}; repeated names are joined with ", " (RFC 9110 §5.3), those of
    ``_JOIN`` with a newline (one header line per line). A null value is a header the record lacks."""
    if type(value) is dict:  # the common case, done in one pass (this runs for every record)
        try:
            fast = {k.strip().lower(): v for k, v in value.items()}
        except AttributeError:  # a name that is not a string
            fast = None
        if fast is not None and len(fast) == len(value) and all(type(v) is str for v in fast.values()):
            return fast
    items: list[tuple[Any, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for h in value:
            if isinstance(h, (list, tuple)) and len(h) == 2:
                items.append((h[0], h[1]))
            elif isinstance(h, str) and ":" in h:  # "Name: value" lines
                k, _, v = h.partition(":")
                items.append((k, v.strip()))
            else:
                notes.append(Message("audit.note.header_entry", entry=str(h)[:80]))
    else:
        notes.append(Message("audit.note.headers_type", type=type(value).__name__))
        return {}
    out: dict[str, str] = {}
    for k, v in items:
        if not isinstance(k, str):
            notes.append(Message("audit.note.header_name", name=str(k)[:40]))
            continue
        if isinstance(v, list):  # the header's lines
            v = _JOIN.get(k.strip().lower(), ", ").join(str(x) for x in v if x is not None)
        elif v is None:  # a missing header (Parquet structs hold null for every header a row lacks)
            continue
        elif not isinstance(v, str):
            v = str(v)
        k = k.strip().lower()
        if k in out:
            out[k] = f"{out[k]}{_JOIN.get(k, ', ')}{v}"
        else:
            out[k] = v
    return out


def _opt_str(obj: dict[str, Any], name: str, notes: list[str]) -> str | None:
    v = obj.get(name)
    if v is None or isinstance(v, str):
        return v
    notes.append(Message("audit.note.field_type", name=name, type=type(v).__name__))
    return None


def check(r: RawRecord) -> Record | str:
    """The judged record, or the reason it is rejected."""
    from .sites import site_key

    if r.obj is None:
        return r.error or Message("audit.rejected.unreadable")
    obj = r.obj
    got = record_id(obj, "id", r.name, r.line)
    if isinstance(got, str):
        return got
    rid, assigned = got
    url = obj.get("url")
    if not isinstance(url, str) or not url.strip():
        return Message("audit.rejected.no_url")
    url = url.strip()
    key = site_key(url)
    if key is None:
        return Message("audit.rejected.bad_url", url=url[:200])
    text = obj.get("text")
    if not isinstance(text, str):
        return (Message("audit.rejected.no_text") if text is None
                else Message("audit.rejected.text_type", type=type(text).__name__))
    kind = record_kind(obj) if "source_kind" in obj else None
    if kind is not None and kind not in _KINDS:
        return kind  # the reason
    notes: list[str] = []
    headers = _headers(obj["headers"], notes) if obj.get("headers") is not None else {}
    return Record(
        source=r.source, line=r.line, raw=r.raw, id=rid, url=url, text=text, key=key, headers=headers,
        html=_opt_str(obj, "html", notes), license=_opt_str(obj, "license", notes),
        media_path=_opt_str(obj, "media_path", notes), notes=notes, id_assigned=assigned,
        source_kind=kind,  # type: ignore[arg-type]
    )


_KINDS = frozenset(SOURCE_KINDS)
