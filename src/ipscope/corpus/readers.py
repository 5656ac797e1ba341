"""Readers: files and directories -> ``Document`` (or ``Skipped`` with a reason).

Inputs are first cut into *units* (a text file, a byte range of a JSONL file, a gzipped
JSONL file, some row groups of a Parquet file) without reading their contents, so index
tasks can be handed to worker processes as paths. ``read_unit`` then streams one unit.

Document ids: a text file given directly -> its file name; a file found under a given
directory -> its path relative to that directory; JSONL/Parquet -> the ``id`` field
(renamed with ``id_field``).
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

from ..errors import InputError, MissingExtraError
from ..types import Document, Skipped
from .encoding import (BINARY_PROBE, C1_BYTES, SAMPLE_BYTES, BinaryInputError, Counted, Errors, How, UndecodableError,
                       check_encoding, choose, decode, handler, mostly_utf8, sniff, undecodable)

TEXT_SUFFIXES = (".txt", ".md")
ALL_SUFFIXES = (".txt", ".md", ".jsonl", ".jsonl.gz", ".parquet")
SEGMENT_CHARS = 32 << 20  # text files larger than this are read and indexed in parts

UnitKind = Literal["text", "jsonl", "jsonl.gz", "parquet"]
EncodingErrors = Literal["skip", "replace"]


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of input a worker reads on its own."""

    kind: UnitKind
    path: str
    size: int  # bytes this unit covers (for planning and progress)
    doc_id: str = ""  # text files
    start: int = 0  # jsonl: byte range [start, end)
    end: int = 0
    first_line: int = 1  # jsonl: line number of the byte at ``start``
    row_groups: tuple[int, ...] = ()  # parquet


@dataclass(frozen=True, slots=True)
class ReadOptions:
    id_field: str = "id"
    text_field: str = "text"
    encoding_errors: EncodingErrors = "skip"  # bytes even the decided (or given) encoding cannot read
    segment_chars: int = SEGMENT_CHARS
    encoding: str | None = None  # text files: this encoding instead of the decided one (--encoding)


def _kind_of(path: Path) -> UnitKind | None:
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return "jsonl.gz"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def discover(sources: list[str | Path]) -> list[tuple[Path, UnitKind, str]]:
    """(path, kind, id for text files) for every input file, in a stable order.

    Raises InputError for a path that does not exist or a directory without inputs."""
    found: list[tuple[Path, UnitKind, str]] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and _kind_of(f) is not None)
            if not files:
                raise InputError(
                    f"{p}: no input files found (looked for {', '.join('*' + s for s in ALL_SUFFIXES)})",
                    "point at a directory holding such files, or give the files directly",
                )
            for f in files:
                found.append((f, _kind_of(f) or "text", f.relative_to(p).as_posix()))
        elif p.is_file():
            # a file given directly is read as plain text unless its suffix says otherwise
            found.append((p, _kind_of(p) or "text", p.name))
        elif p.exists():
            raise InputError(f"{p}: not a regular file or directory", "give text, JSONL or Parquet files")
        else:
            raise InputError(f"{p}: no such file or directory", "check the path")
    return found


def _jsonl_ranges(path: Path, size: int, target: int) -> Iterator[tuple[int, int, int]]:
    """Split a JSONL file into byte ranges of about ``target`` bytes at line ends, with the
    line number each range starts at."""
    if size <= target:
        yield 0, size, 1
        return
    import numpy as np

    start, line = 0, 1
    buf = bytearray(16 << 20)  # one buffer, reused: fresh 16 MiB reads cost more than counting their lines
    view = np.frombuffer(buf, np.uint8)
    eq = np.empty(len(buf), bool)
    with open(path, "rb") as f:
        while start < size:
            cut = min(start + target, size)
            if cut < size:
                f.seek(cut)
                rest = f.readline()
                cut += len(rest)
            f.seek(start)
            # count lines in [start, cut) in chunks to keep memory flat (numpy counts ~5x faster than bytes.count)
            newlines, pos = 0, start
            while pos < cut:
                k = f.readinto(memoryview(buf)[: min(len(buf), cut - pos)])
                if not k:
                    break
                newlines += int(np.count_nonzero(np.equal(view[:k], 10, out=eq[:k])))
                pos += k
            yield start, cut, line
            line += newlines
            start = cut


def plan_units(sources: list[str | Path], target_bytes: int) -> list[Unit]:
    units: list[Unit] = []
    for path, kind, doc_id in discover(sources):
        size = path.stat().st_size
        if kind == "text":
            units.append(Unit("text", str(path), size, doc_id=doc_id))
        elif kind == "jsonl":
            for a, b, line in _jsonl_ranges(path, size, target_bytes):
                units.append(Unit("jsonl", str(path), b - a, start=a, end=b, first_line=line))
        elif kind == "jsonl.gz":
            units.append(Unit("jsonl.gz", str(path), size))
        else:
            units.extend(_parquet_units(path, size, target_bytes))
    return units


def _parquet_units(path: Path, size: int, target: int) -> list[Unit]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtraError("parquet", "pyarrow") from e
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({e})", "check the file or convert it to JSONL") from e
    units, group, acc = [], [], 0
    for i in range(meta.num_row_groups):
        group.append(i)
        acc += meta.row_group(i).total_byte_size
        if acc >= target:
            units.append(Unit("parquet", str(path), acc, row_groups=tuple(group)))
            group, acc = [], 0
    if group or not units:
        units.append(Unit("parquet", str(path), max(acc, size if not units else acc), row_groups=tuple(group)))
    return units


# ---------------------------------------------------------------------------- reading


def read_unit(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    if unit.kind == "text":
        yield from _read_text(unit, opts)
    elif unit.kind == "jsonl":
        yield from _read_jsonl_range(unit, opts)
    elif unit.kind == "jsonl.gz":
        yield from _read_jsonl_gz(unit, opts)
    else:
        yield from _read_parquet(unit, opts)


def _read_text(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    """A text file in any encoding (corpus/encoding.py decides which); the account line of the
    document says which it was and how that was decided."""
    where = unit.path
    errors: Errors = "strict" if opts.encoding_errors == "skip" else "replace"
    try:
        f = open(unit.path, "rb")
    except OSError as e:
        yield Skipped(where, "unreadable", f"cannot read file: {e.strerror}", unit.doc_id)
        return
    with f:
        try:
            if unit.size <= opts.segment_chars:
                dec = decode(f.read(), opts.encoding, errors)
                yield Document(unit.doc_id, dec.text, where, encoding=_account_fields(dec.encoding, dec.how,
                                                                                  dec.replacements))
                return
            # a large file: decide on a sample, then decode in parts cut at whitespace
            name, how = _decide_large(f, unit, opts.encoding, errors)
            yield from _segments(f, unit, opts, name, how, errors)
        except BinaryInputError as e:
            yield Skipped(where, "binary", f"{e.message}; only text is indexed — remove it or give text files",
                          unit.doc_id)
        except UndecodableError as e:
            code = "invalid-utf8" if e.encoding == "utf-8" else "undecodable"
            yield Skipped(where, code, f"{where}: {e.message}; {e.fix}", unit.doc_id)


def _account_fields(name: str, how: str, replacements: int) -> dict[str, object]:
    out: dict[str, object] = {"encoding": name, "encoding_how": how}
    if replacements:
        out["replacements"] = replacements
    return out


def _decide_large(f: BinaryIO, unit: Unit, given: str | None, errors: Errors) -> tuple[str, How]:
    """The encoding of a file too large to read whole: given, marked, UTF-16/32 by its zeros, UTF-8
    if every byte is, else detected on a sample around the first byte that is not UTF-8, the first
    candidate that decodes the whole file (a streaming pass). Raises as ``decode`` does."""
    if given is not None:
        name: str = check_encoding(given)
        how: How = "given"
    else:
        head = f.read(BINARY_PROBE)
        found = sniff(head)
        if found is not None:
            name, how = found
        else:
            if b"\x00" in head:
                raise BinaryInputError("binary data (NUL bytes), not text", "give a text file")
            bad = _first_error(f, "utf-8")
            if bad is None:
                return "utf-8", "utf-8"  # validated already: every byte is UTF-8
            else:
                f.seek(max(0, bad - 1024))
                sample = f.read(SAMPLE_BYTES)
                if mostly_utf8(sample):
                    name, how = "utf-8", "utf-8"
                else:
                    family = choose(sample)[0]  # the first guess and its supersets (see encoding.decode)
                    if family[0] == "iso8859-1" and _has_c1(f):
                        family = ["cp1252"]  # as encoding.decode: bytes 0x80-0x9F beyond the sample
                    for cand in family:
                        if _first_error(f, cand) is None:
                            return cand, "detected"
                    name, how = family[0], "detected"
    if errors == "strict":
        bad = _first_error(f, name)
        if bad is not None:
            raise undecodable(name, how, bad)
    return name, how


def _has_c1(f: BinaryIO) -> bool:
    f.seek(0)
    while chunk := f.read(16 << 20):
        if C1_BYTES.search(chunk):
            return True
    return False


def _first_error(f: BinaryIO, codec: str) -> int | None:
    """The byte offset of the first byte ``codec`` cannot decode in the whole file, or None."""
    f.seek(0)
    dec = codecs.getincrementaldecoder(codec)("strict")
    pos = 0
    while True:
        chunk = f.read(16 << 20)
        # the error's offset counts from the bytes the decoder held back from the chunk before (a
        # character cut at the chunk's end), then this chunk
        held = len(dec.getstate()[0])
        try:
            dec.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            return max(0, pos + e.start - held)
        if not chunk:
            return None
        pos += len(chunk)


def _segments(f: BinaryIO, unit: Unit, opts: ReadOptions, name: str, how: How, errors: Errors) -> Iterator[Document]:
    f.seek(0)
    dec = codecs.getincrementaldecoder(name)(handler(errors))
    carry = ""
    offset = 0
    first = True
    replaced = 0

    def part(text: str) -> Document:
        # the first part carries the encoding; replacements go with the part decoded with them (the
        # account line of the whole document sums them)
        nonlocal first, replaced
        fields: dict[str, object] = (_account_fields(name, how, replaced) if first
                                     else {"replacements": replaced} if replaced else {})
        first, replaced = False, 0
        return Document(unit.doc_id, text, unit.path, meta={"segmented": True}, offset=offset, encoding=fields)

    while True:
        chunk = f.read(opts.segment_chars)
        with Counted() as c:
            text = carry + dec.decode(chunk, final=not chunk)
        replaced += c.n
        if not chunk:
            if text:
                yield part(text)
            return
        # cut at the last space or newline, so no token is split; a part may then be empty
        # (the text carries over); only a stretch with no whitespace at all is cut anywhere
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
        if cut < 0 and len(text) > 4 * opts.segment_chars:
            cut = len(text)
        cut = max(cut, 0)
        piece, carry = text[:cut], text[cut:]
        if piece:
            yield part(piece)
            offset += len(piece)


def _record(obj: object, where: str, opts: ReadOptions) -> Document | Skipped:
    if not isinstance(obj, dict):
        return Skipped(where, "malformed-json", f"expected a JSON object, got {type(obj).__name__}; each line must be one object")
    raw_id = obj.get(opts.id_field)
    if raw_id is None:
        return Skipped(where, "missing-id", f"no {opts.id_field!r} field; add one, or name the id field with --id-field")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        return Skipped(where, "bad-id", f"{opts.id_field!r} must be a string or an integer, got {type(raw_id).__name__}")
    doc_id = str(raw_id)
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        return Skipped(where, "bad-id", f"{opts.id_field!r} holds an unpaired surrogate ({doc_id!a}); "
                       "ids must be valid Unicode")
    if not doc_id.strip():
        return Skipped(where, "bad-id", f"{opts.id_field!r} is empty; give every record a unique id")
    text = obj.get(opts.text_field)
    if text is None:
        return Skipped(where, "missing-text", f"no {opts.text_field!r} field; add one, or name the text field with --text-field", doc_id)
    if not isinstance(text, str):
        return Skipped(where, "bad-text", f"{opts.text_field!r} must be a string, got {type(text).__name__}", doc_id)
    return Document(doc_id, text, where)


try:  # orjson parses JSONL about 3x faster; the standard library is the fallback
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = json.loads


def _parse_line(raw: bytes, where: str, opts: ReadOptions) -> Document | Skipped | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a byte-order mark (usually on the first line) is not JSON
    if not raw.strip():
        return None  # blank lines are allowed and not records
    try:
        obj = _fast_loads(raw)  # validates UTF-8 too
    except ValueError:
        # the slow path says what is wrong: the encoding, or where the JSON breaks
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if opts.encoding_errors == "skip":
                return Skipped(where, "invalid-utf8", f"invalid UTF-8 at byte {e.start} of the line; "
                               "fix the encoding or pass --encoding-errors replace")
            s = raw.decode("utf-8", errors="replace")
        try:
            obj = json.loads(s.rstrip("\r\n"))  # stripped, so an error's column is on this line
        except json.JSONDecodeError as e:
            return Skipped(where, "malformed-json", f"malformed JSON ({e.msg} at column {e.colno}); fix or remove the line")
        except (ValueError, RecursionError) as e:  # e.g. a 5,000-digit number, nesting too deep
            return Skipped(where, "malformed-json", f"unreadable JSON ({str(e)[:120]}); fix or remove the line")
    return _record(obj, where, opts)


def _read_jsonl_range(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    try:
        f = open(unit.path, "rb")
    except OSError as e:
        yield Skipped(unit.path, "unreadable", f"cannot read file: {e.strerror}")
        return
    with f:
        f.seek(unit.start)
        pos, line = unit.start, unit.first_line
        while pos < unit.end:
            raw = f.readline()
            if not raw:
                break
            pos += len(raw)
            rec = _parse_line(raw, f"{unit.path}:{line}", opts)
            line += 1
            if rec is not None:
                yield rec


def _read_jsonl_gz(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    line = 0
    try:
        with gzip.open(unit.path, "rb") as f:
            for raw in f:
                line += 1
                rec = _parse_line(raw, f"{unit.path}:{line}", opts)
                if rec is not None:
                    yield rec
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        yield Skipped(
            f"{unit.path}:{line + 1}", "unreadable",
            f"gzip stream unreadable after line {line} ({e}); the records before it were read — re-create the file",
        )


def _read_parquet(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover
        raise MissingExtraError("parquet", "pyarrow") from e
    pf = pq.ParquetFile(unit.path)
    names = pf.schema_arrow.names
    for col in (opts.id_field, opts.text_field):
        if col not in names:
            yield Skipped(unit.path, "missing-id" if col == opts.id_field else "missing-text", f"no {col!r} column (columns: {', '.join(names)}); name it with --id-field/--text-field")
            return
    row = sum(pf.metadata.row_group(i).num_rows for i in range(min(unit.row_groups or (0,))))
    for g in unit.row_groups:
        table = pf.read_row_group(g, columns=list(dict.fromkeys([opts.id_field, opts.text_field])))
        ids = table.column(opts.id_field).to_pylist()
        texts = table.column(opts.text_field).to_pylist()
        for doc_id, text in zip(ids, texts):
            row += 1
            yield _record({opts.id_field: doc_id, opts.text_field: text}, f"{unit.path}:row {row}", opts)


def total_size(units: list[Unit]) -> int:
    return sum(u.size for u in units)


def file_signature(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
