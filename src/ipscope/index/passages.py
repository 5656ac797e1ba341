"""The passage layers of a shard, used by ``ipscope similar``: passages, MinHash LSH and BM25 postings.

Documents are cut into passages of ``PASSAGE_TOKENS`` tokens (so a short query can match one chapter of a
novel), and every passage gets

* a MinHash signature (rensa's R-MinHash, ``NUM_PERM`` permutations) over its word 3-shingles, stored only as
  LSH band keys (``BANDS`` bands of ``ROWS`` rows; a pair of passages whose shingle sets have Jaccard
  similarity 0.5 shares a band with probability 0.64, at 0.7 with 0.98, at 0.2 with 0.025): near-duplicates
  are found by a lookup per band;
* BM25 postings: for every token id the passages holding it and the count there. Ids present in more than
  ``MAX_DF_FRACTION`` of a shard's passages (of at least ``PRUNE_MIN_PASSAGES``) are not listed: such
  words ("the", "of") carry almost no evidence and would make the postings twice as large. Their passage
  frequency is kept, so the idf of the others does not change.

Files in the shard directory (plain arrays, no pickles; ``passages.json`` is written last):

``passages.npy``      int32 (P, 2), token positions [start, end) of each passage in ``tokens.u24``
``lsh_keys.npy``      uint32 (BANDS, P), each band's keys sorted
``lsh_rows.npy``      uint32 (BANDS, P), the passage of each sorted key
``bm25_df.npy``       uint32 [V + 1], passages holding each token id
``bm25_indptr.npy``   int64 [V + 2], postings of id t are rows indptr[t]:indptr[t + 1] of
``bm25_passage.npy``  uint32, passage numbers (ascending within an id)
``bm25_tf.npy``       uint16, occurrences in that passage (capped at 65,535)
``passages.json``     parameters and counts
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from .arrays import from_u24, id_hash_table, sha256_file

PASSAGE_TOKENS = 200
NUM_PERM = 64
ROWS = 4
BANDS = NUM_PERM // ROWS
SEED = 1
MAX_DF_FRACTION = 0.25
PRUNE_MIN_PASSAGES = 400
LAYER = "passages"
LAYER_VERSION = 1
FILES = ("passages.npy", "lsh_keys.npy", "lsh_rows.npy", "bm25_df.npy", "bm25_indptr.npy", "bm25_passage.npy",
         "bm25_tf.npy", "passages.json")


def params() -> dict:
    """What a query must agree with to use the layer (recorded in the index manifest)."""
    import rensa

    return {"version": LAYER_VERSION, "passage_tokens": PASSAGE_TOKENS, "shingle": 3, "minhash": "rensa-rminhash",
            "minhash_algorithm": int(rensa.RMinHash.ALGORITHM_VERSION), "num_perm": NUM_PERM, "rows": ROWS,
            "seed": SEED, "max_df_fraction": MAX_DF_FRACTION, "prune_min_passages": PRUNE_MIN_PASSAGES}


def minhash_rows(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(rows, NUM_PERM) uint32 R-MinHash signatures of the shingle sets ``flat[offsets[i]:offsets[i + 1]]``."""
    import rensa

    if offsets.shape[0] <= 1:
        return np.zeros((0, NUM_PERM), np.uint32)
    m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_PERM, SEED)
    return np.array(m.to_rows(), dtype=np.uint32).reshape(-1, NUM_PERM)


def lsh_keys(hashes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(BANDS, P) uint32 band keys of the windows ``bounds`` (int64 (P, 2)) over the token hashes ``hashes``."""
    from .. import _passage_kernels as pk

    flat, offsets = pk.shingle_hashes(hashes, bounds)
    return pk.band_keys(minhash_rows(flat, offsets), ROWS)


def max_df(n_passages: int) -> int:
    return n_passages if n_passages < PRUNE_MIN_PASSAGES else int(MAX_DF_FRACTION * n_passages)


def write_layers(out: Path, tok: np.ndarray, doc_tok: np.ndarray, id_hash: np.ndarray) -> dict:
    """Write the passage layers of the shard in ``out`` from its token ids ``tok`` (uint32, with separators),
    part starts ``doc_tok`` and the hash of every id (``id_hash[0]`` unused). Returns the counts."""
    from .. import _passage_kernels as pk

    bounds = pk.passage_bounds(np.asarray(doc_tok, np.int64), PASSAGE_TOKENS)
    hashes, rebased = pk.token_hashes(tok, bounds.astype(np.int64), id_hash)
    keys = lsh_keys(hashes, rebased)
    del hashes
    order = np.argsort(keys, axis=1, kind="stable").astype(np.uint32)
    sorted_keys = np.take_along_axis(keys, order.astype(np.int64), axis=1)
    df, indptr, passage, tf = pk.bm25_postings(tok, bounds, id_hash.shape[0], max_df(bounds.shape[0]))
    np.save(out / "passages.npy", bounds)
    np.save(out / "lsh_keys.npy", sorted_keys)
    np.save(out / "lsh_rows.npy", order)
    np.save(out / "bm25_df.npy", df.astype(np.uint32))
    np.save(out / "bm25_indptr.npy", indptr)
    np.save(out / "bm25_passage.npy", passage)
    np.save(out / "bm25_tf.npy", tf)
    lengths = bounds[:, 1].astype(np.int64) - bounds[:, 0]
    done = {"passages": int(bounds.shape[0]), "tokens": int(lengths.sum()), "postings": int(passage.shape[0]),
            "pruned_ids": int(((df > max_df(bounds.shape[0])) & (np.arange(df.shape[0]) > 0)).sum()),
            # the arrays' hashes, so a report can name the layers it used by hashing this small file
            # (ipscope.provenance) instead of the arrays
            "files": {name: sha256_file(out / name) for name in FILES if name != "passages.json"}}
    write_atomic(out / "passages.json", json.dumps(done))
    return done


def read_tokens(shard_dir: Path) -> np.ndarray:
    """The token ids of a shard (``tokens.u24``) as uint32."""
    return from_u24(np.fromfile(shard_dir / "tokens.u24", dtype=np.uint8))


def id_hashes(shard_dir: Path) -> np.ndarray:
    """The token hash of every id of a shard directory (index 0, the separator, is 0)."""
    return id_hash_table(np.load(shard_dir / "vocab.npy", allow_pickle=False),
                         np.load(shard_dir / "vocab_ids.npy", allow_pickle=False))


def add_to_shard(shard_dir: Path) -> dict:
    """Build the passage layers of an existing shard (``ipscope index --add-layers``)."""
    tok = read_tokens(shard_dir)
    doc_tok = np.load(shard_dir / "doc_tok.npy", allow_pickle=False)
    return write_layers(shard_dir, tok, doc_tok, id_hashes(shard_dir))


@dataclass
class PassageLayer:
    """The passage layers of one shard, opened for queries (memory-mapped).

    ``removed``: the shard's tombstoned parts (removed documents, ``live.py``). Their passages are left out of
    the statistics a query uses (``live_passages``, ``live_length``, ``removed_df``) and of its candidates
    (``removed_mask``), so a removed document counts nowhere and a compaction, which drops it from the files,
    changes no answer."""

    path: Path
    removed: frozenset[int] = field(default_factory=frozenset)

    @cached_property
    def removed_mask(self) -> np.ndarray | None:
        """True for the passages of removed parts (None when there are none)."""
        if not self.removed:
            return None
        doc_tok = np.load(self.path / "doc_tok.npy", allow_pickle=False)
        parts = np.searchsorted(doc_tok, self.bounds[:, 0].astype(np.int64), side="right") - 1
        return np.isin(parts, np.fromiter(self.removed, np.int64))

    @cached_property
    def removed_df(self) -> np.ndarray | None:
        """For every token id, the removed passages holding it (to take from ``df``); None when none are."""
        mask = self.removed_mask
        if mask is None:
            return None
        out = np.zeros(np.asarray(self.df).shape[0], np.int64)
        tok = np.memmap(self.path / "tokens.u24", dtype=np.uint8, mode="r")
        for a, b in self.bounds[mask].tolist():
            np.add.at(out, np.unique(from_u24(tok[3 * a : 3 * b]).astype(np.int64)), 1)
        return out

    @cached_property
    def live_passages(self) -> int:
        mask = self.removed_mask
        return int(self.bounds.shape[0]) - (int(mask.sum()) if mask is not None else 0)

    @cached_property
    def live_length(self) -> float:
        """The tokens of the passages of documents not removed."""
        mask = self.removed_mask
        return float(self.lengths.sum() if mask is None else self.lengths[~mask].sum())

    def _load(self, name: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.path / name, mmap_mode="r" if mmap else None, allow_pickle=False)

    @cached_property
    def bounds(self) -> np.ndarray:
        return self._load("passages.npy", mmap=False)

    @cached_property
    def lengths(self) -> np.ndarray:
        return (self.bounds[:, 1].astype(np.float64) - self.bounds[:, 0])

    @cached_property
    def lsh(self) -> tuple[np.ndarray, np.ndarray]:
        return self._load("lsh_keys.npy"), self._load("lsh_rows.npy")

    @cached_property
    def df(self) -> np.ndarray:
        return self._load("bm25_df.npy")

    @cached_property
    def postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._load("bm25_indptr.npy"), self._load("bm25_passage.npy"), self._load("bm25_tf.npy")

    def lsh_candidates(self, keys: np.ndarray) -> np.ndarray:
        """Passages sharing at least one band key with any of the query windows (``keys``: (BANDS, Q))."""
        skeys, rows = self.lsh
        found = []
        for j in range(min(BANDS, skeys.shape[0])):
            band = np.asarray(skeys[j])
            band_rows = np.asarray(rows[j])  # a plain view: slicing a memmap costs ~10 us a slice
            q = np.unique(keys[j])
            lo = np.searchsorted(band, q, side="left")
            hi = np.searchsorted(band, q, side="right")
            for a, b in zip(lo[hi > lo].tolist(), hi[hi > lo].tolist()):
                found.append(band_rows[a:b])
        if not found:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate(found).astype(np.int64))


def passage_part(shard, layer: PassageLayer, p: int) -> int:
    """The document part of an opened ``Shard`` that passage ``p`` belongs to."""
    return int(shard.parts_of(np.array([int(layer.bounds[p, 0])]))[0])


def passage_text(shard, layer: PassageLayer, p: int) -> tuple[int, int, str]:
    """(start, end, text) of passage ``p``: character offsets in its whole document, and the original text."""
    a, b = (int(x) for x in layer.bounds[p])
    return token_span_text(shard, a, b)


def token_span_text(shard, a: int, b: int) -> tuple[int, int, str]:
    """(start, end, text) of the shard's tokens [a, b) (one document part): character offsets in its whole
    document, and the original text."""
    part = int(shard.parts_of(np.array([a]))[0])
    base = int(shard.doc_tok[part])
    return shard.span_text(part, a - base, b - base)


def has_layers(shard_dir: Path) -> bool:
    """True when the shard's passage layer files are all there and readable (a damaged one is rebuilt)."""
    return layer_problem(shard_dir) is None


def layer_problem(shard_dir: Path) -> str | None:
    """What is wrong with a shard's passage layer files (missing, truncated, not arrays, sizes that do not
    agree), or None. Reads only the arrays' headers and a few values."""
    missing = [f for f in FILES if not (shard_dir / f).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        a = {f: np.load(shard_dir / f, mmap_mode="r", allow_pickle=False) for f in FILES if f.endswith(".npy")}
        n = a["passages.npy"].shape[0]
        ok = (a["passages.npy"].ndim == 2 and a["passages.npy"].shape[1] == 2
              and a["lsh_keys.npy"].shape == a["lsh_rows.npy"].shape and a["lsh_keys.npy"].ndim == 2
              and a["lsh_keys.npy"].shape[1] == n
              and a["bm25_indptr.npy"].shape[0] == a["bm25_df.npy"].shape[0] + 1
              and a["bm25_passage.npy"].shape == a["bm25_tf.npy"].shape
              and int(a["bm25_indptr.npy"][-1]) == a["bm25_passage.npy"].shape[0])
    except (OSError, ValueError, IndexError, EOFError) as e:
        return f"unreadable ({e})"
    return None if ok else "array sizes that do not agree"
