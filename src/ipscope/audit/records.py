"""Corpus records for the audit: streamed from JSONL, JSONL.gz or Parquet, checked field by field.

A record that cannot be judged (a malformed JSON line, no id, no valid http(s) URL, a ``text`` that
is not a string) becomes a *rejected* record with its line number and the reason; everything else
is passed on, with the optional fields normalised (``headers`` as a dict with lower-cased names,
whether given as an object or as a list of ``[name, value]`` pairs).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from ..errors import InputError, MissingExtraError

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


@dataclass(slots=True)
class RawRecord:
    """One input record as read: where it came from, its bytes, and the parsed object or the error."""

    source: str  # input file
    line: int  # 1-based line (JSONL) or row (Parquet)
    raw: bytes  # the line as read (no newline); for Parquet the row as JSON
    obj: dict[str, Any] | None
    error: str | None = None


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


def discover(paths: list[str]) -> list[Path]:
    """Input files: the given files, and the corpus files found under given directories."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(SUFFIXES))
            if not found:
                raise InputError(f"{p}: no corpus files (*.jsonl, *.jsonl.gz, *.parquet) in this directory",
                                 "give the corpus files or the directory that holds them")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory", "check the path")
    return out


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    import orjson

    gz = path.name.lower().endswith(".gz")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") from e
    name = str(path)
    n = 0
    with f:
        try:
            for n, line in enumerate(_lines(_gunzip(f) if gz else _chunks(f)), 1):
                if n == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (Windows editors)
                    line = line[3:]
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not line or line.isspace():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    yield RawRecord(name, n, line, None, _json_error(line, e))
                    continue
                if type(obj) is not dict:
                    yield RawRecord(name, n, line, None, f"a JSON {type(obj).__name__}, not an object")
                    continue
                yield RawRecord(name, n, line, obj)
        except (OSError, EOFError, zlib.error) as e:  # truncated or corrupt .gz: every line before the damage is kept
            yield RawRecord(name, -1, b"", None, f"the file could not be read to its end ({e}); the {n:,} lines "
                            "before the damage were read; fix: re-download or re-compress the file")


def _chunks(f: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while data := f.read(size):
        yield data


def _gunzip(f: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file (several members too), yielded as they come, so that everything
    before a damaged or truncated part is passed on before the error is raised (``gzip.GzipFile.read`` loses
    the whole chunk it was decompressing)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    while comp := f.read(size):
        started = True
        while comp:
            out = d.decompress(comp)
            if out:
                yield out
            if d.eof:  # a member ended: the rest is the next member (or trailing zeros, which some tools add)
                comp = d.unused_data
                if comp.strip(b"\0"):
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    comp = b""
            else:
                comp = b""
    if started and not d.eof:
        tail = d.flush()
        if tail:
            yield tail
        raise EOFError("the compressed data ends before its end-of-stream marker (a truncated download?)")


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of the byte stream ``chunks`` without their newline. Files are read in large chunks (records of
    web pages are longer than the buffer line-by-line iteration reads with, which then copies each line several
    times); a line spanning chunks is joined once, so a huge line costs linear time."""
    pending: list[bytes] = []  # the pieces of the line cut at the last chunk's edge
    for data in chunks:
        parts = data.split(b"\n")
        if len(parts) == 1:
            pending.append(data)
            continue
        if pending:
            pending.append(parts[0])
            parts[0] = b"".join(pending)
        pending = [parts.pop()]
        yield from parts
    rest = b"".join(pending)
    if rest:
        yield rest


def _json_error(line: bytes, e: Exception) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"invalid UTF-8 at byte {u.start} of the line; re-encode the file as UTF-8"
    return f"malformed JSON ({e}); fix the line or remove it"


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingExtraError("parquet", "pyarrow") from e
    import orjson

    name = str(path)
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: cannot be read", "check the path and its permissions") from e
        yield RawRecord(name, -1, b"", None, f"not a readable Parquet file ({e}); nothing of it was audited; fix: "
                        "check that the file is Parquet, or give JSONL")
        return
    n = 0
    for g in range(pf.metadata.num_row_groups):  # row group by row group: a damaged one costs only its rows
        rows_in_group = pf.metadata.row_group(g).num_rows
        first = n
        batches = pf.iter_batches(batch_size=4096, row_groups=[g])
        while True:
            try:
                batch = next(batches, None)
                rows = batch.to_pylist() if batch is not None else []
            except Exception as e:  # damaged data (pyarrow raises OSError, ArrowInvalid, ...)
                unread = first + rows_in_group - n
                yield RawRecord(name, -1, b"", None, f"row group {g + 1} (rows {first + 1:,}-"
                                f"{first + rows_in_group:,}) could not be read ({e}); its {unread:,} unread rows were "
                                "not audited, the other row groups were; fix: re-write the file")
                n = first + rows_in_group
                break
            if batch is None:
                break
            for row in rows:
                n += 1
                try:
                    raw = orjson.dumps(row, default=str)
                except TypeError as e:
                    yield RawRecord(name, n, repr(row).encode(), None, f"row cannot be written as JSON: {e}")
                    continue
                yield RawRecord(name, n, raw, row)


def read_raw(paths: list[Path]) -> Iterator[RawRecord]:
    for p in paths:
        if p.name.lower().endswith(".parquet"):
            yield from _read_parquet(p)
        else:
            yield from _read_jsonl(p)


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
                notes.append(f"headers: ignored an entry that is not [name, value] or 'Name: value': {str(h)[:80]!r}")
    else:
        notes.append(f"headers: ignored, a {type(value).__name__} (give an object of name -> value)")
        return {}
    out: dict[str, str] = {}
    for k, v in items:
        if not isinstance(k, str):
            notes.append(f"headers: ignored a non-string name {str(k)[:40]!r}")
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
    notes.append(f"{name}: ignored, a {type(v).__name__} (give a string)")
    return None


def check(r: RawRecord) -> Record | str:
    """The judged record, or the reason it is rejected."""
    from .sites import site_key

    if r.obj is None:
        return r.error or "unreadable record"
    obj = r.obj
    rid = obj.get("id")
    if type(rid) is float:  # orjson reads an integer beyond 64 bits as a float: its digits are already lost
        return ("id is a JSON number that is not an integer of at most 64 bits (a fraction, an exponent or more "
                "digits lose the exact value); give the id as a string")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or (isinstance(rid, str) and not rid.strip()):
        return "no id: every record needs an 'id' (a non-empty string or an integer)"
    url = obj.get("url")
    if not isinstance(url, str) or not url.strip():
        return "no url: every record needs a 'url' (the http(s) address the text was collected from)"
    url = url.strip()
    key = site_key(url)
    if key is None:
        return f"not a valid http(s) URL: {url[:200]!r}"
    text = obj.get("text")
    if not isinstance(text, str):
        return ("no text: every record needs a 'text' string" if text is None
                else f"text is a {type(text).__name__}, not a string")
    notes: list[str] = []
    headers = _headers(obj["headers"], notes) if obj.get("headers") is not None else {}
    return Record(
        source=r.source, line=r.line, raw=r.raw, id=str(rid), url=url, text=text, key=key, headers=headers,
        html=_opt_str(obj, "html", notes), license=_opt_str(obj, "license", notes),
        media_path=_opt_str(obj, "media_path", notes), notes=notes,
    )
