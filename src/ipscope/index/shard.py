"""One index shard: writing it from documents and opening it for queries (memory-mapped, or read with pread).

Files in a shard directory (all plain arrays, no pickles):

``tokens.u24``     token ids, 24-bit little-endian; id 0 separates documents and ends the file
``sa.u24``         suffix array over the token ids (positions, 24-bit little-endian)
``vocab.npy``      uint64 sorted hashes of the shard's distinct tokens
``vocab_ids.npy``  uint32 token id of each hash in ``vocab.npy`` (ids rank tokens by frequency, from 1)
``bucket.npy``     int32, SA range of suffixes starting with id t is [bucket[t], bucket[t+1])
``sample.npy``     uint8 (k, 6): for SA rows 0, S, 2S, ... (S = ``_kernels.SAMPLE_EVERY``) the
                   48-bit little-endian key ``id at offset 1 << 24 | id at offset 2`` of the
                   suffix, loaded into memory so seeds are located without binary searches
                   over the mapped arrays
``doc_tok.npy``    int64 [D+1], token position where each document part starts (+ end)
``doc_bytes.npy``  int64 [D+1], byte range of each part in the text stream
``doc_offset.npy`` int64 [D], char offset of the part within its whole document
``docs.json``      ids and origins of the parts
``meta.jsonl``     each part's document metadata (title, author, url, path ...; at most 4 KB of JSON, see
                   ``corpus/meta.py``), one line a part, empty for none; apart from ``docs.json`` so that
                   loading the ids stays cheap. Indexes built before it have no metadata (``Shard.meta``: {})
``meta_offsets.npy`` int64 [D+1], byte offset of each part's line in ``meta.jsonl`` (+ end)
``text.zst``       the parts' original UTF-8 text, zstd frames of ``text_block`` bytes each
                   (``done.json``: 256 KiB, or 1 MiB in shards of at most 32 Mi characters)
``text_blocks.npy`` int64, byte offset of each frame in ``text.zst`` (+ end)
``ckpt.npy``       int64 (k, 2): char and byte offset (within its part) of every ``CKPT``-th
                   token of each part, so a span's characters are found by decoding and
                   re-tokenising a few hundred bytes rather than the whole document
``doc_ckpt.npy``   int64 [D+1], first row of ``ckpt.npy`` belonging to each part
``done.json``      written last: counts and file hashes (a shard without it is unfinished)

Shards hold at most ``MAX_TOKENS`` token slots so 24 bits address every position and id.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import IndexFormatError
from .arrays import id_hash_table, sha256_file, to_u24
from .passages import write_layers

MAX_TOKENS = (1 << 24) - 2
BLOCK = 1 << 18  # random access decodes at most this much (streamed, so half on average)
BLOCK_SMALL = 1 << 20
CKPT = 256
ZSTD_LEVEL = 3  # 6 compresses ~8% smaller but at half the speed; the build is the bottleneck
ZSTD_LEVEL_SMALL = 6  # for shards of at most TINY_SHARD_CHARS
TINY_SHARD_CHARS = 8 << 20
SMALL_SHARD_CHARS = 32 << 20  # shards up to this size use BLOCK_SMALL frames
FILES = (
    "tokens.u24", "sa.u24", "vocab.npy", "vocab_ids.npy", "bucket.npy", "sample.npy", "doc_tok.npy", "doc_bytes.npy",
    "doc_offset.npy", "docs.json", "text.zst", "text_blocks.npy", "ckpt.npy", "doc_ckpt.npy",
)
META_FILES = ("meta.jsonl", "meta_offsets.npy")  # written since issue 10; older shards lack them


def suffix_array(tok: np.ndarray) -> np.ndarray:
    """Suffix array of a sequence of ids (< 2**24) with libdivsufsort, which sorts bytes:
    the ids are written with an order-preserving variable-length code (frequent ids are
    small, so mostly one byte) and only suffixes starting at an id are kept."""
    from pydivsufsort import divsufsort

    from .. import _kernels

    enc = _kernels.varint_sortable(tok)
    sa_bytes = divsufsort(enc)
    return _kernels.token_starts_only(sa_bytes, tok, enc.shape[0])


@dataclass
class PartEntry:
    doc_id: str
    where: str
    offset: int
    text: str
    hashes: np.ndarray
    starts: np.ndarray  # char offset of each token within ``text``
    meta: bytes = b""  # the document's metadata as JSON (corpus/meta.py's ``fit``), empty for none


def sample_rows(tok: np.ndarray, sa: np.ndarray, every: int) -> np.ndarray:
    """The ``sample.npy`` rows (see the module doc) from the token ids and suffix array."""
    pos = sa[::every].astype(np.int64)
    n = tok.shape[0]

    def at(p: np.ndarray) -> np.ndarray:  # ids at positions p, 0 past the end
        return np.where(p < n, tok[np.minimum(p, n - 1)], 0).astype(np.int64)

    keys = (at(pos + 1) << 24) | at(pos + 2)
    return np.ascontiguousarray(keys.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :6])


def _byte_offsets(text: str, chars: np.ndarray) -> np.ndarray:
    """UTF-8 byte offsets of the given (increasing) char offsets of ``text``."""
    if text.isascii():
        return chars.copy()
    cuts = chars.tolist()
    widths = [len(text[a:b].encode("utf-8", "surrogatepass")) for a, b in zip([0] + cuts[:-1], cuts)]
    return np.cumsum(np.array(widths, dtype=np.int64))


def write_shard(out: Path, parts: list[PartEntry], passages: bool = True) -> dict:
    """Write one shard from document parts (each with its token hashes) and return its
    ``done.json`` record. Files are written to ``out`` and ``done.json`` last. With ``passages``
    the layers of ``ipscope similar`` are written too (``index/passages.py``)."""
    import zstandard

    from .. import _kernels

    out.mkdir(parents=True, exist_ok=True)
    lengths = np.array([p.hashes.shape[0] for p in parts], dtype=np.int64)
    all_hashes = np.concatenate([p.hashes for p in parts]) if parts else np.empty(0, np.uint64)
    ids, uniq, counts = _kernels.assign_ids(all_hashes)
    del all_hashes
    # ids ranked by frequency (1 = most frequent; 0 separates documents): the suffix sort
    # then works on mostly one-byte codes
    by_freq = np.argsort(-counts, kind="stable")
    rank = np.empty(uniq.shape[0], np.uint32)
    rank[by_freq] = np.arange(1, uniq.shape[0] + 1, dtype=np.uint32)
    order = np.argsort(uniq)
    vocab = uniq[order]  # sorted hashes, for lookups from queries
    vocab_ids = rank[order]
    n_tok = int(lengths.sum())
    n_docs = len(parts)
    if n_tok + n_docs > MAX_TOKENS + 1:
        raise ValueError(f"shard too large: {n_tok + n_docs} token slots")
    tok, doc_tok = _kernels.layout_tokens(ids, rank, lengths)
    del ids
    sa = suffix_array(tok)
    # SA rows per first token id: id 0 (the separators) first, then rank r holds the tokens of by_freq[r - 1]
    per_id = np.empty(uniq.shape[0] + 1, np.int64)
    per_id[0] = tok.shape[0] - n_tok
    per_id[1:] = counts[by_freq]
    bucket = np.zeros(uniq.shape[0] + 2, np.int32)  # every position < 2**24
    bucket[1:] = np.cumsum(per_id)

    np.save(out / "sample.npy", sample_rows(tok, sa, _kernels.SAMPLE_EVERY))
    (out / "tokens.u24").write_bytes(to_u24(tok))
    (out / "sa.u24").write_bytes(to_u24(sa))
    del sa
    layer_hashes: dict[str, str] = {}
    if passages:
        id_hash = np.zeros(uniq.shape[0] + 1, np.uint64)
        id_hash[1:] = uniq[by_freq]
        # write_layers hashed its arrays for passages.json: reuse those rather than read them twice
        layer_hashes = write_layers(out, tok, doc_tok, id_hash)["files"] | {"passages.json": sha256_file(out / "passages.json")}
    del tok
    np.save(out / "vocab.npy", vocab)
    np.save(out / "vocab_ids.npy", vocab_ids)
    np.save(out / "bucket.npy", bucket)
    np.save(out / "doc_tok.npy", doc_tok)

    # original text: a stream of UTF-8 parts, compressed in independent BLOCK-sized frames
    text_total = sum(len(p.text) for p in parts)
    # small shards: a stronger level and larger frames cost little time there and keep small
    # indexes compact (their fixed costs, such as the vocabulary, weigh more)
    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL_SMALL if text_total <= TINY_SHARD_CHARS else ZSTD_LEVEL)
    block = BLOCK_SMALL if text_total <= SMALL_SHARD_CHARS else BLOCK
    doc_bytes = np.zeros(n_docs + 1, np.int64)
    frames = [0]
    pending = bytearray()
    written = 0
    with open(out / "text.zst", "wb") as f:
        for i, p in enumerate(parts):
            data = p.text.encode("utf-8", "surrogatepass")
            doc_bytes[i + 1] = doc_bytes[i] + len(data)
            pending += data
            while len(pending) >= block:
                written += f.write(cctx.compress(bytes(pending[:block])))
                frames.append(written)
                del pending[:block]
        if pending:
            written += f.write(cctx.compress(bytes(pending)))
            frames.append(written)
    np.save(out / "doc_bytes.npy", doc_bytes)
    np.save(out / "doc_offset.npy", np.array([p.offset for p in parts], dtype=np.int64))
    np.save(out / "text_blocks.npy", np.array(frames, dtype=np.int64))
    ck_rows = []
    doc_ckpt = np.zeros(n_docs + 1, np.int64)
    for i, p in enumerate(parts):
        chars = p.starts[::CKPT].astype(np.int64)
        ck_rows.append(np.stack([chars, _byte_offsets(p.text, chars)], axis=1))
        doc_ckpt[i + 1] = doc_ckpt[i] + chars.shape[0]
    np.save(out / "ckpt.npy", np.concatenate(ck_rows) if ck_rows else np.zeros((0, 2), np.int64))
    np.save(out / "doc_ckpt.npy", doc_ckpt)
    (out / "docs.json").write_text(
        json.dumps({"ids": [p.doc_id for p in parts], "where": [p.where for p in parts]}, ensure_ascii=False),
        encoding="utf-8",
    )
    meta_offsets = np.zeros(n_docs + 1, np.int64)
    with open(out / "meta.jsonl", "wb") as f:
        for i, p in enumerate(parts):
            meta_offsets[i + 1] = meta_offsets[i] + f.write(p.meta + b"\n")
    np.save(out / "meta_offsets.npy", meta_offsets)
    done = {
        "tokens": n_tok,
        "docs": n_docs,
        "vocab": int(vocab.shape[0]),
        "text_bytes": int(doc_bytes[-1]),
        "text_block": block,
        "chars": text_total,
        "files": {name: sha256_file(out / name) for name in FILES + META_FILES} | layer_hashes,
    }
    write_atomic(out / "done.json", json.dumps(done))
    return done


# guards opening (and closing) a shard's token and suffix files for pread: several threads may search one
# shard, and each descriptor must be opened once and closed once
_OPEN_LOCK = threading.RLock()  # re-entrant: a shard collected (__del__) while the lock is held closes its files


@dataclass
class Shard:
    """A shard opened for queries: small arrays memory-mapped, the token and suffix arrays memory-mapped
    (``search_arrays``) or read with pread (``file_arrays``); nothing read until used."""

    path: Path
    name: str
    excluded: frozenset[int] = field(default_factory=frozenset)

    @cached_property
    def tok(self) -> np.ndarray:
        return np.memmap(self.path / "tokens.u24", dtype=np.uint8, mode="r")

    @cached_property
    def sa(self) -> np.ndarray:
        return np.memmap(self.path / "sa.u24", dtype=np.uint8, mode="r")

    @cached_property
    def vocab(self) -> np.ndarray:
        return np.load(self.path / "vocab.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def vocab_ids(self) -> np.ndarray:
        return np.load(self.path / "vocab_ids.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def id_hash(self) -> np.ndarray:
        """The token hash of every id (index 0, the separator, is 0): token ids back to hashes."""
        return id_hash_table(self.vocab, self.vocab_ids)

    @cached_property
    def bucket(self) -> np.ndarray:
        return np.load(self.path / "bucket.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def doc_tok(self) -> np.ndarray:
        return np.load(self.path / "doc_tok.npy", allow_pickle=False)

    @cached_property
    def doc_bytes(self) -> np.ndarray:
        return np.load(self.path / "doc_bytes.npy", allow_pickle=False)

    @cached_property
    def doc_offset(self) -> np.ndarray:
        return np.load(self.path / "doc_offset.npy", allow_pickle=False)

    @cached_property
    def blocks(self) -> np.ndarray:
        return np.load(self.path / "text_blocks.npy", allow_pickle=False)

    @cached_property
    def block(self) -> int:
        """Uncompressed size of the text frames of this shard (recorded when written)."""
        return int(json.loads((self.path / "done.json").read_text(encoding="utf-8"))["text_block"])

    @cached_property
    def docs(self) -> dict:
        return json.loads((self.path / "docs.json").read_text(encoding="utf-8"))

    def ids_for(self, hashes: np.ndarray) -> np.ndarray:
        """Shard token ids for query hashes; -1 where the shard has no such token."""
        vocab = self.vocab
        if vocab.shape[0] == 0:
            return np.full(hashes.shape[0], -1, np.int64)
        pos = np.minimum(np.searchsorted(vocab, hashes), vocab.shape[0] - 1)
        hit = vocab[pos] == hashes
        # (int64 before the -1: NumPy 2 would wrap -1 to 2**32 - 1 in the ids' uint32)
        return np.where(hit, self.vocab_ids[pos].astype(np.int64), -1)

    @cached_property
    def sample(self) -> np.ndarray:
        """The sampled suffix keys as int64, in memory (~0.06 bytes a token)."""
        rows = np.load(self.path / "sample.npy", allow_pickle=False)
        keys = np.zeros((rows.shape[0], 8), np.uint8)
        keys[:, :6] = rows
        return keys.view("<i8").reshape(-1)

    @cached_property
    def search_arrays(self) -> tuple:
        """(tokens, suffix array, bucket, sample, sample spacing) for the kernels, the token and suffix
        arrays as memory-mapped sources (``_kernels.mem_source``)."""
        from .._kernels import SAMPLE_EVERY, mem_source

        return (mem_source(np.asarray(self.tok)), mem_source(np.asarray(self.sa)), np.asarray(self.bucket),
                self.sample, SAMPLE_EVERY)

    def file_arrays(self, key: int, cache: tuple[np.ndarray, np.ndarray]) -> tuple:
        """As ``search_arrays``, but the token and suffix arrays are read with pread through ``cache``
        (``_kernels.file_source``; keys ``key`` and ``key + 1``), so they are never mapped."""
        from .._kernels import SAMPLE_EVERY, file_source

        fds = self.__dict__.get("_fds")
        if fds is None:
            with _OPEN_LOCK:  # threads searching one shard share its descriptors: opened once
                fds = self.__dict__.get("_fds")
                if fds is None:
                    opened: list[int] = []
                    try:
                        for name in ("tokens.u24", "sa.u24"):
                            opened.append(os.open(self.path / name, os.O_RDONLY))
                    except OSError:
                        for fd in opened:
                            os.close(fd)
                        raise
                    self.__dict__["_entries"] = os.fstat(opened[0]).st_size // 3
                    fds = self.__dict__["_fds"] = tuple(opened)  # set last: a thread seeing it sees _entries
        n = self.__dict__["_entries"]
        return (file_source(fds[0], n, key, cache), file_source(fds[1], n, key + 1, cache), np.asarray(self.bucket),
                self.sample, SAMPLE_EVERY)

    def close_files(self) -> None:
        """Close the descriptors ``file_arrays`` opened (also when the shard is collected). Not while a search
        uses them: the sources hold the descriptors' numbers, not the shard."""
        with _OPEN_LOCK:
            fds = self.__dict__.pop("_fds", ())
            self.__dict__.pop("_entries", None)
        for fd in fds:
            os.close(fd)

    def __getstate__(self) -> dict:
        # a copy (pickle, deepcopy, another process) opens its own files: file descriptors are this
        # object's, and closed when it goes
        state = dict(self.__dict__)
        state.pop("_fds", None)
        state.pop("_entries", None)
        state.pop("id_hash", None)  # derived from the vocabulary: rebuilt on use
        return state

    def __del__(self) -> None:
        try:
            self.close_files()
        except Exception:  # noqa: BLE001 — interpreter shutdown
            pass

    def parts_of(self, token_pos: np.ndarray) -> np.ndarray:
        """The document part holding each of the given shard token positions."""
        return np.searchsorted(self.doc_tok, token_pos, side="right") - 1

    @cached_property
    def ckpt(self) -> np.ndarray:
        return np.load(self.path / "ckpt.npy", allow_pickle=False)

    @cached_property
    def doc_ckpt(self) -> np.ndarray:
        return np.load(self.path / "doc_ckpt.npy", allow_pickle=False)

    def doc_id(self, d: int) -> str:
        return str(self.docs["ids"][d])

    @cached_property
    def meta_offsets(self) -> np.ndarray | None:
        try:
            return np.load(self.path / "meta_offsets.npy", allow_pickle=False)
        except FileNotFoundError:  # a shard written before metadata was kept
            return None

    def meta(self, d: int) -> dict:
        """The metadata of part ``d``'s document (title, author, url, path ...; {} when it has none, or the
        index was built before metadata was kept). Reads only that part's line."""
        offsets = self.meta_offsets
        if offsets is None:
            return {}
        a, b = int(offsets[d]), int(offsets[d + 1]) - 1  # without the newline
        if b <= a:
            return {}
        with open(self.path / "meta.jsonl", "rb") as f:
            f.seek(a)
            data = f.read(b - a)
        from ..corpus.meta import loads

        try:
            return loads(data)
        except ValueError as e:
            raise IndexFormatError(f"{self.path / 'meta.jsonl'}: line {d + 1} is not JSON ({e})",
                                   "rebuild the index with ipscope index --force") from e

    def span_chars(self, d: int, a: int, b: int) -> tuple[int, int]:
        """Char offsets, in the whole original document, of the part-local tokens [a, b)
        of part ``d``: decodes only the bytes between the surrounding checkpoints."""
        start, end, _ = self.span_text(d, a, b)
        return start, end

    def span_text(self, d: int, a: int, b: int) -> tuple[int, int, str]:
        """As ``span_chars``, with the original text of the span."""
        from ..text import tokenize

        c0 = a // CKPT
        k0 = int(self.doc_ckpt[d]) + c0
        k1 = int(self.doc_ckpt[d]) + (b - 1) // CKPT + 1
        char0, byte0 = (int(x) for x in self.ckpt[k0])
        if k1 < int(self.doc_ckpt[d + 1]):
            byte1 = int(self.ckpt[k1, 1])
        else:
            byte1 = int(self.doc_bytes[d + 1] - self.doc_bytes[d])
        seg = self.read_bytes(d, byte0, byte1).decode("utf-8", "surrogatepass")
        toks = tokenize(seg)
        off = int(self.doc_offset[d]) + char0
        lo, hi = int(toks.starts[a - c0 * CKPT]), int(toks.ends[b - 1 - c0 * CKPT])
        return off + lo, off + hi, seg[lo:hi]

    def read_bytes(self, d: int, lo: int, hi: int) -> bytes:
        """Bytes [lo, hi) of part ``d``'s UTF-8 text, decompressing only the frames needed
        and each only up to the last byte wanted."""
        import zstandard

        block = self.block
        base = int(self.doc_bytes[d])
        b0, b1 = base + lo, base + hi
        if b1 <= b0:
            return b""
        first, last = b0 // block, (b1 - 1) // block
        dctx = zstandard.ZstdDecompressor()
        with open(self.path / "text.zst", "rb") as f:
            f.seek(int(self.blocks[first]))
            raw = f.read(int(self.blocks[last + 1] - self.blocks[first]))
        out = []
        start = int(self.blocks[first])
        for blk in range(first, last + 1):
            frame = raw[int(self.blocks[blk]) - start : int(self.blocks[blk + 1]) - start]
            a = max(b0, blk * block) - blk * block  # the wanted range within this block
            b = min(b1, (blk + 1) * block) - blk * block
            with dctx.stream_reader(frame) as r:
                pos = 0
                while pos < b:
                    got = r.read(min(b - pos, 1 << 16))
                    if not got:
                        raise IndexFormatError(f"{self.path / 'text.zst'}: frame {blk} is truncated",
                                               "rebuild the index with ipscope index --force")
                    if pos + len(got) > a:
                        out.append(got[max(0, a - pos) :])
                    pos += len(got)
        return b"".join(out)

    def doc_text(self, d: int) -> str:
        """The whole original text of part ``d``."""
        return self.read_bytes(d, 0, int(self.doc_bytes[d + 1] - self.doc_bytes[d])).decode("utf-8", "surrogatepass")
