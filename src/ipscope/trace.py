"""``trace``: which passages of a text come (near-)verbatim from the indexed corpus.

Seed and extend, per shard (see ``_kernels.trace_shard``):

1. Seeds: at every ``stride``-th query token, the shortest exact match of at least
   ``seed_len`` tokens that occurs at most ``max_occurrences`` times in the shard, found by
   narrowing a suffix-array range token by token. With ``seed_len + stride - 1 <=
   min_tokens`` every verbatim match of ``min_tokens`` tokens holds a seed position; it is
   found unless the tokens from that position to the match's end are a phrase occurring
   more than ``max_occurrences`` times in the shard (the search then runs past the match).
2. Each seed occurrence is extended left and right through the source document with an
   X-drop alignment that bridges small edits (substituted, inserted or deleted words),
   so a lightly edited copy comes out as one near-verbatim span.
3. Alignments of at least ``min_tokens`` matched tokens become spans; alignments with the
   same query extent are one span with several sources; an alignment adding fewer than
   ``min_tokens`` new query tokens to what longer spans already cover is dropped.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .index.format import Index
from .searcher import BlockCache, Searcher
from .text import tokenize
from .types import DocumentMatch, Source, Span, TraceReport

DEFAULT_MIN_TOKENS = 12
DEFAULT_MAX_RSS_MB = 300.0
from .corpus.query import MAX_QUERY_CHARS, QueryText  # noqa: F401  (re-exported)
SEED_CHUNK = 100  # seeds per kernel call


@dataclass(frozen=True)
class TraceOptions:
    min_tokens: int = DEFAULT_MIN_TOKENS
    max_occurrences: int = 32  # seeds more frequent than this are lengthened (or sampled)
    max_sources: int = 20  # sources listed per span (total_occurrences still counts all)
    gap: int = 3  # the most tokens one edit may skip on either side
    run_after_edit: int = 1  # matching tokens needed after an edit to take it
    edit_penalty: int = 2
    xdrop: int = 8
    excerpts: int | None = None  # attach each source's matched text with this much context
    seed_len: int | None = None  # override the seed length derived from min_tokens
    stride: int | None = None  # override the seed stride derived from min_tokens
    max_rss_mb: float | None = DEFAULT_MAX_RSS_MB  # a memory budget: read the index with pread (see _arrays); None: map it

    def seed_params(self) -> tuple[int, int]:
        """(seed length, stride) with seed length + stride - 1 <= min_tokens, so every
        verbatim match of min_tokens tokens holds a seed; short seeds also catch the
        short runs between edits of a lightly edited copy (a seed alone reports nothing:
        its alignment must reach min_tokens matched tokens)."""
        n = max(1, self.min_tokens)
        seed = max(min(n, 3), n // 4)
        stride = n - seed + 1
        return self.seed_len or seed, self.stride or stride


@dataclass
class _Align:
    qs: int
    qe: int
    shard: int
    part: int
    ss: int  # part-local token offsets in the source
    se: int
    matched: int
    edits: int


def _collect(s: Searcher, hashes: np.ndarray, opts: TraceOptions, cache: BlockCache | None
             ) -> tuple[list[_Align], list[np.ndarray]]:
    from . import _kernels

    seed_len, stride = opts.seed_params()
    found: list[_Align] = []
    shard_ids: list[np.ndarray] = []
    for si, shard in enumerate(s.index.shards):
        q = shard.ids_for(hashes)
        shard_ids.append(q)
        if int((q >= 0).sum()) < opts.min_tokens:
            continue
        arrays = _arrays(s, si, opts.max_rss_mb, cache)
        chunks: list[np.ndarray] = []
        cover_end = 0
        # seeds in chunks of SEED_CHUNK (the found alignments of a huge query are collected chunk by chunk)
        for j_from in range(0, q.shape[0], SEED_CHUNK * stride):
            found_rows, cover_end = _kernels.trace_shard(
                q, *arrays, j_from, j_from + SEED_CHUNK * stride, cover_end, seed_len, stride, opts.min_tokens,
                opts.max_occurrences, opts.gap, opts.run_after_edit, opts.edit_penalty, opts.xdrop,
            )
            chunks.append(found_rows)
        rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        if rows.shape[0] == 0:
            continue
        doc_tok = shard.doc_tok
        for (qs, qe, ss, se, matched, edits), d in zip(rows.tolist(), shard.parts_of(rows[:, 2]).tolist()):
            if matched < opts.min_tokens or d in shard.excluded:
                continue
            base = int(doc_tok[d])
            found.append(_Align(qs, qe, si, d, ss - base, se - base, matched, edits))
    return found, shard_ids


def alignments(index: "Index | Searcher", hashes: np.ndarray, opts: TraceOptions | None = None) -> list[_Align]:
    """Every verbatim or near-verbatim alignment of the query tokens ``hashes`` with a source, before trace
    chooses the spans it reports (``ipscope similar`` uses them per document)."""
    opts = opts or TraceOptions()
    if hashes.shape[0] < opts.min_tokens:
        return []
    s = Searcher.of(index)
    with _borrowed_cache(s, opts) as cache:
        return _collect(s, hashes, opts, cache)[0]


def _borrowed_cache(s: Searcher, opts: TraceOptions):
    """A block cache of ``s`` for one query when it reads with pread (a memory budget), else none."""
    return s.block_cache() if opts.max_rss_mb else nullcontext(None)


def _arrays(s: Searcher, si: int, max_rss_mb: float | None, cache: BlockCache | None) -> tuple:
    """The kernels' view of shard ``si``. With a memory budget the token and suffix arrays are read
    with pread through ``cache``, a block cache the query borrowed from its searcher
    (``_kernels.CACHE_SLOTS`` x ``CACHE_BLOCK`` bytes, 8 MiB; see ``ipscope.searcher``), so a query's random
    reads never make index pages resident in this process; without one they are memory-mapped (about twice as
    fast on a 100M-token index, but RSS then grows towards the size of those arrays)."""
    shard = s.index.shards[si]
    if not max_rss_mb:
        return shard.search_arrays
    assert cache is not None
    return shard.file_arrays(2 * si, cache)


def _occurrences(s: Searcher, shard_ids: list[np.ndarray], qs: int, qe: int, max_rss_mb: float | None,
                 cache: BlockCache | None) -> int:
    """Places in the corpus holding query tokens [qs, qe) exactly (skipped duplicate
    documents, still present in their shard, are not counted)."""
    from . import _kernels

    total = 0
    for si, (shard, q) in enumerate(zip(s.index.shards, shard_ids)):
        seq = q[qs:qe]
        if seq.shape[0] == 0 or (seq < 0).any():
            continue
        arrays = _arrays(s, si, max_rss_mb, cache)
        lo, hi = _kernels.count_range(seq, *arrays)
        if hi > lo and shard.excluded:
            parts = shard.parts_of(_kernels.get24_many(arrays[1], np.arange(lo, hi, dtype=np.int64)))
            total += int((~np.isin(parts, np.fromiter(shard.excluded, np.int64))).sum())
        else:
            total += max(0, hi - lo)
    return total


def _warm_kernels(src: tuple, bucket: np.ndarray, samp: np.ndarray) -> None:
    from . import _kernels

    _kernels.trace_shard(np.array([1, 1, 1, 1], np.int64), src, src, bucket, samp, 1, 0, 4, 0, 3, 1, 1, 1, 1, 1, 1, 1)
    _kernels.count_range(np.array([1, 1, 1], np.int64), src, src, bucket, samp, 1)
    _kernels.get24_many(src, np.zeros(1, np.int64))


def warm_up(opts: TraceOptions | None = None) -> None:
    """Load the compiled kernels (from numba's cache) so the first query's ``elapsed_ms``
    measures tracing, not loading machine code. The kernels exist once for memory-mapped and
    once for pread access (see ``_arrays``); only the one ``opts`` will use is loaded (both
    without ``opts``)."""
    from . import _kernels

    tok = np.zeros(3 * 4, np.uint8)
    bucket = np.zeros(3, np.int32)
    tok.setflags(write=False)  # the same types as memory-mapped shards: read-only arrays
    bucket.setflags(write=False)
    samp = np.zeros(1, np.int64)
    # the kernels are compiled once per kind of source: load the ones needed (memory-mapped, pread)
    mapped = opts is None or not opts.max_rss_mb
    with_file = opts is None or bool(opts.max_rss_mb)
    if mapped:
        _warm_kernels(_kernels.mem_source(tok), bucket, samp)
    if with_file:  # a real file for the pread version (a temporary one: no index is at hand)
        import tempfile

        with tempfile.TemporaryFile() as f:
            f.write(tok.tobytes())
            f.flush()
            cache = _kernels.new_cache(1)
            _warm_kernels(_kernels.file_source(f.fileno(), 4, 0, cache), bucket, samp)
    tokenize("warm up")


def _excerpt(shard, part: int, doc_id: str, start: int, end: int, context: int, texts: dict, meta: dict) -> Source:
    key = (shard.name, part)
    if key not in texts:
        texts[key] = shard.doc_text(part)
    text = texts[key]
    base = int(shard.doc_offset[part])
    a, b = start - base, end - base
    return Source(doc_id, start, end, text[a:b], text[max(0, a - context) : a], text[b : b + context], meta)


def trace(index: "Index | Searcher", text: "str | QueryText", query: str | None = None,
          opts: TraceOptions | None = None) -> TraceReport:
    """Trace ``text`` against ``index`` (an ``Index``, searched with its default searcher, or a ``Searcher``;
    either may be shared between threads); ``query`` names it in the report (default: the ``QueryText``'s
    name, or ``-``). The report carries its provenance and the index's notes (``ipscope.provenance``).
    Raises ``InputError`` for a query longer than ``MAX_QUERY_CHARS``."""
    from . import provenance
    from .corpus.query import check_query_size

    opts = opts or TraceOptions()
    s = Searcher.of(index)
    q = provenance.as_query(text, query)
    check_query_size(q.text, q.name, "trace")
    with _borrowed_cache(s, opts) as cache:
        report = _trace(s, q.text, q.name, opts, cache)
    return provenance.attach(report, s.index, q, opts)


def _trace(s: Searcher, text: str, query: str, opts: TraceOptions, cache: BlockCache | None) -> TraceReport:
    t0 = time.perf_counter()
    index = s.index
    toks = tokenize(text)
    m = len(toks)
    aligns, shard_ids = _collect(s, toks.hashes, opts, cache) if m >= opts.min_tokens else ([], [])

    # group alignments with the same query extent and kind into one span
    groups: dict[tuple[int, int, bool], list[_Align]] = defaultdict(list)
    for a in aligns:
        groups[(a.qs, a.qe, a.edits == 0 and a.matched == a.qe - a.qs)].append(a)
    order = sorted(groups.items(), key=lambda kv: (-max(a.matched for a in kv[1]), not kv[0][2], kv[0][0]))
    covered = np.zeros(m, bool)
    chosen: list[tuple[tuple[int, int, bool], list[_Align]]] = []
    for key, members in order:
        qs, qe, _ = key
        new = int((~covered[qs:qe]).sum())
        if new >= opts.min_tokens or (new == qe - qs and new > 0):
            covered[qs:qe] = True
            chosen.append((key, members))

    spans: list[Span] = []
    doc_texts: dict = {}  # (shard, part) -> the document's text, read once a report (excerpts)
    metas: dict[tuple[int, int], dict] = {}  # (shard, part) -> the document's metadata, read once a report
    per_doc: dict[str, np.ndarray] = {}
    for (qs, qe, verbatim), members in sorted(chosen, key=lambda kv: (kv[0][0], kv[0][1])):
        members.sort(key=lambda a: (a.edits, -a.matched, a.shard, a.part))
        sources = []
        seen: set[tuple[str, int, int]] = set()
        for a in members:
            shard = index.shards[a.shard]
            start, end = shard.span_chars(a.part, a.ss, a.se)
            doc_id = shard.doc_id(a.part)
            if (doc_id, start, end) in seen:
                continue
            seen.add((doc_id, start, end))
            mask = per_doc.setdefault(doc_id, np.zeros(m, bool))
            mask[qs:qe] = True
            if len(sources) < opts.max_sources:
                meta = metas.get((a.shard, a.part))
                if meta is None:
                    meta = metas[(a.shard, a.part)] = shard.meta(a.part)
                sources.append(_excerpt(shard, a.part, doc_id, start, end, opts.excerpts, doc_texts, meta)
                               if opts.excerpts is not None else Source(doc_id, start, end, meta=meta))
        occ = _occurrences(s, shard_ids, qs, qe, opts.max_rss_mb, cache) if verbatim else len(seen)
        best = members[0]
        spans.append(
            Span(
                start=int(toks.starts[qs]), end=int(toks.ends[qe - 1]), tokens=qe - qs,
                kind="verbatim" if verbatim else "near-verbatim", total_occurrences=max(occ, len(sources)),
                sources=tuple(sources), matched_tokens=best.matched if not verbatim else qe - qs,
                edits=best.edits, token_start=qs, token_end=qe,
            )
        )
    docs = sorted(((d, int(mask.sum())) for d, mask in per_doc.items()), key=lambda x: (-x[1], x[0]))
    elapsed = (time.perf_counter() - t0) * 1000
    return TraceReport(
        query=query, query_chars=len(text), query_tokens=m,
        coverage=float(covered.sum()) / m if m else 0.0, elapsed_ms=elapsed,
        spans=tuple(spans), documents=tuple(DocumentMatch(d, n) for d, n in docs),
        min_tokens=opts.min_tokens, text=text,
    )
