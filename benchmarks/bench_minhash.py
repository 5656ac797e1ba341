"""Pick the MinHash implementation for `ipscope similar` by measuring the candidates in one run.

Passages of 200 words from the shared Project Gutenberg books are shingled into 5-word shingles
(64-bit hashes built from ipscope's token hashes, so every candidate sees the same integers), and each
candidate computes 128-permutation signatures for all of them:

* rensa R-MinHash (``RMinHash.digest_matrix_from_flat_token_hashes``: one flat buffer and row offsets,
  the shape a shard's token hashes already have),
* rensa C-MinHash (``CMinHash.digests64_from_token_hash_sets``),
* datasketch ``MinHash`` (``update_batch`` per passage; values given as 8-byte strings),
* a plain numpy version (multiply-shift permutations of the 64-bit hashes, 512 passages a batch).

Figures: passages per second and shingles per second (median of 3 runs), and accuracy: the mean
absolute error of the estimated Jaccard similarity against the exact one, on pairs of a passage and an
edited copy of it (1 word in k replaced, k from 3 to 40, so true similarities spread over 0.1-0.9).
One JSON line, appended to benchmarks/results/bench_minhash.jsonl.

    python benchmarks/bench_minhash.py              # all shared books
    python benchmarks/bench_minhash.py --books 5    # quicker
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import planted  # noqa: E402
from _results import record  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
NUM_PERM = 128
SHINGLE = 5
PASSAGE_WORDS = 200
_P1, _P2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


def shingle_hashes(text: str) -> np.ndarray:
    """64-bit hashes of the 5-token shingles of ``text`` (ipscope's tokens and token hashes)."""
    from ipscope.text import tokenize

    h = tokenize(text).hashes
    if h.shape[0] < SHINGLE:
        return h.copy()
    out = np.zeros(h.shape[0] - SHINGLE + 1, np.uint64)
    with np.errstate(over="ignore"):
        for k in range(SHINGLE):
            out = (out * _P1) ^ (h[k : h.shape[0] - SHINGLE + 1 + k] * _P2)
    return out


def passages(books: int) -> list[str]:
    out: list[str] = []
    for p in sorted((SHARED / "gutenberg").glob("*.txt"))[:books]:
        words = planted.body(planted._read_book(p)).split()
        out += [" ".join(words[i : i + PASSAGE_WORDS]) for i in range(0, len(words) - PASSAGE_WORDS, PASSAGE_WORDS)]
    return out


def edited(text: str, every: int, rnd: random.Random) -> str:
    words = text.split()
    for i in range(rnd.randrange(every), len(words), every):
        words[i] = "zq" + str(rnd.randrange(10**6))
    return " ".join(words)


# ---------------------------------------------------------------------------------- candidates


def sig_rensa_r(sets: list[np.ndarray]) -> np.ndarray:
    import rensa

    flat = np.concatenate(sets)
    offsets = np.zeros(len(sets) + 1, np.uint64)
    offsets[1:] = np.cumsum([s.shape[0] for s in sets])
    m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_PERM, 1)
    return np.asarray(m.to_rows(), dtype=np.uint64)


def sig_rensa_c(sets: list[np.ndarray]) -> np.ndarray:
    import rensa

    rows = rensa.CMinHash.digests64_from_token_hash_sets([s.tolist() for s in sets], NUM_PERM, 1)
    return np.asarray(rows, dtype=np.uint64)


def sig_datasketch(sets: list[np.ndarray]) -> np.ndarray:
    from datasketch import MinHash

    out = np.empty((len(sets), NUM_PERM), np.uint64)
    for i, s in enumerate(sets):
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch([int(v).to_bytes(8, "little") for v in s.tolist()])
        out[i] = m.hashvalues
    return out


def sig_numpy(sets: list[np.ndarray], batch: int = 512) -> np.ndarray:
    """Multiply-shift permutations of the (already well-mixed) 64-bit shingle hashes: h_i(x) = the high
    32 bits of a_i * x + b_i modulo 2^64, a_i odd; the minimum per passage and permutation."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)
    out = np.empty((len(sets), NUM_PERM), np.uint64)
    for start in range(0, len(sets), batch):
        chunk = sets[start : start + batch]
        flat = np.concatenate(chunk)
        bounds = np.zeros(len(chunk), np.int64)
        bounds[1:] = np.cumsum([c.shape[0] for c in chunk])[:-1]
        with np.errstate(over="ignore"):
            v = (flat[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)
        out[start : start + len(chunk)] = np.minimum.reduceat(v, bounds, axis=0)
    return out


CANDIDATES = {"rensa-rminhash": sig_rensa_r, "rensa-cminhash": sig_rensa_c, "datasketch": sig_datasketch,
              "numpy": sig_numpy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--books", type=int, default=33)
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--out", default=str(HERE / "results" / "bench_minhash.jsonl"))
    args = ap.parse_args()
    texts = passages(args.books)
    sets = [np.unique(shingle_hashes(t)) for t in texts]
    n_shingles = sum(s.shape[0] for s in sets)
    rnd = random.Random(7)
    picks = rnd.sample(range(len(texts)), min(args.pairs, len(texts)))
    pair_a = [sets[i] for i in picks]
    pair_b = [np.unique(shingle_hashes(edited(texts[i], rnd.choice([3, 5, 8, 12, 20, 40]), rnd))) for i in picks]
    exact = [np.intersect1d(x, y).shape[0] / np.union1d(x, y).shape[0] for x, y in zip(pair_a, pair_b)]
    row: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "bench": "minhash",
                 "passages": len(sets), "shingles": n_shingles, "num_perm": NUM_PERM, "candidates": {}}
    for name, fn in CANDIDATES.items():
        try:
            times = []
            for _ in range(3):
                t = time.perf_counter()
                fn(sets)
                times.append(time.perf_counter() - t)
            sa, sb = fn(pair_a), fn(pair_b)
        except ImportError as e:
            row["candidates"][name] = {"skipped": str(e)}
            continue
        est = (sa == sb).mean(axis=1)
        err = np.abs(est - np.array(exact))
        sec = statistics.median(times)
        row["candidates"][name] = {"seconds": round(sec, 3), "passages_per_s": round(len(sets) / sec),
                                   "shingles_per_s": round(n_shingles / sec), "jaccard_mae": round(float(err.mean()), 4),
                                   "jaccard_max_err": round(float(err.max()), 4)}
    record(row, args.out)


if __name__ == "__main__":
    main()
