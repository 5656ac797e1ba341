"""Compiled loops (numba) of the passage layers used by ``ipscope similar``: passage bounds, word-shingle
hashes for MinHash, and BM25 postings.

Kept apart from ``_kernels`` so that changing one file does not invalidate the other's cached machine code
(the trace kernels take ~40 s to compile).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# the token hash's SplitMix64 finaliser, shared with the trace kernels (importing it leaves their cache intact)
from ._kernels import _mix

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_R = np.uint64(23)
_L = np.uint64(41)


@njit(cache=True, nogil=True)
def passage_bounds(doc_tok, length):
    """(P, 2) int32 token positions [start, end) of the passages of a shard whose parts occupy
    ``[doc_tok[d], doc_tok[d + 1] - 1)`` (a separator follows each part). A part is cut into windows of
    ``length`` tokens; a last window shorter than half of ``length`` joins the one before it."""
    n_parts = doc_tok.shape[0] - 1
    count = 0
    for d in range(n_parts):
        n = doc_tok[d + 1] - 1 - doc_tok[d]
        if n > 0:
            k = n // length
            if n - k * length >= (length + 1) // 2 or k == 0:
                k += 1
            count += k
    out = np.empty((count, 2), np.int32)
    j = 0
    for d in range(n_parts):
        a = doc_tok[d]
        e = doc_tok[d + 1] - 1
        n = e - a
        if n <= 0:
            continue
        k = n // length
        if n - k * length >= (length + 1) // 2 or k == 0:
            k += 1
        for i in range(k):
            out[j, 0] = a + i * length
            out[j, 1] = e if i == k - 1 else a + (i + 1) * length
            j += 1
    return out


@njit(cache=True, inline="always")
def _shingle(h0, h1, h2):
    return _mix((h0 * _K1) ^ ((h1 << _R) | (h1 >> _L)) ^ (h2 * _K2))


@njit(cache=True, nogil=True)
def shingle_hashes(hashes, bounds):
    """Word 3-shingle hashes of each window [bounds[i, 0], bounds[i, 1]) of the token hash sequence
    ``hashes``: returns (flat uint64 hashes, uint64 row offsets). A window of one or two tokens gives one
    shingle of what it has (so no window is empty)."""
    P = bounds.shape[0]
    offsets = np.zeros(P + 1, np.uint64)
    total = 0
    for i in range(P):
        n = bounds[i, 1] - bounds[i, 0]
        total += max(1, n - 2)
        offsets[i + 1] = total
    flat = np.empty(total, np.uint64)
    j = 0
    for i in range(P):
        a = bounds[i, 0]
        b = bounds[i, 1]
        n = b - a
        if n < 3:
            h0 = hashes[a] if n > 0 else np.uint64(0)
            h1 = hashes[a + 1] if n > 1 else np.uint64(0)
            flat[j] = _shingle(h0, h1, np.uint64(0))
            j += 1
            continue
        for k in range(a, b - 2):
            flat[j] = _shingle(hashes[k], hashes[k + 1], hashes[k + 2])
            j += 1
    return flat, offsets


@njit(cache=True, nogil=True)
def token_hashes(tok, bounds, id_hash):
    """The token hashes (``id_hash[id]``) of the tokens of the windows, concatenated, and the windows
    re-based onto that array."""
    P = bounds.shape[0]
    total = 0
    for i in range(P):
        total += bounds[i, 1] - bounds[i, 0]
    out = np.empty(total, np.uint64)
    nb = np.empty((P, 2), np.int64)
    j = 0
    for i in range(P):
        nb[i, 0] = j
        for k in range(bounds[i, 0], bounds[i, 1]):
            out[j] = id_hash[tok[k]]
            j += 1
        nb[i, 1] = j
    return out, nb


@njit(cache=True, nogil=True)
def band_keys(sig, rows):
    """LSH band keys: (bands, P) uint32, band j hashing columns [j * rows, (j + 1) * rows) of ``sig``."""
    P = sig.shape[0]
    bands = sig.shape[1] // rows
    out = np.empty((bands, P), np.uint32)
    for p in range(P):
        for j in range(bands):
            h = np.uint64(j + 1) * _K1
            for r in range(rows):
                h = _mix(h ^ np.uint64(sig[p, j * rows + r]))
            out[j, p] = np.uint32(h >> np.uint64(32))
    return out


@njit(cache=True, nogil=True)
def bm25_postings(tok, bounds, n_ids, max_df):
    """Term postings of the passages: for every id 1..n_ids-1 the passages holding it, with the term's
    count there. Ids in more than ``max_df`` passages are not listed (their df is still returned).

    Returns (df int64[n_ids], indptr int64[n_ids + 1], passage uint32[nnz], tf uint16[nnz]); the postings
    of id t are ``passage[indptr[t]:indptr[t + 1]]`` in passage order."""
    P = bounds.shape[0]
    n = 0
    longest = 1
    for i in range(P):
        m = bounds[i, 1] - bounds[i, 0]
        n += m
        longest = max(longest, m)
    # pass 1: the distinct (id, count) of every passage, in passage order
    uid = np.empty(n, np.int32)
    ucount = np.empty(n, np.int32)
    upass = np.empty(n, np.int32)
    df = np.zeros(n_ids, np.int64)
    buf = np.empty(longest, np.int32)
    u = 0
    for i in range(P):
        a = bounds[i, 0]
        m = bounds[i, 1] - a
        for k in range(m):
            buf[k] = tok[a + k]
        s = np.sort(buf[:m])
        k = 0
        while k < m:
            t = s[k]
            c = 1
            while k + c < m and s[k + c] == t:
                c += 1
            if t != 0:
                uid[u] = t
                ucount[u] = c
                upass[u] = i
                df[t] += 1
                u += 1
            k += c
    indptr = np.zeros(n_ids + 1, np.int64)
    for t in range(n_ids):
        indptr[t + 1] = indptr[t] + (df[t] if df[t] <= max_df else 0)
    nnz = indptr[n_ids]
    passage = np.empty(nnz, np.uint32)
    tf = np.empty(nnz, np.uint16)
    fill = indptr[:-1].copy()
    for j in range(u):
        t = uid[j]
        if df[t] <= max_df:
            q = fill[t]
            passage[q] = upass[j]
            tf[q] = min(ucount[j], 65535)
            fill[t] = q + 1
    return df, indptr, passage, tf


@njit(cache=True, nogil=True)
def bm25_accumulate(indptr, passage, tf, ids, weights, plen, avg_len, k1, b, n_passages):
    """Sum over the query terms ``ids`` (shard ids, each once) of ``weight * tf / (tf + k1 * (1 - b +
    b * len / avg_len))`` per passage: BM25 as Lucene (and bm25s) computes it, the idf in ``weights``."""
    scores = np.zeros(n_passages, np.float32)
    for j in range(ids.shape[0]):
        t = ids[j]
        w = weights[j]
        for q in range(indptr[t], indptr[t + 1]):
            p = passage[q]
            f = np.float64(tf[q])
            norm = k1 * (1.0 - b + b * plen[p] / avg_len)
            scores[p] += np.float32(w * f / (f + norm))
    return scores
