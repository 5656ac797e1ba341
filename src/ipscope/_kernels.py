"""Compiled hot loops (numba): tokenising, id assignment, suffix-array search, seed extension.

Everything here works on plain numpy arrays so it can be called from the index builder,
the tracer and tests alike. ``cache=True`` keeps the machine code in ``__pycache__`` so only
the first process after an install pays for compilation.

Token ids and suffix-array entries are stored as 24-bit little-endian integers (3 bytes
each) in ``uint8`` arrays; ``_get24`` reads one. The search kernels read a shard's token and
suffix arrays through a *source* (see ``mem_source`` and ``file_source``): either the
memory-mapped array, or the file read with ``pread`` into a small block cache, so that the
process's memory does not grow with the part of the index a query touches.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True)
def hash_codepoints(cps):
    """Hash of one already-normalised token given as code points (the slow-path twin of
    the hash computed inside ``tokenize``)."""
    h = FNV_OFFSET
    for i in range(cps.shape[0]):
        h = (h ^ np.uint64(cps[i])) * FNV_PRIME
    return _mix(h)


@njit(cache=True, nogil=True)
def tokenize(cps, cls, norm):
    """Split code points into tokens.

    Returns (starts, ends, hashes, complex): char offsets (half-open) of each token, the
    64-bit hash of its normalised form, and 1 where a character of the token has no
    single-character normal form (the caller re-hashes those tokens in Python)."""
    n = cps.shape[0]
    limit = cls.shape[0]
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    hashes = np.empty(n, np.uint64)
    cplx = np.zeros(n, np.uint8)
    k = 0
    i = 0
    while i < n:
        c = cps[i]
        t = cls[c] if c < limit else 0
        if t == 0:
            i += 1
            continue
        if t == 3 and k > 0 and ends[k - 1] == i:
            # a combining mark or conjoining jamo composes with the token just before it
            ends[k - 1] = i + 1
            cplx[k - 1] = 1
            i += 1
            continue
        if t == 2:
            v = norm[c]
            h = (FNV_OFFSET ^ np.uint64(v if v >= 0 else c)) * FNV_PRIME
            starts[k] = i
            ends[k] = i + 1
            hashes[k] = _mix(h)
            cplx[k] = 1 if v < 0 else 0
            k += 1
            i += 1
            continue
        s = i
        h = FNV_OFFSET
        flag = 0
        while i < n:
            c = cps[i]
            if c >= limit or (cls[c] != 1 and cls[c] != 3):
                break
            v = norm[c]
            if v < 0:
                flag = 1
            else:
                h = (h ^ np.uint64(v)) * FNV_PRIME
            i += 1
        starts[k] = s
        ends[k] = i
        hashes[k] = _mix(h)
        cplx[k] = flag
        k += 1
    return starts[:k].copy(), ends[:k].copy(), hashes[:k].copy(), cplx[:k].copy()


@njit(cache=True, nogil=True)
def assign_ids(hashes):
    """Dense ids in first-seen order for 64-bit hashes (open addressing, grows by doubling).
    Returns (ids int32, distinct hashes uint64, occurrences of each id int64)."""
    n = hashes.shape[0]
    cap = 1 << 16
    keys = np.zeros(cap, np.uint64)
    vals = np.full(cap, -1, np.int32)
    uniq = np.empty(max(n, 1), np.uint64)
    counts = np.zeros(max(n, 1), np.int64)
    nu = 0
    ids = np.empty(n, np.int32)
    mask = np.uint64(cap - 1)
    for i in range(n):
        h = hashes[i]
        j = h & mask
        while True:
            v = vals[j]
            if v < 0:
                vals[j] = nu
                keys[j] = h
                uniq[nu] = h
                ids[i] = nu
                counts[nu] = 1
                nu += 1
                break
            if keys[j] == h:
                ids[i] = v
                counts[v] += 1
                break
            j = (j + np.uint64(1)) & mask
        if nu * 2 > cap:  # grow and rehash
            cap *= 2
            mask = np.uint64(cap - 1)
            keys = np.zeros(cap, np.uint64)
            vals = np.full(cap, -1, np.int32)
            for u in range(nu):
                hh = uniq[u]
                jj = hh & mask
                while vals[jj] >= 0:
                    jj = (jj + np.uint64(1)) & mask
                vals[jj] = u
                keys[jj] = hh
    return ids, uniq[:nu].copy(), counts[:nu].copy()


@njit(cache=True, inline="always")
def _get24(a, i):
    j = 3 * i
    return np.int64(a[j]) | (np.int64(a[j + 1]) << 8) | (np.int64(a[j + 2]) << 16)


# --- sources: a memory-mapped array, or a file read with pread through a block cache -------------------
#
# A source is a tuple whose second item is its number of 24-bit entries: (array, entries) reads them from a
# uint8 array (memory-mapped or not); (fd, entries, key, tags address, data address, slots) reads them from
# file descriptor ``fd`` in blocks of CACHE_BLOCK bytes kept in a direct-mapped cache shared by the sources
# of an index (a block's slot found from its key and number; the tags say which block each slot holds).
# The kernels are compiled once per kind of source.

CACHE_SHIFT = 8
CACHE_BLOCK = 1 << CACHE_SHIFT
CACHE_SLOTS = 1 << 15  # 8 MiB of blocks


def _ptr(builder, value, pointee):
    return builder.inttoptr(value, pointee.as_pointer())


@intrinsic
def _pread(typingctx, fd, addr, count, offset):
    """libc pread(fd, (char *) addr, count, offset) -> bytes read (or -1). Linked by name, so the machine
    code caches; addresses, not arrays, so the hot path does no reference counting."""
    sig = types.int64(types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [ir.IntType(32), ir.IntType(8).as_pointer(), i64, i64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "pread")
        return builder.call(fn, [builder.trunc(args[0], ir.IntType(32)), _ptr(builder, args[1], ir.IntType(8)),
                                 args[2], args[3]])

    return sig, codegen


@intrinsic
def _load_u8(typingctx, addr, i):
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        p = builder.gep(_ptr(builder, args[0], ir.IntType(8)), [args[1]])
        return builder.zext(builder.load(p), ir.IntType(64))

    return sig, codegen


@intrinsic
def _load_i64(typingctx, addr, i):
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        return builder.load(builder.gep(_ptr(builder, args[0], ir.IntType(64)), [args[1]]))

    return sig, codegen


@intrinsic
def _store_i64(typingctx, addr, i, v):
    sig = types.void(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        builder.store(args[2], builder.gep(_ptr(builder, args[0], ir.IntType(64)), [args[1]]))
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def _fill(fd, entries, tags, data, key, slot, blk):
    """Read block ``blk`` of file ``fd`` (``entries`` 24-bit entries long) into cache slot ``slot`` (a miss;
    kept out of line, the hit path stays small). A short read (the file shrank after it was opened) is an
    error, never stale bytes."""
    want = min(CACHE_BLOCK, 3 * entries - (blk << CACHE_SHIFT))
    got = _pread(fd, data + (slot << CACHE_SHIFT), CACHE_BLOCK, blk << CACHE_SHIFT)
    if want <= 0 or got < want:
        _store_i64(tags, slot, -1)
        raise OSError("could not read an index file (pread failed or the file is shorter than when opened); "
                      "check the index and the disk")
    _store_i64(tags, slot, (key << 32) | blk)


@njit(cache=True, inline="always")
def _block(src, blk):
    """Offset in the cache data of block ``blk`` of a file source, read on a miss."""
    slot = (blk + src[2] * 0x9E3779B1) & (src[5] - 1)  # consecutive blocks, consecutive slots
    if _load_i64(src[3], slot) != ((src[2] << 32) | blk):
        _fill(src[0], src[1], src[3], src[4], src[2], slot, blk)
    return slot << CACHE_SHIFT


def _r24(src, i):  # pragma: no cover - replaced by the overload below inside compiled code
    """Entry ``i`` of a source (compiled code only)."""
    raise NotImplementedError


@overload(_r24, inline="always")
def _r24_for(src, i):
    """Picks the reader by the source's type when a kernel is compiled, so a kernel compiled for memory
    sources has no trace of the file path and vice versa."""
    if isinstance(src, types.BaseTuple) and isinstance(src.types[0], types.Array):
        def from_memory(src, i):
            return _get24(src[0], i)
        return from_memory

    def from_file(src, i):
        pos = 3 * i
        off = pos & (CACHE_BLOCK - 1)
        d = src[4]
        if off <= CACHE_BLOCK - 3:
            b = _block(src, pos >> CACHE_SHIFT) + off
            return _load_u8(d, b) | (_load_u8(d, b + 1) << 8) | (_load_u8(d, b + 2) << 16)
        # the entry straddles two blocks: byte by byte (unrolled: no loop in inlined code)
        b0 = _load_u8(d, _block(src, pos >> CACHE_SHIFT) + (pos & (CACHE_BLOCK - 1)))
        b1 = _load_u8(d, _block(src, (pos + 1) >> CACHE_SHIFT) + ((pos + 1) & (CACHE_BLOCK - 1)))
        b2 = _load_u8(d, _block(src, (pos + 2) >> CACHE_SHIFT) + ((pos + 2) & (CACHE_BLOCK - 1)))
        return b0 | (b1 << 8) | (b2 << 16)
    return from_file


def new_cache(slots: int = CACHE_SLOTS) -> tuple[np.ndarray, np.ndarray]:
    """(tags, data) of an empty block cache for ``file_source``: ``slots`` (a power of two) blocks of
    CACHE_BLOCK bytes."""
    if slots < 1 or slots & (slots - 1):
        raise ValueError("the number of cache slots must be a power of two")
    return np.full(slots, -1, np.int64), np.zeros(slots << CACHE_SHIFT, np.uint8)


def mem_source(a: np.ndarray) -> tuple:
    """A source reading the 24-bit entries of the uint8 array ``a`` (memory-mapped or not)."""
    if a.flags.writeable:  # one compiled specialisation: the search kernels see read-only arrays
        a = a.view()
        a.setflags(write=False)
    return (a, a.shape[0] // 3)


def file_source(fd: int, entries: int, key: int, cache: tuple[np.ndarray, np.ndarray]) -> tuple:
    """A source reading ``entries`` 24-bit entries from file descriptor ``fd`` through ``cache``;
    ``key`` (unique per file among those sharing the cache) tells their blocks apart. The kernels get
    the cache's addresses: the caller keeps ``cache`` alive while the source is in use."""
    tags, data = cache
    return (fd, entries, key, tags.ctypes.data, data.ctypes.data, tags.shape[0])


@njit(cache=True, nogil=True)
def get24_many(src, idx):
    out = np.empty(idx.shape[0], np.int64)
    for k in range(idx.shape[0]):
        out[k] = _r24(src, idx[k])
    return out


@njit(cache=True, nogil=True)
def _narrow(tok, sa, lo, hi, off, t):
    """Sub-range of [lo, hi) whose suffixes have token ``t`` at offset ``off`` (the suffixes
    in [lo, hi) share their first ``off`` tokens, so those tokens are sorted)."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) >> 1
        if _r24(tok, _r24(sa, mid) + off) < t:
            a = mid + 1
        else:
            b = mid
    new_lo = a
    if a >= hi or _r24(tok, _r24(sa, a) + off) != t:
        return a, a
    # the upper bound by galloping from the lower one: matches are usually few, so this
    # touches far fewer (random) pages than a second binary search over [a, hi)
    prev = a
    step = 1
    while a + step < hi and _r24(tok, _r24(sa, a + step) + off) == t:
        prev = a + step
        step *= 2
    a = prev + 1
    b = min(new_lo + step, hi)
    while a < b:
        mid = (a + b) >> 1
        if _r24(tok, _r24(sa, mid) + off) <= t:
            a = mid + 1
        else:
            b = mid
    return new_lo, a


# The sample: every SAMPLE_EVERY-th suffix-array row's tokens 2 and 3 (offsets 1 and 2),
# kept in memory, so the first three tokens of a seed are located by a binary search in
# memory and then within one window of SAMPLE_EVERY rows of the mapped arrays; without it,
# each seed cost ~two binary searches over the whole first-token range in the mapped
# files (a random page each step).
SAMPLE_EVERY = 128


@njit(cache=True, inline="always")
def _key2(tok, sa, i, ntok):
    p = _r24(sa, i)
    a = _r24(tok, p + 1) if p + 1 < ntok else 0
    b = _r24(tok, p + 2) if p + 2 < ntok else 0
    return (a << 24) | b


@njit(cache=True, nogil=True)
def sample_keys(tok, sa, every):
    """Keys (token at offset 1 << 24 | token at offset 2) of SA rows 0, every, 2*every, ..."""
    n = sa[1]
    ntok = tok[1]
    m = (n + every - 1) // every
    out = np.empty(m, np.int64)
    for r in range(m):
        out[r] = _key2(tok, sa, r * every, ntok)
    return out


@njit(cache=True, nogil=True)
def _first_key(tok, sa, samp, every, lo0, hi0, kq, ntok):
    """(i, key of row i or -1 when not read): the first row i in [lo0, hi0) (rows sharing their first token,
    so sorted by _key2) whose key is >= kq; i = hi0 if none. The key of row i comes free when the search
    read it, and tells the caller whether the range of kq is empty without another (random) read."""
    ra = (lo0 + every - 1) // every
    a = ra
    b = (hi0 + every - 1) // every  # sampled rows ra..b-1 lie in [lo0, hi0)
    while a < b:
        mid = (a + b) >> 1
        if samp[mid] < kq:
            a = mid + 1
        else:
            b = mid
    # the answer lies after the last sampled row below kq and at or before row a * every
    lo = max(lo0, (a - 1) * every + 1) if a > ra else lo0
    hi = min(hi0, a * every)
    k_hi = samp[a] if hi == a * every and a < samp.shape[0] else -1
    while lo < hi:
        mid = (lo + hi) >> 1
        v = _key2(tok, sa, mid, ntok)
        if v < kq:
            lo = mid + 1
        else:
            hi = mid
            k_hi = v
    return lo, (k_hi if lo < hi0 else -1)


@njit(cache=True, nogil=True)
def _range3(q, j, tok, sa, bucket, samp, every):
    """SA range of query tokens q[j:j+3] (all >= 1, q[j] a valid bucket).

    The lower bound is a binary search (in the in-memory sample, then within one window of the mapped
    arrays). The upper bound mostly costs no or few reads: an empty range is known from the key found at
    the lower bound; otherwise the sample bounds the last row of the range to one window, and a range
    inside one window (the usual case) is found by galloping from its first row."""
    ntok = tok[1]
    lo0 = bucket[q[j]]
    hi0 = bucket[q[j] + 1]
    if hi0 <= lo0:
        return lo0, lo0
    kq = (q[j + 1] << 24) | q[j + 2]
    lo, klo = _first_key(tok, sa, samp, every, lo0, hi0, kq, ntok)
    if lo >= hi0:
        return lo, lo
    if klo < 0:
        klo = _key2(tok, sa, lo, ntok)
    if klo != kq:
        return lo, lo
    # sampled rows after lo: the first with a key > kq bounds the range (ub); the last with key == kq (lb)
    # means the range reaches at least that far
    a = lo // every + 1
    b = (hi0 + every - 1) // every
    while a < b:
        mid = (a + b) >> 1
        if samp[mid] <= kq:
            a = mid + 1
        else:
            b = mid
    ub = min(hi0, a * every)
    first = lo // every + 1
    start = lo
    if a > first:  # a sampled row inside the range: the end lies in the window after the last such row
        start = (a - 1) * every
    else:  # no sampled row inside: gallop from lo (ranges are usually short)
        step = 1
        while start + step < ub and _key2(tok, sa, start + step, ntok) == kq:
            start += step
            step *= 2
        ub = min(ub, start + step)
    # the last row with key == kq is in [start, ub): binary search for the first row > start with a larger key
    x = start + 1
    y = ub
    while x < y:
        mid = (x + y) >> 1
        if _key2(tok, sa, mid, ntok) <= kq:
            x = mid + 1
        else:
            y = mid
    return lo, x


@njit(cache=True, nogil=True)
def count_range(q, tok, sa, bucket, samp, every):
    """SA range [lo, hi) of the exact token sequence ``q`` (ids; -1 never matches)."""
    t = q[0]
    if t < 0 or t + 1 >= bucket.shape[0]:
        return 0, 0
    lo = bucket[t]
    hi = bucket[t + 1]
    start = 1
    if q.shape[0] >= 3:
        if q[1] <= 0 or q[2] <= 0:
            return 0, 0
        lo, hi = _range3(q, 0, tok, sa, bucket, samp, every)
        start = 3
    for off in range(start, q.shape[0]):
        if hi <= lo:
            break
        if hi - lo <= 8:
            break  # few candidates left: compare them whole (sequential reads, no searches)
        t = q[off]
        if t < 0:
            return 0, 0
        lo, hi = _narrow(tok, sa, lo, hi, off, t)
    else:
        return lo, hi
    if hi <= lo:
        return lo, lo
    # the suffixes holding q are contiguous in [lo, hi): find them by direct comparison
    ntok = tok[1]
    first = -1
    last = -1
    for i in range(lo, hi):
        p = _r24(sa, i)
        ok = p + q.shape[0] <= ntok
        k = 0
        while ok and k < q.shape[0]:
            if q[k] < 0 or _r24(tok, p + k) != q[k]:
                ok = False
            k += 1
        if ok:
            if first < 0:
                first = i
            last = i
    if first < 0:
        return lo, lo
    return first, last + 1


@njit(cache=True, inline="always")
def _qtok_eq(q, a, tok, b):
    return q[a] == _r24(tok, b)


@njit(cache=True, nogil=True)
def _extend(q, tok, ntok, qi, si, d, gap, rmin, pen, xdrop):
    """X-drop extension of an alignment from (qi, si), stepping ``d`` (+1 or -1).

    Exact runs score +1 a token; an edit (substitution, insertion or deletion of up to
    ``gap`` tokens on either side) costs ``pen`` per skipped token and is taken only when
    at least ``rmin`` matching tokens follow it. Stops at the query's end, at a document
    boundary (token 0) or when the score falls ``xdrop`` below its best, and returns the
    position just past the best-scoring point, its matched-token count and edit count."""
    m = q.shape[0]
    score = 0
    best = 0
    bq = qi
    bs = si
    matched = 0
    edits = 0
    best_matched = 0
    best_edits = 0
    while True:
        while 0 <= qi < m and 0 <= si < ntok and _qtok_eq(q, qi, tok, si):
            qi += d
            si += d
            score += 1
            matched += 1
        if score > best:
            best = score
            bq = qi
            bs = si
            best_matched = matched
            best_edits = edits
        if not (0 <= qi < m and 0 <= si < ntok) or _r24(tok, si) == 0:
            break
        best_run = 0
        bdq = 0
        bds = 0
        bcost = 1 << 30
        for dq in range(gap + 1):
            for ds in range(gap + 1):
                if dq == 0 and ds == 0:
                    continue
                ok = True
                for x in range(ds):  # never skip over a document boundary
                    p = si + d * x
                    if p < 0 or p >= ntok or _r24(tok, p) == 0:
                        ok = False
                        break
                if not ok:
                    continue
                a = qi + d * dq
                b = si + d * ds
                run = 0
                while run < 4 and 0 <= a < m and 0 <= b < ntok and _qtok_eq(q, a, tok, b):
                    run += 1
                    a += d
                    b += d
                cost = dq if dq > ds else ds
                if run > best_run or (run == best_run and cost < bcost):
                    best_run = run
                    bdq = dq
                    bds = ds
                    bcost = cost
        if best_run < rmin:
            break
        score -= pen * bcost
        if score < best - xdrop:
            break
        edits += 1
        qi += d * bdq
        si += d * bds
    return bq, bs, best_matched, best_edits


@njit(cache=True, nogil=True)
def trace_shard(q, tok, sa, bucket, samp, every, j_from, j_to, cover_end, seed_len, stride, min_tokens, max_occ,
                gap, rmin, pen, xdrop):
    """Seed-and-extend over one shard.

    Seeds: at every ``stride``-th query position, the shortest exact match of at least
    ``seed_len`` tokens that occurs at most ``max_occ`` times; a match still more frequent
    at ``min_tokens`` tokens seeds with its first ``max_occ`` occurrences (a sample: the
    caller counts all of them separately). Each seed occurrence is extended both ways with
    ``_extend``; a seed occurrence already inside an alignment is skipped, and so are query
    positions inside an alignment of ``min_tokens`` matched tokens. Returns an (n, 6) int64
    array of alignments (query start, query end, source start, source end as token
    positions in the shard, matched tokens, edits) and the new ``cover_end``.

    Seeds are taken at query positions j_from, j_from + stride, ... below j_to (so a long
    query can be traced in chunks, the caller keeping memory in check between them), with
    ``cover_end`` carried over from the previous chunk."""
    m = q.shape[0]
    ntok = tok[1]
    nb = bucket.shape[0]
    cap = 64
    out = np.empty((cap, 6), np.int64)
    n_out = 0
    # alignments start at or before the seed that found them, so a frontier (cover_end)
    # is enough to skip query positions they already cover
    j = j_from - stride
    while True:
        j += stride
        if j >= j_to or j + seed_len > m:
            break
        if j < cover_end or q[j] < 0 or q[j] + 1 >= nb:
            continue
        t = q[j]
        lo = bucket[t]
        hi = bucket[t + 1]
        L = 1
        if seed_len >= 3 and hi > lo:
            if q[j + 1] <= 0 or q[j + 2] <= 0:
                continue
            lo, hi = _range3(q, j, tok, sa, bucket, samp, every)
            L = 3
        while hi > lo and j + L < m and (L < seed_len or (hi - lo > max_occ and L < min_tokens)):
            t = q[j + L]
            if t < 0:
                hi = lo
                break
            lo, hi = _narrow(tok, sa, lo, hi, L, t)
            L += 1
        if hi <= lo or L < seed_len or (hi - lo > max_occ and L < min_tokens):
            continue
        for i in range(lo, min(hi, lo + max_occ)):
            p = _r24(sa, i)
            dup = False
            for r in range(max(0, n_out - 64), n_out):  # recent alignments only: O(1) per seed
                if out[r, 0] <= j < out[r, 1] and out[r, 2] <= p < out[r, 3]:
                    dup = True
                    break
            if dup:
                continue
            qe, se, mr, er = _extend(q, tok, ntok, j + L, p + L, 1, gap, rmin, pen, xdrop)
            qb, sb, ml, el = _extend(q, tok, ntok, j - 1, p - 1, -1, gap, rmin, pen, xdrop)
            if n_out == cap:
                cap *= 2
                bigger = np.empty((cap, 6), np.int64)
                bigger[:n_out] = out[:n_out]
                out = bigger
            out[n_out, 0] = qb + 1
            out[n_out, 1] = qe
            out[n_out, 2] = sb + 1
            out[n_out, 3] = se
            out[n_out, 4] = L + mr + ml
            out[n_out, 5] = er + el
            if L + mr + ml >= min_tokens and qe > cover_end:
                cover_end = qe
            n_out += 1
    return out[:n_out].copy(), cover_end


# the order-preserving code of token ids for the suffix sort: lead byte ranges by length
_C1 = 200  # ids 0..199: one byte
_C2 = _C1 + 48 * 256  # leads 200..247 + one byte
_C3 = _C2 + 7 * 65536  # leads 248..254 + two bytes; lead 255 + three bytes beyond


@njit(cache=True, inline="always")
def _code_len(v):
    if v < _C1:
        return 1
    if v < _C2:
        return 2
    if v < _C3:
        return 3
    return 4


@njit(cache=True, nogil=True)
def varint_sortable(tok):
    """Encode ids (< 2**24) as an order-preserving, prefix-free byte string: the length of
    a code is fixed by its first byte and codes of one length cover consecutive id ranges,
    so byte order of two encoded sequences equals the order of the id sequences. With ids
    ranked by frequency most tokens take one byte (about 1.4 bytes a token on English),
    so the suffix sort has far less to sort than with fixed 3-byte ids."""
    n = tok.shape[0]
    out = np.empty(n * 4, np.uint8)
    k = 0
    for i in range(n):
        v = np.int64(tok[i])
        if v < _C1:
            out[k] = v
            k += 1
        elif v < _C2:
            r = v - _C1
            out[k] = _C1 + (r >> 8)
            out[k + 1] = r & 0xFF
            k += 2
        elif v < _C3:
            r = v - _C2
            out[k] = 248 + (r >> 16)
            out[k + 1] = (r >> 8) & 0xFF
            out[k + 2] = r & 0xFF
            k += 3
        else:
            r = v - _C3
            out[k] = 255
            out[k + 1] = (r >> 16) & 0xFF
            out[k + 2] = (r >> 8) & 0xFF
            out[k + 3] = r & 0xFF
            k += 4
    return out[:k]


@njit(cache=True, nogil=True)
def token_starts_only(sa_bytes, tok, nb):
    """Keep the suffixes of the encoded bytes (``nb`` of them) that start at an id, as id
    positions. Which bytes start an id is a bitmap with a count per 64-bit word (~1/6 byte
    per encoded byte, so it stays in cache while ``sa_bytes`` streams past); an id's
    position is the number of starts before its byte."""
    nw = (nb >> 6) + 1
    bits = np.zeros(nw, np.uint64)
    b = 0
    for t in range(tok.shape[0]):
        bits[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        b += _code_len(np.int64(tok[t]))
    before = np.empty(nw, np.int32)  # starts in the words before this one (< 2**24)
    c = 0
    for w in range(nw):
        before[w] = c
        c += _popcount(bits[w])
    out = np.empty(tok.shape[0], np.uint32)
    k = 0
    for i in range(sa_bytes.shape[0]):
        p = sa_bytes[i]
        word = bits[p >> 6]
        bit = np.uint64(1) << np.uint64(p & 63)
        if word & bit:
            out[k] = before[p >> 6] + _popcount(word & (bit - np.uint64(1)))
            k += 1
    return out


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def layout_tokens(ids, rank, lengths):
    """Token array of a shard: each part's ids (mapped through ``rank``) followed by a 0
    separator. Returns (tokens uint32, start of each part + end)."""
    n_parts = lengths.shape[0]
    total = ids.shape[0] + n_parts
    tok = np.zeros(max(total, 1), np.uint32)
    starts = np.zeros(n_parts + 1, np.int64)
    src = 0
    dst = 0
    for p in range(n_parts):
        starts[p] = dst
        for _ in range(lengths[p]):
            tok[dst] = rank[ids[src]]
            dst += 1
            src += 1
        dst += 1  # the separator (already 0)
    starts[n_parts] = dst
    return tok, starts


@njit(cache=True, nogil=True)
def pack_u24(a):
    """Little-endian 24-bit packing of non-negative ints < 2**24 (3 bytes each)."""
    n = a.shape[0]
    out = np.empty(3 * n, np.uint8)
    for i in range(n):
        v = a[i]
        out[3 * i] = v & 0xFF
        out[3 * i + 1] = (v >> 8) & 0xFF
        out[3 * i + 2] = (v >> 16) & 0xFF
    return out
