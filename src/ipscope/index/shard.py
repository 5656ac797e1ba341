"""One index shard: writing it from documents and opening it memory-mapped.

Files in a shard directory (all plain arrays, no pickles):

``tokens.u24``     token ids, 24-bit little-endian; id 0 separates documents and ends the file
``sa.u24``         suffix array over the token ids (positions, 24-bit little-endian)
``vocab.npy``      uint64 sorted hashes of the shard's distinct tokens; token id = index + 1
``bucket.npy``     int64, SA range of suffixes starting with id t is [bucket[t], bucket[t+1])
``doc_tok.npy``    int64 [D+1], token position where each document part starts (+ end)
``doc_bytes.npy``  int64 [D+1], byte range of each part in the text stream
``doc_offset.npy`` int64 [D], char offset of the part within its whole document
``docs.json``      ids and origins of the parts
``text.zst``       the parts' original UTF-8 text, zstd frames of ``BLOCK`` bytes each
``text_blocks.npy`` int64, byte offset of each frame in ``text.zst`` (+ end)
``ckpt.npy``       int64 (k, 2): char and byte offset (within its part) of every ``CKPT``-th
                   token of each part, so a span's characters are found by decoding and
                   re-tokenising a few hundred bytes rather than the whole document
``doc_ckpt.npy``   int64 [D+1], first row of ``ckpt.npy`` belonging to each part
``done.json``      written last: counts and file hashes (a shard without it is unfinished)

Shards hold at most ``MAX_TOKENS`` token slots so 24 bits address every position and id.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

MAX_TOKENS = (1 << 24) - 2
BLOCK = 1 << 18
CKPT = 256
ZSTD_LEVEL = 6
FILES = (
    "tokens.u24", "sa.u24", "vocab.npy", "bucket.npy", "doc_tok.npy", "doc_bytes.npy",
    "doc_offset.npy", "docs.json", "text.zst", "text_blocks.npy", "ckpt.npy", "doc_ckpt.npy",
)


def to_u24(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()


def suffix_array_u24(ids: np.ndarray) -> np.ndarray:
    """Suffix array of a sequence of ids < 2**24 with libdivsufsort: the ids are written
    as 3 big-endian bytes, so byte order equals id order, and only suffixes starting at
    a multiple of 3 are kept."""
    from pydivsufsort import divsufsort

    n = ids.shape[0]
    b = np.empty(3 * n, np.uint8)
    b[0::3] = ids >> 16
    b[1::3] = (ids >> 8) & 0xFF
    b[2::3] = ids & 0xFF
    sa = divsufsort(b)
    del b
    sa = sa[sa % 3 == 0]
    sa //= 3
    return sa


@dataclass
class PartEntry:
    doc_id: str
    where: str
    offset: int
    text: str
    hashes: np.ndarray
    starts: np.ndarray  # char offset of each token within ``text``


def _byte_offsets(text: str, chars: np.ndarray) -> np.ndarray:
    """UTF-8 byte offsets of the given char offsets of ``text``."""
    if text.isascii():
        return chars.copy()
    from ..text import codepoints

    cps = codepoints(text)
    width = 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)
    cum = np.zeros(cps.shape[0] + 1, np.int64)
    np.cumsum(width, out=cum[1:])
    return cum[chars]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_shard(out: Path, parts: list[PartEntry]) -> dict:
    """Write one shard from document parts (each with its token hashes) and return its
    ``done.json`` record. Files are written to ``out`` and ``done.json`` last."""
    import zstandard

    from .. import _kernels

    out.mkdir(parents=True, exist_ok=True)
    lengths = np.array([p.hashes.shape[0] for p in parts], dtype=np.int64)
    all_hashes = np.concatenate([p.hashes for p in parts]) if parts else np.empty(0, np.uint64)
    ids, uniq = _kernels.assign_ids(all_hashes)
    order = np.argsort(uniq, kind="stable")
    rank = np.empty(order.shape[0], np.uint32)
    rank[order] = np.arange(1, order.shape[0] + 1, dtype=np.uint32)
    vocab = uniq[order]
    n_tok = int(lengths.sum())
    n_docs = len(parts)
    total = n_tok + n_docs + (1 if n_docs == 0 else 0)
    if total > MAX_TOKENS + 1:
        raise ValueError(f"shard too large: {total} tokens")
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    tok = np.zeros(total, np.uint32)
    tok[np.arange(n_tok, dtype=np.int64) + doc_of] = rank[ids]
    del ids, doc_of
    doc_tok = np.zeros(n_docs + 1, np.int64)
    doc_tok[1:] = np.cumsum(lengths + 1)
    sa = suffix_array_u24(tok)
    counts = np.bincount(tok, minlength=vocab.shape[0] + 1)
    bucket = np.zeros(vocab.shape[0] + 2, np.int64)
    bucket[1:] = np.cumsum(counts)

    (out / "tokens.u24").write_bytes(to_u24(tok))
    (out / "sa.u24").write_bytes(to_u24(sa))
    del sa, tok
    np.save(out / "vocab.npy", vocab)
    np.save(out / "bucket.npy", bucket)
    np.save(out / "doc_tok.npy", doc_tok)

    # original text: a stream of UTF-8 parts, compressed in independent BLOCK-sized frames
    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    doc_bytes = np.zeros(n_docs + 1, np.int64)
    frames = [0]
    pending = bytearray()
    written = 0
    with open(out / "text.zst", "wb") as f:
        for i, p in enumerate(parts):
            data = p.text.encode("utf-8", "surrogatepass")
            doc_bytes[i + 1] = doc_bytes[i] + len(data)
            pending += data
            while len(pending) >= BLOCK:
                written += f.write(cctx.compress(bytes(pending[:BLOCK])))
                frames.append(written)
                del pending[:BLOCK]
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
    done = {
        "tokens": n_tok,
        "docs": n_docs,
        "vocab": int(vocab.shape[0]),
        "text_bytes": int(doc_bytes[-1]),
        "chars": int(sum(len(p.text) for p in parts)),
        "files": {name: _sha256(out / name) for name in FILES},
    }
    tmp = out / "done.json.tmp"
    tmp.write_text(json.dumps(done), encoding="utf-8")
    os.replace(tmp, out / "done.json")
    return done


@dataclass
class Shard:
    """A shard opened for queries: arrays memory-mapped, nothing read until used."""

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
    def docs(self) -> dict:
        return json.loads((self.path / "docs.json").read_text(encoding="utf-8"))

    def ids_for(self, hashes: np.ndarray) -> np.ndarray:
        """Shard token ids for query hashes; -1 where the shard has no such token."""
        vocab = self.vocab
        if vocab.shape[0] == 0:
            return np.full(hashes.shape[0], -1, np.int64)
        pos = np.searchsorted(vocab, hashes)
        pos_c = np.minimum(pos, vocab.shape[0] - 1)
        hit = vocab[pos_c] == hashes
        return np.where(hit, pos_c + 1, -1).astype(np.int64)

    def doc_of(self, token_pos: int) -> int:
        return int(np.searchsorted(self.doc_tok, token_pos, side="right") - 1)

    @cached_property
    def ckpt(self) -> np.ndarray:
        return np.load(self.path / "ckpt.npy", allow_pickle=False)

    @cached_property
    def doc_ckpt(self) -> np.ndarray:
        return np.load(self.path / "doc_ckpt.npy", allow_pickle=False)

    def doc_id(self, d: int) -> str:
        return str(self.docs["ids"][d])

    def span_chars(self, d: int, a: int, b: int) -> tuple[int, int]:
        """Char offsets, in the whole original document, of the part-local tokens [a, b)
        of part ``d``: decodes only the bytes between the surrounding checkpoints."""
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
        return off + int(toks.starts[a - c0 * CKPT]), off + int(toks.ends[b - 1 - c0 * CKPT])

    def read_bytes(self, d: int, lo: int, hi: int) -> bytes:
        """Bytes [lo, hi) of part ``d``'s UTF-8 text, decompressing only the frames needed."""
        import zstandard

        base = int(self.doc_bytes[d])
        b0, b1 = base + lo, base + hi
        if b1 <= b0:
            return b""
        first, last = b0 // BLOCK, (b1 - 1) // BLOCK
        dctx = zstandard.ZstdDecompressor()
        with open(self.path / "text.zst", "rb") as f:
            f.seek(int(self.blocks[first]))
            raw = f.read(int(self.blocks[last + 1] - self.blocks[first]))
        data = bytearray()
        start = int(self.blocks[first])
        for blk in range(first, last + 1):
            data += dctx.decompress(raw[int(self.blocks[blk]) - start : int(self.blocks[blk + 1]) - start])
        lo_in = b0 - first * BLOCK
        return bytes(data[lo_in : lo_in + (b1 - b0)])

    def doc_text(self, d: int) -> str:
        """The whole original text of part ``d``."""
        return self.read_bytes(d, 0, int(self.doc_bytes[d + 1] - self.doc_bytes[d])).decode("utf-8", "surrogatepass")
