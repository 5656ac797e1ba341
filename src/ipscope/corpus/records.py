"""Record files (JSONL, JSONL.gz, Parquet): discovery, streaming, damage handling and the id rule.

The one implementation that ``ipscope index`` (through ``corpus/readers.py``) and ``ipscope audit``
(``audit/records.py``) read records with. It yields ``RawRecord``s: where a record came from, its bytes and the
parsed object, or why it could not be parsed. What a record must hold is each caller's business (the index
needs a text, the audit also a URL); the id rule is shared (``record_id``):

* a record with an ``id`` (a non-empty string or an integer) keeps it;
* a record without one (the field absent or null, as in many Hugging Face exports) gets
  ``<path relative to the input>#<line>`` (JSONL) or ``#<row>`` (Parquet), and the caller's account says the id
  was assigned.

Damage never loses what came before it: a truncated or corrupt ``.gz`` yields every line before the damage, then
one ``unreadable`` record; a Parquet row group that cannot be read costs only its rows.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Literal

import orjson

from ..errors import InputError, MissingExtraError
from ..messages import Message, json_error

RecordKind = Literal["jsonl", "jsonl.gz", "parquet"]
FileKind = Literal["text", "jsonl", "jsonl.gz", "parquet"]
TEXT_SUFFIXES = (".txt", ".md")
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
ALL_SUFFIXES = TEXT_SUFFIXES + RECORD_SUFFIXES
RECORD_SUFFIX_KINDS = ("jsonl", "jsonl.gz", "parquet")
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class RawRecord:
    """One input record as read: where it came from, its bytes, and the parsed object or the error.

    ``code`` names the error for counting: ``malformed-json``, ``invalid-utf8``, or ``unreadable`` (damage in the
    file: nothing after ``line`` - 1 could be read; for Parquet, a row group's rows)."""

    source: str  # input file
    line: int  # 1-based line (JSONL) or row (Parquet)
    raw: bytes  # the line as read (no newline); for Parquet the row as JSON (when asked for)
    obj: dict[str, Any] | None
    error: str | None = None
    code: str | None = None
    name: str = ""  # the input's name (``discover``), from which an id is assigned to a record without one


# ---------------------------------------------------------------------------------------------- discovery


def kind_of(path: Path) -> FileKind | None:
    name = path.name.lower()
    if name.endswith(".json"):
        return "jsonl" if is_json_lines(path) else None
    if name.endswith(".jsonl.gz"):
        return "jsonl.gz"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def is_json_lines(path: Path, probe: int = 16 << 20) -> bool:
    """Whether a ``.json`` file holds JSON Lines (what Hugging Face's ``Dataset.to_json`` writes by default):
    its first line is one JSON object. A JSON document (an array, a pretty-printed object such as a dataset's
    ``dataset_info.json``) is not."""
    try:
        with open(path, "rb") as f:
            first = f.readline(probe)
    except OSError:
        return False
    first = first.removeprefix(UTF8_BOM).strip()
    if len(first) >= probe - 2:  # a very long first line: an object that starts like a record
        return first.startswith(b'{"')
    try:
        return type(orjson.loads(first)) is dict
    except orjson.JSONDecodeError:
        return False


def json_document_error(path: Path) -> InputError:
    return InputError(f"{path}: a JSON document (an array or a pretty-printed object), not JSON Lines",
                      f"give one JSON object per line, e.g. jq -c '.[]' {path} > {path.with_suffix('.jsonl')}")


def discover(sources: Iterable[str | Path], records_only: bool = False) -> list[tuple[Path, FileKind, str]]:
    """(path, kind, name) of every input file, in a stable order. ``name`` is the path relative to the directory
    it was found under, or the file name of a file given directly (text ids and assigned record ids use it).

    A file given directly is read by its suffix; without a known one, as text (``records_only``: as JSONL, or
    JSONL.gz when it ends in ``.gz``). Directories are searched recursively for the known suffixes (``records_only``:
    record files only). Raises InputError for a path that does not exist or a directory without inputs."""
    suffixes = RECORD_SUFFIXES if records_only else ALL_SUFFIXES
    found: list[tuple[Path, FileKind, str]] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            # .json files count when they hold JSON Lines (Hugging Face exports); other JSON (dataset_info.json) is
            # not a corpus file
            files = sorted(f for f in p.rglob("*") if f.is_file() and (
                f.name.lower().endswith(suffixes) or (f.name.lower().endswith(".json") and is_json_lines(f))))
            if not files:
                raise InputError(
                    f"{p}: no input files found (looked for {', '.join('*' + s for s in suffixes)}, "
                    "and *.json holding JSON Lines)",
                    "point at a directory holding such files, or give the files directly",
                )
            for f in files:
                found.append((f, kind_of(f) or "text", f.relative_to(p).as_posix()))
        elif p.is_file():
            kind = kind_of(p)
            if kind is None and p.name.lower().endswith(".json"):
                raise json_document_error(p)
            if records_only and kind not in RECORD_SUFFIX_KINDS:
                kind = "jsonl.gz" if p.name.lower().endswith(".gz") else "jsonl"
            found.append((p, kind or "text", p.name))
        elif p.exists():
            raise InputError(f"{p}: not a regular file or directory", "give text, JSONL or Parquet files")
        else:
            raise InputError(f"{p}: no such file or directory", "check the path")
    # Two different inputs with one name (en/data.jsonl and fr/data.jsonl given directly, or books/1.txt under
    # two directories) would give their documents the same ids, and every one of the second would be skipped as a
    # duplicate: such inputs are named by their path as given instead (a file given twice stays one name).
    paths_of: dict[str, set[str]] = {}
    for path, _kind, name in found:
        paths_of.setdefault(name, set()).add(os.path.realpath(path))  # one file however it was spelt
    if any(len(v) > 1 for v in paths_of.values()):
        found = [(path, kind, path.as_posix() if len(paths_of[name]) > 1 else name) for path, kind, name in found]
    return found


# ---------------------------------------------------------------------------------------------- the id rule


def record_id(obj: dict[str, Any], id_field: str, name: str, line: int) -> tuple[str, bool] | str:
    """(id, whether it was assigned) of a record, or why its id cannot be used (the fix included).

    ``name`` is the input's relative name and ``line`` the record's line (JSONL) or row (Parquet) number."""
    raw = obj.get(id_field)
    if type(raw) is str and raw and not raw.isspace() and raw.isascii():  # the common case, checked first
        return raw, False
    if raw is None:  # no id: the record's place is one (unique within a build unless a record claims it too)
        return f"{name}#{line}", True
    if type(raw) is float:  # orjson reads an integer beyond 64 bits as a float: its digits are already lost
        return Message("corpus.id.float", field=id_field)
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return Message("corpus.id.type", field=id_field, type=type(raw).__name__)
    doc_id = str(raw)
    if not doc_id.strip():
        return Message("corpus.id.empty", field=id_field)
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        return Message("corpus.id.surrogate", field=id_field, id=doc_id)
    return doc_id, False


# ---------------------------------------------------------------------------------------------- JSONL


def chunks(f: BinaryIO, size: int = 1 << 20, limit: int | None = None) -> Iterator[bytes]:
    """The bytes of ``f`` from where it stands, in chunks of ``size``; at most ``limit`` bytes when given."""
    if limit is None:
        while data := f.read(size):
            yield data
        return
    while limit > 0 and (data := f.read(min(size, limit))):
        limit -= len(data)
        yield data


def gunzip(f: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
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


def lines(data: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of the byte stream ``data`` without their newline. Files are read in large chunks (records of
    web pages are longer than the buffer line-by-line iteration reads with, which then copies each line several
    times); a line spanning chunks is joined once, so a huge line costs linear time."""
    pending: list[bytes] = []  # the pieces of the line cut at the last chunk's edge
    for chunk in data:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(parts[0])
            parts[0] = b"".join(pending)
        pending = [parts.pop()]
        yield from parts
    rest = b"".join(pending)
    if rest:
        yield rest


def _slow_parse(line: bytes, name: str, n: int, replace: bool, utf8_fix: str, label: str) -> RawRecord:
    """The record of a line orjson refused: decoded with U+FFFD (``replace``), or what is wrong with it, the
    encoding or where the JSON breaks."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError as e:
        if not replace:
            return RawRecord(name, n, line, None, Message("corpus.line.not_utf8", byte=e.start, fix=utf8_fix),
                             "invalid-utf8", label)
        s = line.decode("utf-8", errors="replace")
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        return RawRecord(name, n, line, None, Message("corpus.line.malformed_json", error=json_error(e.msg), column=e.colno),
                         "malformed-json", label)
    except (ValueError, RecursionError) as e:  # e.g. a 5,000-digit number, nesting too deep
        return RawRecord(name, n, line, None, Message("corpus.line.unreadable_json", error=str(e)[:120]),
                         "malformed-json", label)
    return _object(obj, line, name, n, label)


def _object(obj: Any, line: bytes, name: str, n: int, label: str) -> RawRecord:
    if type(obj) is not dict:
        return RawRecord(name, n, line, None, Message("corpus.line.not_object", type=_json_type(obj)),
                         "malformed-json", label)
    return RawRecord(name, n, line, obj, None, None, label)


def _json_type(obj: Any) -> str:
    return {list: "list", str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}.get(
        type(obj), type(obj).__name__)


def jsonl_records(path: str | Path, start: int = 0, end: int | None = None, first_line: int = 1,
                  encoding_errors: str = "skip", utf8_fix: str = Message("corpus.fix.reencode"),
                  label: str = "", damage_line: int | None = None) -> Iterator[RawRecord]:
    """The records of a JSONL file, or of its byte range [start, end) that begins at line ``first_line`` (the
    index reads large files in ranges cut at line ends, in parallel); a ``.gz`` file whole. Blank lines are not
    records. A line that is not valid UTF-8 is an ``invalid-utf8`` record (``encoding_errors="replace"``: read
    with U+FFFD). ``label`` is the input's name (``discover``; default the file name). Damage in a ``.gz`` is
    an ``unreadable`` record at the line after the last one read, or at ``damage_line`` when given (the audit
    says -1: a place in the file, not a record). Raises InputError when the file cannot be opened."""
    name = str(path)
    label = label or Path(path).name
    gz = name.lower().endswith(".gz")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") from e
    replace = encoding_errors == "replace"
    loads = orjson.loads
    n = first_line - 1
    with f:
        if gz:
            data: Iterator[bytes] = gunzip(f)
        else:
            if start:
                f.seek(start)
            data = chunks(f, limit=None if end is None else end - start)
        try:
            for n, line in enumerate(lines(data), first_line):
                if line.endswith(b"\r"):
                    line = line[:-1]
                if n == 1 and line.startswith(UTF8_BOM):  # a UTF-8 byte order mark (Windows editors)
                    line = line[3:]
                if not line or line.isspace():
                    continue
                try:
                    obj = loads(line)
                except orjson.JSONDecodeError:
                    yield _slow_parse(line, name, n, replace, utf8_fix, label)
                    continue
                if type(obj) is not dict:
                    yield _object(obj, line, name, n, label)
                    continue
                yield RawRecord(name, n, line, obj, None, None, label)
        except (OSError, EOFError, zlib.error) as e:  # truncated or corrupt .gz: every line before the damage is kept
            at = n + 1 if damage_line is None else damage_line
            yield RawRecord(name, at, b"", None, Message("corpus.gzip.damaged", line=n, error=str(e)), "unreadable",
                            label)


# ---------------------------------------------------------------------------------------------- Parquet


def parquet_file(path: str | Path) -> Any:
    """The opened ``pyarrow.parquet.ParquetFile``; raises MissingExtraError without pyarrow and InputError for a
    file that is not Parquet."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtraError("parquet", "pyarrow") from e
    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path}: not a readable Parquet file ({e})", "check the file, or convert it to JSONL") from e


def parquet_records(pf: Any, name: str, row_groups: Iterable[int] | None = None, raw: bool = True,
                    label: str = "", damage_line: int | None = None) -> Iterator[RawRecord]:
    """The rows of the opened Parquet file ``pf`` (of ``row_groups``, default all), numbered from 1 across the
    whole file; ``raw``: with each row as JSON bytes (the audit writes records out as read). A row group that
    cannot be read is one ``unreadable`` record (at its first unread row, or ``damage_line``); the other row
    groups are read. ``name`` is the file's path, ``label`` the input's name (``discover``; default the file
    name)."""
    label = label or Path(name).name
    meta = pf.metadata
    groups = list(range(meta.num_row_groups)) if row_groups is None else list(row_groups)
    starts = [0]
    for g in range(meta.num_row_groups):
        starts.append(starts[-1] + meta.row_group(g).num_rows)
    dumps = orjson.dumps
    for g in groups:
        first = n = starts[g]
        rows_in_group = starts[g + 1] - first
        batches = pf.iter_batches(batch_size=4096, row_groups=[g])
        while True:
            try:
                batch = next(batches, None)
                rows = batch.to_pylist() if batch is not None else []
            except Exception as e:  # damaged data (pyarrow raises OSError, ArrowInvalid, ...)
                unread = first + rows_in_group - n
                at = n + 1 if damage_line is None else damage_line
                yield RawRecord(name, at, b"", None, Message("corpus.parquet.row_group", group=g + 1, first=first + 1,
                                                             last=first + rows_in_group, error=str(e), unread=unread),
                                "unreadable", label)
                break
            if batch is None:
                break
            for row in rows:
                n += 1
                if not raw:
                    yield RawRecord(name, n, b"", row, None, None, label)
                    continue
                try:
                    data = dumps(row, default=str)
                except TypeError as e:
                    yield RawRecord(name, n, repr(row).encode(), None, Message("corpus.parquet.row_json", error=str(e)),
                                    "malformed-json", label)
                    continue
                yield RawRecord(name, n, data, row, None, None, label)
