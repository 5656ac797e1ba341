"""Helpers for the plain files of shards and their layers: 24-bit packing, the token hash of every id, file hashes.

A leaf module (it imports no other module of ``ipscope.index``), so ``shard``, ``passages`` and ``vectors`` can
all use it without importing one another both ways.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def to_u24(a: np.ndarray) -> bytes:
    """Little-endian 24-bit bytes of values < 2**24 (``tokens.u24``, ``sa.u24``)."""
    from .. import _kernels  # numba: loaded when a shard is written, not when this module is imported

    return _kernels.pack_u24(np.ascontiguousarray(a, dtype=np.uint32)).tobytes()


def from_u24(raw: np.ndarray) -> np.ndarray:
    """The uint32 values of little-endian 24-bit bytes (``to_u24``'s inverse), e.g. a slice of ``tokens.u24``."""
    b = np.asarray(raw, np.uint8).reshape(-1, 3).astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)


def id_hash_table(vocab: np.ndarray, vocab_ids: np.ndarray) -> np.ndarray:
    """The token hash of every id of a shard, from its ``vocab.npy`` (sorted hashes) and ``vocab_ids.npy``
    (their ids); index 0, the separator, is 0."""
    out = np.zeros(vocab.shape[0] + 1, np.uint64)
    out[np.asarray(vocab_ids).astype(np.int64)] = vocab
    return out


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 4 MiB pieces (the hashes ``done.json``, ``passages.json`` and ``vectors.json``
    record)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
