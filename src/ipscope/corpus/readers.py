"""Readers: files and directories -> ``Document`` (or ``Skipped`` with a reason).

Inputs are first cut into *units* (a text file, a byte range of a JSONL file, a gzipped
JSONL file, some row groups of a Parquet file) without reading their contents, so index
tasks can be handed to worker processes as paths. ``read_unit`` then streams one unit.

Document ids: a text file given directly -> its file name; a file found under a given
directory -> its path relative to that directory; JSONL/Parquet -> the ``id`` field
(renamed with ``id_field``), or ``<that name>#<line>`` / ``#<row>`` for a record without one.
Metadata (``Document.meta``): a text file's path; a record's other fields (the index caps them,
``corpus/meta.py``). Record files are read by ``corpus/records.py``, which the audit uses too.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

from ..errors import InputError
from ..types import Document, Skipped
from .records import ALL_SUFFIXES, TEXT_SUFFIXES, FileKind, RawRecord, discover, jsonl_records, parquet_file, \
    parquet_records, record_id
from .encoding import (BINARY_PROBE, C1_BYTES, SAMPLE_BYTES, BinaryInputError, Counted, Errors, How, UndecodableError,
                       check_encoding, choose, decode, handler, mostly_utf8, sniff, undecodable)

__all__ = ["ALL_SUFFIXES", "TEXT_SUFFIXES", "ReadOptions", "Unit", "discover", "plan_units", "read_unit", "units_of"]
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
    name: str = ""  # the input's name: relative to the directory it was found under, or the file name


@dataclass(frozen=True, slots=True)
class ReadOptions:
    id_field: str = "id"
    text_field: str = "text"
    encoding_errors: EncodingErrors = "skip"  # bytes even the decided (or given) encoding cannot read
    segment_chars: int = SEGMENT_CHARS
    encoding: str | None = None  # text files: this encoding instead of the decided one (--encoding)


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
    return units_of(discover(sources), target_bytes)


def units_of(found: list[tuple[Path, FileKind, str]], target_bytes: int) -> list[Unit]:
    """The units of the files ``discover`` found: JSONL files cut at line ends into byte ranges of about
    ``target_bytes`` (each with the number of its first line), Parquet files into groups of row groups of about
    that size, other files whole."""
    units: list[Unit] = []
    for path, kind, name in found:
        size = path.stat().st_size
        if kind == "text":
            units.append(Unit("text", str(path), size, doc_id=name, name=name))
        elif kind == "jsonl":
            for a, b, line in _jsonl_ranges(path, size, target_bytes):
                units.append(Unit("jsonl", str(path), b - a, start=a, end=b, first_line=line, name=name))
        elif kind == "jsonl.gz":
            units.append(Unit("jsonl.gz", str(path), size, name=name))
        else:
            units.extend(_parquet_units(path, size, target_bytes, name))
    return units


def _parquet_units(path: Path, size: int, target: int, name: str) -> list[Unit]:
    try:
        meta = parquet_file(path).metadata
    except InputError:  # not Parquet, or its footer lost (a cut download): one unit, skipped when read, so one
        return [Unit("parquet", str(path), size, name=name)]  # damaged file does not stop the whole build
    units: list[Unit] = []
    group: list[int] = []
    acc = 0
    for i in range(meta.num_row_groups):
        group.append(i)
        acc += meta.row_group(i).total_byte_size
        if acc >= target:
            units.append(Unit("parquet", str(path), acc, row_groups=tuple(group), name=name))
            group, acc = [], 0
    if group or not units:
        units.append(Unit("parquet", str(path), max(acc, size if not units else acc), row_groups=tuple(group),
                          name=name))
    return units


# ---------------------------------------------------------------------------- reading


def read_unit(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    if unit.kind == "text":
        yield from _with_path(_read_text(unit, opts), unit.path)
    elif unit.kind == "parquet":
        yield from _read_parquet(unit, opts)
    else:
        yield from _read_jsonl(unit, opts)


def _with_path(docs: Iterator[Document | Skipped], path: str) -> Iterator[Document | Skipped]:
    """A text file's documents with its path as metadata (as given, or found under a directory) and, for a
    Project Gutenberg eBook, the title and author of its header (``corpus/gutenberg.py``); the mark of a part of
    a large file moves to the account (``Document.meta`` is what reports show)."""
    from .gutenberg import header_meta

    header: dict[str, str] = {}
    for d in docs:
        if isinstance(d, Document):
            meta = dict(d.meta)
            segmented = meta.pop("segmented", False)
            if d.offset == 0:  # the first (or only) part holds the header; the later parts share its metadata
                header = header_meta(d.text)
            meta = {**header, **meta}
            meta.setdefault("path", path)
            d = replace(d, meta=meta, account={**d.account, "segmented": True} if segmented else d.account)
        yield d


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
                yield Document(unit.doc_id, dec.text, where, account=_account_fields(dec.encoding, dec.how,
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
        return Document(unit.doc_id, text, unit.path, offset=offset, account={**fields, "segmented": True})

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


def _document(r: RawRecord, name: str, opts: ReadOptions, where: str) -> Document | Skipped:
    """The document of a parsed record, or why it cannot be one."""
    obj = r.obj
    if obj is None:
        return Skipped(where, r.code or "malformed-json", r.error or "unreadable record")
    got = record_id(obj, opts.id_field, name, r.line)
    if isinstance(got, str):
        return Skipped(where, "bad-id", got)
    doc_id, assigned = got
    text = obj.get(opts.text_field)
    if text is None:
        return Skipped(where, "missing-text", f"no {opts.text_field!r} field; add one, or name the text field with "
                       "--text-field", doc_id)
    if not isinstance(text, str):
        return Skipped(where, "bad-text", f"{opts.text_field!r} must be a string, got {type(text).__name__}", doc_id)
    # the other fields are the document's metadata (the index keeps 4 KB of it: corpus/meta.py); a field without a
    # value (null, "") says nothing about the document
    if len(obj) > 2 or (assigned and len(obj) > 1):
        meta = {k: v for k, v in obj.items() if v is not None and v != "" and k != opts.id_field
                and k != opts.text_field}
        if assigned:
            return Document(doc_id, text, where, meta=meta, account={"id_assigned": True})
        return Document(doc_id, text, where, meta=meta)
    if assigned:  # only the text
        return Document(doc_id, text, where, account={"id_assigned": True})
    return Document(doc_id, text, where)  # only the id and the text (the common case of a plain corpus)


def _read_jsonl(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    name = unit.name or Path(unit.path).name
    try:
        if unit.kind == "jsonl.gz":
            records = jsonl_records(unit.path, encoding_errors=opts.encoding_errors, utf8_fix=_JSONL_UTF8_FIX,
                                    label=name)
        else:
            records = jsonl_records(unit.path, unit.start, unit.end, unit.first_line, opts.encoding_errors,
                                    _JSONL_UTF8_FIX, name)
        for r in records:
            yield _document(r, name, opts, f"{r.source}:{r.line}")
    except InputError as e:
        yield Skipped(unit.path, "unreadable", e.message)


_JSONL_UTF8_FIX = "fix the encoding or pass --encoding-errors replace"


def _read_parquet(unit: Unit, opts: ReadOptions) -> Iterator[Document | Skipped]:
    name = unit.name or Path(unit.path).name
    try:
        pf = parquet_file(unit.path)
    except InputError as e:
        yield Skipped(unit.path, "unreadable", f"{e.message}; nothing of it was indexed; fix: {e.fix}")
        return
    names = pf.schema_arrow.names
    if opts.text_field not in names:
        yield Skipped(unit.path, "missing-text", f"no {opts.text_field!r} column (columns: {', '.join(names)}); "
                      "name it with --text-field")
        return
    for r in parquet_records(pf, unit.path, unit.row_groups, raw=False, label=name):
        # a row's place is "file:row 5" (the id assigned to a row without one is "name#5")
        yield _document(r, name, opts, f"{unit.path}:row {r.line}")


def total_size(units: list[Unit]) -> int:
    return sum(u.size for u in units)


def file_signature(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
