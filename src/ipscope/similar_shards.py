"""The shard side of ``ipscope similar`` in phases, so that a router can scatter it over shard servers
(``ipscope serve --shards``, docs/scale.md "Sharded serving"); ``ipscope.similar.similar_rounds`` is the other side.

Each function works on the shards it is given (numbered as in the manifest) and answers plain JSON values:

* **stats** (:func:`similar_stats`): what the corpus-wide statistics are summed from — per shard its passages and
  their tokens (documents removed by tombstones left out), and over the shards the passages holding each word of
  the query. The router sums them over all shards: the BM25 idf and the frequent-word cut-off of
  ``BM25_MAX_DF`` are the whole corpus's, never one shard's.
* **collect** (:func:`similar_collect`), with those statistics: per query window each shard's best BM25
  passages, the passages sharing an LSH band key, the trace alignments with the passages holding them, the
  passages nearest by vector (for query vectors the router embedded); each with its document id.
* **read** (:func:`similar_read`): what the router asks for the documents it chose: the tokens and bounds of
  runs of passages, passages' text, a token span's text, a part's metadata.

The router makes every global choice (the best passages of each window over all shards, the documents compared in
depth, whether semantic evidence is needed, which documents are reported) from these answers.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .index.format import Index
from .index.passages import PASSAGE_TOKENS, PRUNE_MIN_PASSAGES, PassageLayer, lsh_keys, passage_part, passage_text, \
    token_span_text
from .searcher import Searcher
from .text import QueryState, Tokens, tokenize, tokenize_once

BM25_K1 = 1.5
BM25_B = 0.75
# words in more than this share of all passages do not select candidates (idf below ~3: "said", "would");
# they still count in the term overlap. Fewer postings are read per query (its share of the 149 -> 36 ms gain
# of a54449d, measured together with the other changes there, was not measured apart).
BM25_MAX_DF = 0.05
BM25_FALLBACK_TERMS = 3  # a window of common words only selects with its rarest few


def windows(n: int, length: int, stride: int) -> np.ndarray:
    """(k, 2) windows [a, b) of ``length`` over n tokens every ``stride`` (the last one ends at n)."""
    if n <= length:
        return np.array([[0, n]], np.int64)
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] + length < n:
        starts.append(n - length)
    return np.array([[s, s + length] for s in starts], np.int64)


# --------------------------------------------------------------------------------------- wire encodings


def pack(a: np.ndarray) -> dict[str, Any]:
    """An array as JSON: dtype, shape and its bytes in base64 (exact, unlike a list of floats' decimal forms)."""
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


# ------------------------------------------------------------------------------------------------ terms


@dataclass
class Terms:
    """The query's distinct token hashes with their idf over all shards' passages."""

    hashes: np.ndarray  # sorted distinct hashes
    idf: np.ndarray
    df: np.ndarray  # passages holding each, over all shards
    n_passages: int
    avg_len: float
    # words in more than BM25_MAX_DF of the passages (none in a small index, where every word would be "common")
    common: np.ndarray
    window_terms: list[np.ndarray]  # the distinct words of each 200-token query window, as indices into hashes


def terms_of(toks: Tokens, stats: dict[str, Any], state: QueryState | None = None) -> Terms:
    """The query's terms from the corpus-wide ``stats`` (``{"df", "n_passages", "length"}``, summed over all
    shards by :func:`sum_stats`); kept in ``state`` for the same ``stats`` (the router's side and the shards' of
    one query in one process)."""
    if state is not None:
        hit = state.memo.get("terms")
        if hit is not None and hit[0] is stats:
            return hit[1]
    uniq = _uniq(toks, state)
    n_pass = int(stats["n_passages"])
    avg = float(stats["length"]) / max(n_pass, 1)
    df = np.asarray(stats["df"], np.float64).reshape(-1)
    idf = np.log1p((n_pass - df + 0.5) / (df + 0.5))
    common = df > (BM25_MAX_DF * n_pass if n_pass >= PRUNE_MIN_PASSAGES else np.inf)
    window_terms = [np.searchsorted(uniq, np.unique(toks.hashes[a:b]))
                    for a, b in windows(len(toks), PASSAGE_TOKENS, PASSAGE_TOKENS).tolist()]
    terms = Terms(uniq, idf, df, n_pass, avg, common, window_terms)
    if state is not None:
        state.memo["terms"] = (stats, terms)
    return terms


def _uniq(toks: Tokens, state: QueryState | None) -> np.ndarray:
    """The query's distinct token hashes, sorted (once a query in one process)."""
    if state is None:
        return np.unique(toks.hashes)
    hit = state.memo.get("uniq")
    if hit is None:
        hit = state.memo["uniq"] = np.unique(toks.hashes)
    return hit


def _uniq_ids(index: Index, si: int, uniq: np.ndarray, state: QueryState | None) -> np.ndarray:
    """Shard ``si``'s token ids of the distinct query hashes ``uniq`` (once a query in one process)."""
    if state is None:
        return index.shards[si].ids_for(uniq)
    hit = state.memo.get(("uniq_ids", si))
    if hit is None:
        hit = state.memo[("uniq_ids", si)] = index.shards[si].ids_for(uniq)
    return hit


def sum_stats(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The corpus-wide statistics from the stats answers of shard servers (integers, summed shard by shard in
    the order of the manifest, so the sums are those of one process)."""
    per = sorted((p for a in answers for p in a["per_shard"]), key=lambda p: p["shard"])
    df = None
    for a in answers:
        d = np.asarray(a["df"], np.int64)
        df = d if df is None else df + d
    return {"n_passages": sum(int(p["passages"]) for p in per), "length": float(sum(float(p["length"]) for p in per)),
            "df": [] if df is None else df.tolist()}


def _served(s: Searcher, shards: Sequence[int] | None) -> list[int]:
    return list(range(len(s.index.shards))) if shards is None else sorted(shards)


def similar_stats(index: "Index | Searcher", text: str, shards: Sequence[int] | None = None,
                  state: QueryState | None = None) -> dict[str, Any]:
    """STATS on the shards ``shards`` (default all): ``{"shards", "per_shard": [{"shard", "passages",
    "length"}], "df": [passages holding each distinct query token, in hash order]}``."""
    s = Searcher.of(index)
    served = _served(s, shards)
    layers = s.passage_layers(served)
    toks = tokenize_once(text, state)
    uniq = _uniq(toks, state)
    df = np.zeros(uniq.shape[0], np.int64)
    per = []
    for si in served:
        ly = layers[si]
        per.append({"shard": si, "passages": int(ly.live_passages), "length": float(ly.live_length)})
        ids = _uniq_ids(s.index, si, uniq, state)
        have = ids >= 0
        df[have] += np.asarray(ly.df)[ids[have]].astype(np.int64)
        if ly.removed_df is not None:
            df[have] -= ly.removed_df[ids[have]]
    return {"shards": served, "per_shard": per, "df": df.tolist()}


# ---------------------------------------------------------------------------------------------- collect


def _docs(index: Index, layers: list, si: int, ps: Sequence[int]) -> list[str | None]:
    """The documents of passages ``ps`` of shard ``si``, None for a duplicate id's later copy (left out)."""
    if not len(ps):
        return []
    shard = index.shards[si]
    parts = shard.parts_of(layers[si].bounds[np.asarray(ps, np.int64), 0].astype(np.int64)).tolist()
    return [None if part in shard.excluded else shard.doc_id(part) for part in parts]


def query_lsh_keys(toks: Tokens) -> np.ndarray:
    """The LSH band keys of the query's windows (a quarter passage apart), computed once by the router."""
    return lsh_keys(toks.hashes, windows(len(toks), PASSAGE_TOKENS, PASSAGE_TOKENS // 4))


def similar_collect(index: "Index | Searcher", text: str, k: int, stats: dict[str, Any],
                    query_vectors: np.ndarray | None = None, trace: bool = True,
                    shards: Sequence[int] | None = None, keys: np.ndarray | None = None,
                    state: QueryState | None = None) -> dict[str, Any]:
    """COLLECT on the shards ``shards`` (default all), with the corpus-wide ``stats``: the candidates, each with
    its document (null: a duplicate left out)::

        {"bm25": [[[score, shard, passage, doc], ...] per query window],   # the k best here, score > 0
         "lsh": [[shard, passage, doc], ...], "alignments": [[doc, qs, qe, exact, shard, first, last], ...],
         "vectors": [[shard, passage, similarity, doc], ...]}

    ``k``: passages per window (BM25) and per query vector; ``query_vectors``: the query windows embedded
    (passage vectors searched only with them); ``keys``: ``query_lsh_keys`` (computed here when not given)."""
    from . import _passage_kernels as pk
    from .trace import alignments

    s = Searcher.of(index)
    served = _served(s, shards)
    layers = s.passage_layers(served)
    idx = s.index
    toks = tokenize_once(text, state)
    terms = terms_of(toks, stats, state)
    shard_ids = {si: _uniq_ids(idx, si, terms.hashes, state) for si in served}
    bm25: list[list[list]] = []
    for every in (terms.window_terms if terms.n_passages else []):
        sel = every[~terms.common[every]]
        if sel.shape[0] == 0:  # only common words ("Sir Walter Elliot" in a catalogue of Austen): the rarest
            sel = every[np.argsort(terms.df[every], kind="stable")[:BM25_FALLBACK_TERMS]]
        scored: list[tuple[float, int, int]] = []
        for si in served:
            ly = layers[si]
            ids = shard_ids[si][sel]
            have = ids >= 0
            if not have.any():
                continue
            indptr, passage, tf = ly.postings
            scores = pk.bm25_accumulate(np.asarray(indptr), np.asarray(passage), np.asarray(tf), ids[have],
                                        terms.idf[sel][have], ly.lengths, terms.avg_len, BM25_K1, BM25_B,
                                        ly.bounds.shape[0])
            if ly.removed_mask is not None:  # a removed document's passages take no place among the best
                scores[ly.removed_mask] = 0.0
            top = np.argpartition(-scores, k)[:k] if scores.shape[0] > k else np.arange(scores.shape[0])
            top = top[scores[top] > 0]
            scored.extend(zip(scores[top].tolist(), [si] * top.shape[0], top.tolist()))
        # the k best over these shards (those over all shards are among them: merge_collect takes the k best
        # of every server's, by the same order); documents looked up for them alone
        best = sorted(scored, reverse=True)[:k]
        docs: dict[tuple[int, int], str | None] = {}
        for si in sorted({si for _sc, si, _p in best}):
            ps = [p for _sc, si_, p in best if si_ == si]
            docs.update(zip(((si, p) for p in ps), _docs(idx, layers, si, ps)))
        bm25.append([[sc, si, p, docs[(si, p)]] for sc, si, p in best])
    if keys is None:
        keys = query_lsh_keys(toks)
    lsh = []
    for si in served:
        ps = layers[si].lsh_candidates(keys).tolist()
        lsh.extend([si, p, d] for p, d in zip(ps, _docs(idx, layers, si, ps)))
    found = []
    if trace:
        for a in alignments(s, toks.hashes, shards=served):
            shard = idx.shards[a.shard]
            base = int(shard.doc_tok[a.part])
            starts = layers[a.shard].bounds[:, 0]
            first = int(np.searchsorted(starts, base + a.ss, side="right")) - 1
            last = int(np.searchsorted(starts, base + a.se - 1, side="right")) - 1
            found.append([shard.doc_id(a.part), a.qs, a.qe, a.edits == 0 and a.matched == a.qe - a.qs, a.shard,
                          max(first, 0), last])
    near = []
    if query_vectors is not None:
        for si in served:
            gone = layers[si].removed_mask
            top, sims = s.vector_search(si, query_vectors, k + (int(gone.sum()) if gone is not None else 0))
            pairs = [(p, sim) for row, row_sims in zip(top.tolist(), sims.tolist())
                     for p, sim in ([(p, q) for p, q in zip(row, row_sims) if not gone[p]][:k] if gone is not None
                                    else zip(row, row_sims))]  # the k nearest passages of documents not removed
            docs = _docs(idx, layers, si, [p for p, _sim in pairs])
            near.extend([si, int(p), float(sim), d] for (p, sim), d in zip(pairs, docs))
    return {"shards": served, "bm25": bm25, "lsh": lsh, "alignments": found, "vectors": near}


def merge_collect(answers: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """The collect answers of several shard servers as one process would have found them: per window the ``k``
    best passages over all shards; LSH hits, alignments and vector hits shard by shard (the order candidates are
    first met in, which decides ties later)."""
    n_windows = max((len(a["bm25"]) for a in answers), default=0)
    bm25 = []
    for w in range(n_windows):
        scored = [tuple(e) for a in answers if w < len(a["bm25"]) for e in a["bm25"][w]]
        bm25.append(sorted(scored, key=lambda e: (e[0], e[1], e[2]), reverse=True)[:k])

    def by_shard(field: str, at: int) -> list:
        rows = [r for a in answers for r in a[field]]
        rows.sort(key=lambda r: r[at])  # stable: each shard's rows keep their order
        return rows

    return {"bm25": bm25, "lsh": by_shard("lsh", 0), "alignments": by_shard("alignments", 4),
            "vectors": by_shard("vectors", 0)}


# ------------------------------------------------------------------------------------------------- read


def _key(*parts: int) -> str:
    return ",".join(str(int(p)) for p in parts)


def similar_read(index: "Index | Searcher", wants: dict[str, list[list[int]]],
                 shards: Sequence[int] | None = None, raw: bool = False) -> dict[str, Any]:
    """READ on the shards ``shards`` (default all; listed in the answer's ``"shards"``): of ``wants``
    (``{"runs": [[shard, first, last]], "passages": [[shard, p]], "spans": [[shard, a, b]], "passage_meta": [[shard,
    p]], "token_meta": [[shard, t]]}``) what these shards hold, keyed by ``"shard,..."``: a run's token hashes and
    passage bounds (``raw``: as arrays, for a reader in this process; else packed for JSON), a passage's or span's
    ``[start, end, text]``, a part's metadata."""
    s = Searcher.of(index)
    served = set(_served(s, shards))
    layers = s.passage_layers(sorted(served))
    idx = s.index
    out: dict[str, dict[str, Any]] = {k: {} for k in ("runs", "passages", "spans", "passage_meta", "token_meta")}
    for kind, items in wants.items():
        for item in items:
            si = int(item[0])
            if si not in served:
                continue
            shard, ly = idx.shards[si], layers[si]
            if kind == "runs":
                first, last = int(item[1]), int(item[2])
                a, b = int(ly.bounds[first][0]), int(ly.bounds[last][1])
                from .index.arrays import from_u24

                toks = shard.id_hash[from_u24(shard.tok[3 * a : 3 * b])]
                bounds = ly.bounds[first : last + 1]
                out[kind][_key(si, first, last)] = ({"tokens": toks, "bounds": bounds} if raw else
                                                    {"tokens": pack(toks), "bounds": pack(bounds)})
            elif kind == "passages":
                out[kind][_key(si, item[1])] = list(passage_text(shard, ly, int(item[1])))
            elif kind == "spans":
                out[kind][_key(si, item[1], item[2])] = list(token_span_text(shard, int(item[1]), int(item[2])))
            elif kind == "passage_meta":
                out[kind][_key(si, item[1])] = shard.meta(passage_part(shard, ly, int(item[1])))
            elif kind == "token_meta":
                out[kind][_key(si, item[1])] = shard.meta(int(shard.parts_of(np.array([int(item[1])]))[0]))
            else:
                raise KeyError(kind)
    return {"shards": sorted(served), **out}


class Reader:
    """What the evidence of ``similar`` reads from the shards, from the answers of :func:`similar_read` (one
    process answers them over its own shards, a router over its shard servers'). A read that was not asked
    for is recorded in ``wanted`` and answered with a placeholder (``record=True``), or raises KeyError."""

    def __init__(self, record: bool = False) -> None:
        self.got: dict[str, dict[str, Any]] = {k: {} for k in ("runs", "passages", "spans", "passage_meta",
                                                                "token_meta")}
        self.record = record
        self.wanted: dict[str, list[list[int]]] = {}
        self._runs: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def add(self, answers: Sequence[dict[str, Any]]) -> None:
        for a in answers:
            for kind, items in a.items():
                if kind != "shards":
                    self.got[kind].update(items)

    def _get(self, kind: str, *item: int, placeholder: Any = None) -> Any:
        k = _key(*item)
        if k in self.got[kind]:
            return self.got[kind][k]
        if not self.record:
            raise KeyError(f"{kind} {k} was not read")
        self.wanted.setdefault(kind, []).append(list(item))
        return placeholder

    def run(self, si: int, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """The token hashes of passages ``first..last`` of shard ``si`` and their bounds (decoded once)."""
        hit = self._runs.get((si, first, last))
        if hit is None:
            r = self._get("runs", si, first, last)
            hit = self._runs[(si, first, last)] = (_array(r["tokens"]), _array(r["bounds"]))
        return hit

    def passage_text(self, si: int, p: int) -> tuple[int, int, str]:
        return tuple(self._get("passages", si, p, placeholder=[0, 0, ""]))  # type: ignore[return-value]

    def span_text(self, si: int, a: int, b: int) -> tuple[int, int, str]:
        return tuple(self._get("spans", si, a, b, placeholder=[0, 0, ""]))  # type: ignore[return-value]

    def passage_meta(self, si: int, p: int) -> dict[str, Any]:
        return self._get("passage_meta", si, p, placeholder={})

    def token_meta(self, si: int, t: int) -> dict[str, Any]:
        return self._get("token_meta", si, t, placeholder={})


def _array(a: Any) -> np.ndarray:
    """A packed array unpacked; an array (from this process: the phases of ``similar()``) as it is."""
    return unpack(a) if isinstance(a, dict) else a


def shard_call(s: Searcher, phase: str, payload: dict[str, Any], shards: Sequence[int] | None = None,
               state: QueryState | None = None) -> dict[str, Any]:
    """One phase of similar on the shards ``shards`` of ``s`` (what a shard server answers; ``state``: the query's
    state when its phases run in this process)."""
    if phase == "similar/stats":
        return similar_stats(s, payload["text"], shards, state)
    if phase == "similar/collect":
        qv, keys = payload.get("query_vectors"), payload.get("lsh_keys")
        return similar_collect(s, payload["text"], int(payload["k"]), payload["stats"],
                               _array(qv) if qv is not None else None, bool(payload.get("trace", True)), shards,
                               _array(keys) if keys is not None else None, state)
    if phase == "similar/read":
        return similar_read(s, payload["wants"], shards, raw=state is not None)
    raise KeyError(phase)


__all__ = ["Reader", "Terms", "merge_collect", "pack", "query_lsh_keys", "shard_call", "similar_collect", "similar_read",
           "similar_stats", "sum_stats", "terms_of", "unpack", "windows"]
