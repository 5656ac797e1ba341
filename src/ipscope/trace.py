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
from typing import Any, Sequence

import numpy as np

from .index.format import Index
from .searcher import BlockCache, Searcher
from .text import QueryState, tokenize, tokenize_once
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


def _collect(s: Searcher, hashes: np.ndarray, opts: TraceOptions, cache: BlockCache | None,
             shards: "Sequence[int] | None" = None, ids: dict[int, np.ndarray] | None = None) -> list[_Align]:
    """The alignments of the query tokens ``hashes`` in the shards ``shards`` (numbered as in the manifest;
    default all), shard by shard in ascending order. ``ids``: the query's token ids per shard, filled here."""
    from . import _kernels

    seed_len, stride = opts.seed_params()
    found: list[_Align] = []
    all_shards = s.index.shards
    for si in (range(len(all_shards)) if shards is None else sorted(shards)):
        shard = all_shards[si]
        q = ids.get(si) if ids is not None else None
        if q is None:
            q = shard.ids_for(hashes)
            if ids is not None:
                ids[si] = q
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
    return found


def alignments(index: "Index | Searcher", hashes: np.ndarray, opts: TraceOptions | None = None,
               shards: "Sequence[int] | None" = None) -> list[_Align]:
    """Every verbatim or near-verbatim alignment of the query tokens ``hashes`` with a source (in the shards
    ``shards``, default all), before trace chooses the spans it reports (``ipscope similar`` uses them per
    document)."""
    opts = opts or TraceOptions()
    if hashes.shape[0] < opts.min_tokens:
        return []
    s = Searcher.of(index)
    with _borrowed_cache(s, opts) as cache:
        return _collect(s, hashes, opts, cache, shards)


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


def _occurrences(s: Searcher, si: int, q: np.ndarray, qs: int, qe: int, max_rss_mb: float | None,
                 cache: BlockCache | None) -> int:
    """Places in shard ``si`` holding query tokens [qs, qe) exactly (``q``: the query's token ids in the shard;
    skipped duplicate documents, still present in their shard, are not counted)."""
    from . import _kernels

    shard = s.index.shards[si]
    seq = q[qs:qe]
    if seq.shape[0] == 0 or (seq < 0).any():
        return 0
    arrays = _arrays(s, si, max_rss_mb, cache)
    lo, hi = _kernels.count_range(seq, *arrays)
    if hi > lo and shard.excluded:
        parts = shard.parts_of(_kernels.get24_many(arrays[1], np.arange(lo, hi, dtype=np.int64)))
        return int((~np.isin(parts, np.fromiter(shard.excluded, np.int64))).sum())
    return max(0, hi - lo)


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




# ------------------------------------------------------------------------------ two phases (sharded serving)
#
# trace() runs in two phases so that a router (ipscope.service.router) can scatter it over shard servers:
# COLLECT, per shard, finds the alignments (``trace_collect``); the router CHOOSES the spans from all of them
# (``_choose``: which alignments become spans is a global choice); RESOLVE, per shard, reads what the chosen
# spans need from the shards holding them (source offsets, ids, metadata, excerpts, and the occurrences of each
# verbatim span in every shard: ``trace_resolve``); FINISH builds the report (``_finish``). In one process the
# same functions run over every shard (``trace``), so the router's answer is the one-process answer.
# The partials are plain JSON values (docs/scale.md, "Sharded serving").

Chosen = tuple[tuple[int, int, bool], list[_Align]]


def _align_row(a: _Align) -> list[int]:
    return [a.qs, a.qe, a.shard, a.part, a.ss, a.se, a.matched, a.edits]


def _align(row: Sequence[int]) -> _Align:
    return _Align(*(int(x) for x in row))


def trace_collect(index: "Index | Searcher", text: str, opts: TraceOptions | None = None,
                  shards: Sequence[int] | None = None, state: QueryState | None = None) -> dict[str, Any]:
    """COLLECT on the shards ``shards`` (numbered as in the manifest; default all): the alignments of ``text``
    with their sources, as ``{"shards": [...], "alignments": [[qs, qe, shard, part, ss, se, matched, edits],
    ...]}`` (shard by shard in ascending order). ``state``: the query's state in one process (its tokens, and its
    token ids per shard kept for RESOLVE)."""
    opts = opts or TraceOptions()
    s = Searcher.of(index)
    served = list(range(len(s.index.shards))) if shards is None else sorted(shards)
    toks = tokenize_once(text, state)
    if len(toks) < opts.min_tokens:
        return {"shards": served, "alignments": []}
    with _borrowed_cache(s, opts) as cache:
        found = _collect(s, toks.hashes, opts, cache, served, state.ids if state is not None else {})
    return {"shards": served, "alignments": [_align_row(a) for a in found]}


def _merged(partials: Sequence[dict[str, Any]]) -> list[_Align]:
    """The alignments of several COLLECT partials in the order one process finds them (by shard, then as found)."""
    rows = [r for p in partials for r in p["alignments"]]
    rows.sort(key=lambda r: r[2])  # a stable sort: each shard's alignments keep their order
    return [_align(r) for r in rows]


def _choose(aligns: list[_Align], m: int, opts: TraceOptions) -> tuple[list[Chosen], np.ndarray]:
    """The spans reported (each a query extent and kind with its alignments, best source first), in query
    order, and the query tokens they cover: alignments with the same query extent and kind are one span; the
    longest first, a span is taken when it adds ``min_tokens`` new query tokens (or is wholly new)."""
    groups: dict[tuple[int, int, bool], list[_Align]] = defaultdict(list)
    for a in aligns:
        groups[(a.qs, a.qe, a.edits == 0 and a.matched == a.qe - a.qs)].append(a)
    order = sorted(groups.items(), key=lambda kv: (-max(a.matched for a in kv[1]), not kv[0][2], kv[0][0]))
    covered = np.zeros(m, bool)
    chosen: list[Chosen] = []
    for key, members in order:
        qs, qe, _ = key
        new = int((~covered[qs:qe]).sum())
        if new >= opts.min_tokens or (new == qe - qs and new > 0):
            covered[qs:qe] = True
            chosen.append((key, members))
    chosen.sort(key=lambda kv: (kv[0][0], kv[0][1]))
    for _key, members in chosen:
        members.sort(key=lambda a: (a.edits, -a.matched, a.shard, a.part))
    return chosen, covered


def _spans_request(chosen: list[Chosen]) -> list[dict[str, Any]]:
    return [{"key": [qs, qe, verbatim], "members": [_align_row(a) for a in members]}
            for (qs, qe, verbatim), members in chosen]


def trace_resolve(index: "Index | Searcher", text: str, opts: TraceOptions | None, spans: Sequence[dict[str, Any]],
                  shards: Sequence[int] | None = None, state: QueryState | None = None) -> dict[str, Any]:
    """RESOLVE on the shards ``shards`` (default all) for the chosen ``spans`` (``{"key": [qs, qe, verbatim],
    "members": [alignment, ...]}``, members best first): for each span, each member in these shards as ``[doc_id,
    start, end, meta, excerpt]`` (meta and excerpt — ``[text, before, after]`` — for the first ``max_sources``
    members of a distinct source, else null) and, for a verbatim span, its occurrences in these shards."""
    opts = opts or TraceOptions()
    s = Searcher.of(index)
    served = set(range(len(s.index.shards)) if shards is None else shards)
    toks = tokenize_once(text, state)
    ids = state.ids if state is not None else {}
    texts: dict = {}
    metas: dict[tuple[int, int], dict] = {}
    out = []
    with _borrowed_cache(s, opts) as cache:
        for sp in spans:
            qs, qe, verbatim = int(sp["key"][0]), int(sp["key"][1]), bool(sp["key"][2])
            rows: dict[int, list] = {}
            seen: set[tuple[str, int, int]] = set()
            kept: dict[int, int] = defaultdict(int)
            for a in map(_align, sp["members"]):
                if a.shard not in served:
                    continue
                shard = s.index.shards[a.shard]
                start, end = shard.span_chars(a.part, a.ss, a.se)
                doc_id = shard.doc_id(a.part)
                meta = excerpt = None
                # the first max_sources distinct sources of this shard hold those the report lists from it
                if (doc_id, start, end) not in seen and kept[a.shard] < opts.max_sources:
                    kept[a.shard] += 1
                    meta = metas.get((a.shard, a.part))
                    if meta is None:
                        meta = metas[(a.shard, a.part)] = shard.meta(a.part)
                    if opts.excerpts is not None:
                        src = _excerpt(shard, a.part, doc_id, start, end, opts.excerpts, texts, meta)
                        excerpt = [src.text, src.before, src.after]
                seen.add((doc_id, start, end))
                rows.setdefault(a.shard, []).append([doc_id, start, end, meta, excerpt])
            count = None
            if verbatim:
                count = 0
                for si in sorted(served):
                    if si not in ids:
                        ids[si] = s.index.shards[si].ids_for(toks.hashes)
                    count += _occurrences(s, si, ids[si], qs, qe, opts.max_rss_mb, cache)
            out.append({"members": {str(k): v for k, v in rows.items()}, "occurrences": count})
    return {"shards": sorted(served), "spans": out}


def _finish(text: str, query: str, opts: TraceOptions, chosen: list[Chosen], covered: np.ndarray,
            resolved: Sequence[dict[str, Any]], t0: float, state: QueryState) -> TraceReport:
    """FINISH: the report from the chosen spans and the RESOLVE answers of shards that together hold them."""
    toks = tokenize_once(text, state)
    m = len(toks)
    spans: list[Span] = []
    per_doc: dict[str, np.ndarray] = {}
    for i, ((qs, qe, verbatim), members) in enumerate(chosen):
        answers: dict[int, list] = {}
        for r in resolved:
            answers.update({int(k): v for k, v in r["spans"][i]["members"].items()})
        taken = defaultdict(int)
        sources = []
        seen: set[tuple[str, int, int]] = set()
        for a in members:
            doc_id, start, end, meta, excerpt = answers[a.shard][taken[a.shard]]
            taken[a.shard] += 1
            if (doc_id, start, end) in seen:
                continue
            seen.add((doc_id, start, end))
            mask = per_doc.setdefault(doc_id, np.zeros(m, bool))
            mask[qs:qe] = True
            if len(sources) < opts.max_sources:
                sources.append(Source(doc_id, start, end, *excerpt, meta=meta) if opts.excerpts is not None
                               else Source(doc_id, start, end, meta=meta))
        occ = sum(int(r["spans"][i]["occurrences"] or 0) for r in resolved) if verbatim else len(seen)
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


def trace_rounds(text: str, query: str, opts: TraceOptions, state: QueryState | None = None):
    """The router's side of trace as a generator (no I/O): it yields ``(phase, payload)`` — ``"trace/collect"``,
    then ``"trace/resolve"`` — and is sent the list of the shard servers' answers to each (together covering
    the shards asked for); it returns the ``TraceReport`` (without provenance). ``trace`` drives it in this
    process (sharing its ``state`` with the shard calls); ``ipscope.service.router`` over HTTP."""
    t0 = time.perf_counter()
    state = state if state is not None else QueryState()  # this query's alone: gone with the generator
    m = len(tokenize_once(text, state))
    o = options_json(opts)
    partials = yield ("trace/collect", {"text": text, "options": o})
    chosen, covered = _choose(_merged(partials), m, opts)
    resolved: list[dict[str, Any]] = []
    if chosen:
        resolved = yield ("trace/resolve", {"text": text, "options": o, "spans": _spans_request(chosen)})
    return _finish(text, query, opts, chosen, covered, resolved, t0, state)


def options_json(opts: Any) -> dict[str, Any]:
    """Options (a dataclass of plain values) as JSON: what a router sends its shard servers."""
    import dataclasses

    return {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}


def shard_call(s: Searcher, phase: str, payload: dict[str, Any], shards: Sequence[int] | None = None,
               state: QueryState | None = None) -> dict[str, Any]:
    """One phase of trace on the shards ``shards`` of ``s`` (what a shard server answers; ``state``: the query's
    state when its phases run in this process)."""
    opts = TraceOptions(**payload["options"])
    if phase == "trace/collect":
        return trace_collect(s, payload["text"], opts, shards, state)
    if phase == "trace/resolve":
        return trace_resolve(s, payload["text"], opts, payload["spans"], shards, state)
    raise KeyError(phase)


def drive(rounds, answer):
    """Run a ``*_rounds`` generator in this process: ``answer(phase, payload)`` is the list of answers."""
    try:
        phase, payload = next(rounds)
        while True:
            phase, payload = rounds.send(answer(phase, payload))
    except StopIteration as stop:
        return stop.value


def trace(index: "Index | Searcher", text: "str | QueryText", query: str | None = None,
          opts: TraceOptions | None = None) -> TraceReport:
    """Trace ``text`` against ``index`` (an ``Index``, searched with its default searcher, or a ``Searcher``;
    either may be shared between threads); ``query`` names it in the report (default: the ``QueryText``'s
    name, or ``-``). The report carries its provenance and the index's notes (``ipscope.provenance``).
    Raises ``InputError`` for a query longer than ``MAX_QUERY_CHARS``.

    It runs the phases of a sharded trace (``trace_rounds``) over every shard, in this process."""
    from . import provenance
    from .corpus.query import check_query_size

    opts = opts or TraceOptions()
    s = Searcher.of(index)
    q = provenance.as_query(text, query)
    check_query_size(q.text, q.name, "trace")
    state = QueryState()  # this query's tokens and token ids, shared by its phases and dropped with it
    report = drive(trace_rounds(q.text, q.name, opts, state),
                   lambda phase, payload: [shard_call(s, phase, payload, None, state)])
    return provenance.attach(report, s.index, q, opts)
