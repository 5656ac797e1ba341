"""Corpus records for the audit: streamed from JSONL, JSONL.gz or Parquet, checked field by field.

A record that cannot be judged (a malformed JSON line, no id, no valid http(s) URL, a ``text`` that
is not a string) becomes a *rejected* record with its line number and the reason; everything else
is passed on, with the optional fields normalised (``headers`` as a dict with lower-cased names,
whether given as an object or as a list of ``[name, value]`` pairs).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

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

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        f = opener(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") from e
    name = str(path)
    with f:
        try:
            for n, line in enumerate(_lines(f), 1):
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
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # truncated or corrupt .gz: keep what was read
            yield RawRecord(name, -1, b"", None, f"the file could not be read to its end: {e}")


def _lines(f: BinaryIO, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The file's lines without their ``\\n``, read in large chunks (records of web pages are longer
    than the buffer line-by-line iteration reads with, which then copies each line several times)."""
    rest = b""
    while True:
        data = f.read(chunk)
        if not data:
            break
        parts = data.split(b"\n")
        if rest:  # only the line cut at the chunk's edge is joined (joining the whole chunk copied it)
            parts[0] = rest + parts[0]
        rest = parts.pop()
        yield from parts
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

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path}: not a readable Parquet file ({e})", "check the file") from e
    n = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            n += 1
            try:
                raw = orjson.dumps(row, default=str)
            except TypeError as e:
                yield RawRecord(str(path), n, repr(row).encode(), None, f"row cannot be written as JSON: {e}")
                continue
            yield RawRecord(str(path), n, raw, row)


def read_raw(paths: list[Path]) -> Iterator[RawRecord]:
    for p in paths:
        if p.name.lower().endswith(".parquet"):
            yield from _read_parquet(p)
        else:
            yield from _read_jsonl(p)


def _headers(value: Any, notes: list[str]) -> dict[str, str]:
    """Headers as {lower-cased name: value}; repeated names are joined with ", " (RFC 9110 §5.3)."""
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
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        elif not isinstance(v, str):
            v = str(v)
        k = k.strip().lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
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
