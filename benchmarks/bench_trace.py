"""Benchmark ``ipscope index`` + ``ipscope trace`` against infini-gram, in one run.

For each corpus size (tokens) it builds a corpus of shuffled sentences from the shared
Project Gutenberg books (each sentence copy has a 50% chance of one word replaced, so the
corpus is not one text repeated), then measures, for ipscope and for infini-gram (PyPI
``infini-gram``, its own indexer and engine, GPT-2 tokens) on the same files:

* build: wall seconds, MB/s of raw text, peak RSS (largest process and process-tree sum),
  index bytes per raw text byte (ipscope's figure includes the compressed original texts);
* trace of ~1,000-token outputs (planted passages from the corpus, verbatim and lightly
  edited, in held-out novel text): p50/p95 latency with the index open, process RSS,
  one-query CLI wall time; accuracy on the planted passages.

It also reports accuracy on the planted sets of ``planted.py`` over the real books and the
Chinese classics. Each size prints one JSON line; all lines are appended to
``benchmarks/results/bench_trace.jsonl``.

    python benchmarks/bench_trace.py                       # 1M, 10M, 100M tokens
    python benchmarks/bench_trace.py --sizes 1e6 --no-peer # quick check

``--latency-only`` builds nothing but a missing index and measures only the trace latency of this code beside
``--baseline-src`` (another checkout's src/, in the same run, alternating fresh processes on the same index
and queries), and this code's throughput with ``--threads`` threads sharing one index (queries/s beside one
thread in the same process):

    python benchmarks/bench_trace.py --latency-only --sizes 1e8 --queries 20 --baseline-src ../main/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import _infinigram as ig  # noqa: E402
import planted  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PY = sys.executable
IPSCOPE = str(Path(PY).parent / "ipscope")


# ------------------------------------------------------------------------- corpora


def sentence_pool(shared: Path) -> list[str]:
    sents: list[str] = []
    for p in sorted((shared / "gutenberg").glob("*.txt")):
        if p.name in planted.HELD_OUT_BOOKS:
            continue
        text = " ".join(planted.body(planted._read_book(p)).split())
        for s in re.split(r"(?<=[.!?])\s+", text):
            if 4 <= s.count(" ") + 1 <= 80:
                sents.append(s)
    return sents


def make_corpus(pool: list[str], n_tokens: int, out: Path, seed: int = 1, doc_tokens: int = 2000,
                file_bytes: int = 64 << 20, keep: int = 300) -> dict:
    """JSONL files of documents made of random sentences; returns counts and ``keep``
    sample documents (id -> text) for planting."""
    done = out.parent / f"{out.name}.json"  # beside the corpus: infini-gram reads every file in it
    if done.exists():
        return json.loads(done.read_text())
    out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    tok_re = re.compile(r"[^\W_]+")
    counts = [len(tok_re.findall(s)) for s in pool]
    vocab = [w for s in pool[:: max(1, len(pool) // 20000)] for w in s.split() if w.isalpha()]
    total = 0
    n_doc = 0
    fno = 0
    f = open(out / f"part-{fno:03d}.jsonl", "w", encoding="utf-8")
    raw_bytes = 0
    sample: dict[str, str] = {}
    keep_every = max(1, (n_tokens // doc_tokens) // keep)
    while total < n_tokens:
        parts, t = [], 0
        while t < doc_tokens:
            i = rnd.randrange(len(pool))
            s = pool[i]
            if rnd.random() < 0.5:
                w = s.split(" ")
                w[rnd.randrange(len(w))] = rnd.choice(vocab)
                s = " ".join(w)
            parts.append(s)
            t += counts[i]
            if len(parts) % 6 == 0:
                parts.append("\n\n")
        text = " ".join(parts).replace(" \n\n ", "\n\n")
        doc_id = f"doc{n_doc:07d}"
        line = json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n"
        if f.tell() + len(line) > file_bytes:
            f.close()
            fno += 1
            f = open(out / f"part-{fno:03d}.jsonl", "w", encoding="utf-8")
        f.write(line)
        raw_bytes += len(text.encode("utf-8"))
        if n_doc % keep_every == 0 and len(sample) < keep:
            sample[doc_id] = text
        total += t
        n_doc += 1
    f.close()
    info = {"tokens": total, "docs": n_doc, "raw_bytes": raw_bytes, "sample": sample}
    done.write_text(json.dumps(info))
    return info


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


# ------------------------------------------------------------------------ measuring

_TRACE_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
import planted
from ipscope.index import Index
from ipscope.trace import trace
cfg = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
idx = Index.open(cfg["index"])
qs = [planted.PlantedQuery(q["text"], [planted.Planted(**p) for p in q["planted"]], [tuple(x) for x in q["novel"]])
      for q in cfg["queries"]]
for q in qs[:3]:
    trace(idx, q.text)  # warm-up: compiled code loaded, first pages mapped
reps = [trace(idx, q.text) for q in qs]
lat = sorted(r.elapsed_ms for r in reps)
by_kind = {}
for q, r in zip(qs, reps):
    by_kind.setdefault(q.planted[0].kind, ([], []))
    by_kind[q.planted[0].kind][0].append(q)
    by_kind[q.planted[0].kind][1].append(r)
acc = {k: planted.score(v[0], v[1]) for k, v in by_kind.items()}
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({"lat": lat, "tokens": [r.query_tokens for r in reps], "accuracy": acc, "rss_mb": rss}))
"""

_TRACE_BUDGET_CHILD = r"""
import json, resource, sys
from ipscope.index import Index
from ipscope.trace import TraceOptions, trace, warm_up
cfg = json.load(open(sys.argv[1]))
opts = TraceOptions(max_rss_mb=float(sys.argv[2]) or None)
warm_up(opts)
idx = Index.open(cfg["index"])
lat = sorted(trace(idx, q["text"], opts=opts).elapsed_ms for q in cfg["queries"])
print("RESULT " + json.dumps({"lat": lat, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# the trace latency of one source tree, and (when asked) its throughput with threads sharing the index
_LATENCY_CHILD = r"""
import json, sys, threading, time
from ipscope.index import Index
from ipscope.trace import TraceOptions, trace, warm_up
cfg = json.load(open(sys.argv[1]))
opts = TraceOptions()
warm_up(opts)
idx = Index.open(cfg["index"])
texts = [q["text"] for q in cfg["queries"]]
for t in texts[:3]:
    trace(idx, t, opts=opts)  # warm: the small arrays read, the first blocks cached
out = {"lat": [trace(idx, t, opts=opts).elapsed_ms for t in texts]}
for n in cfg["threads"]:
    def work(k):
        for t in texts[k::n]:
            trace(idx, t, opts=opts)
    t0 = time.perf_counter()
    ths = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    out[f"qps_{n}"] = len(texts) / (time.perf_counter() - t0)
print("RESULT " + json.dumps(out))
"""


def latency_only(n_tokens: int, args, pool: list[str], novel: list[str]) -> dict:
    """p50/p95 trace latency (default options: a 300 MB budget, pread) of this code and of ``--baseline-src`` on
    the same index and ~1,000-token planted queries, alternating fresh processes (``--rounds`` each)."""
    work = Path(args.work)
    info = make_corpus(pool, n_tokens, work / f"corpus-{n_tokens}")
    idx = Path(args.index) if args.index else next(
        (p for p in (work / f"ipscope-{n_tokens}.idx", work / f"similar-{n_tokens}.idx") if (p / "manifest.json").is_file()),
        work / f"ipscope-{n_tokens}.idx")
    if not (idx / "manifest.json").is_file():
        run = ig._run_measured([IPSCOPE, "index", str(work / f"corpus-{n_tokens}"), "--out", str(idx), "--quiet",
                                "--no-passages"])
        if run["returncode"] != 0:
            raise RuntimeError(run["stderr"])
    qs = (planted.make_queries(info["sample"], novel, "verbatim", args.queries // 2, seed=7, query_words=850)
          + planted.make_queries(info["sample"], novel, "edited", args.queries - args.queries // 2, seed=8,
                                 query_words=850))
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump({"index": str(idx), "queries": [{"text": q.text} for q in qs], "threads": []}, fh)
        job_plain = fh.name
    threads = [int(x) for x in args.threads.split(",") if x] if args.threads else []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump({"index": str(idx), "queries": [{"text": q.text} for q in qs], "threads": threads}, fh)
        job_threads = fh.name
    runs: dict[str, dict] = {"baseline": {"lat": []}, "this": {"lat": []}}
    trees = [("baseline", Path(args.baseline_src)), ("this", REPO / "src")]
    for r in range(args.rounds):
        for who, src in trees if r % 2 == 0 else trees[::-1]:  # each tree first in every other round
            # threads only for this code (the baseline may not be safe to share between threads), last round
            job = job_threads if who == "this" and r == args.rounds - 1 else job_plain
            run = subprocess.run([PY, "-c", _LATENCY_CHILD, job], capture_output=True, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(src)))
            line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise RuntimeError(run.stderr[-3000:])
            res = json.loads(line[7:])
            runs[who]["lat"] += res.pop("lat")
            runs[who].update({k: round(v, 1) for k, v in res.items()})
    for f in (job_plain, job_threads):
        os.unlink(f)
    row = {"bench": "trace-latency", "index": str(idx), "corpus_tokens": info["tokens"], "queries": len(qs),
           "rounds": args.rounds}
    for who, res in runs.items():
        lat = res.pop("lat")
        row[who] = {"src": str(args.baseline_src if who == "baseline" else REPO / "src"),
                    "trace_p50_ms": round(pct(lat, 50), 2), "trace_p95_ms": round(pct(lat, 95), 2), **res}
    return row


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench_size(n_tokens: int, args, pool: list[str], novel: list[str]) -> dict:
    work = Path(args.work)
    cdir = work / f"corpus-{n_tokens}"
    info = make_corpus(pool, n_tokens, cdir)
    raw = info["raw_bytes"]
    row: dict = {"bench": "trace", "corpus_tokens": info["tokens"], "corpus_docs": info["docs"],
                 "raw_mb": round(raw / 1e6, 1)}

    # ---- ipscope build: the trace index alone (--no-passages), the same work as infini-gram's; the passage
    # layers of ipscope similar are measured by benchmarks/bench_similar.py
    idx = work / f"ipscope-{n_tokens}.idx"
    run = ig._run_measured([IPSCOPE, "index", str(cdir), "--out", str(idx), "--force", "--quiet", "--no-passages"])
    if run["returncode"] != 0:
        raise RuntimeError(run["stderr"])
    row["ipscope"] = {
        "build_s": round(run["seconds"], 2), "build_mb_s": round(raw / 1e6 / run["seconds"], 2),
        "build_peak_rss_mb": run["peak_rss_mb"], "build_tree_rss_mb": round(run["peak_tree_rss_mb"]),
        "index_bytes_per_byte": round(dir_bytes(idx) / raw, 3),
    }

    # ---- queries: planted passages of the corpus in held-out text, ~1,000 tokens
    qs = (planted.make_queries(info["sample"], novel, "verbatim", args.queries // 2, seed=7, query_words=850)
          + planted.make_queries(info["sample"], novel, "edited", args.queries - args.queries // 2, seed=8,
                                 query_words=850))
    qfile = work / f"queries-{n_tokens}.json"
    qfile.write_text(json.dumps({"index": str(idx), "queries": [
        {"text": q.text, "planted": [p.__dict__ for p in q.planted], "novel": q.novel} for q in qs]}))
    run = ig._run_measured([PY, "-c", _TRACE_CHILD, str(qfile), str(HERE)])
    line = next((x for x in run["stdout"].splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(run["stderr"][-3000:])
    res = json.loads(line[7:])
    row["query_tokens_p50"] = statistics.median(res["tokens"])
    row["ipscope"].update({
        "trace_p50_ms": round(pct(res["lat"], 50), 2), "trace_p95_ms": round(pct(res["lat"], 95), 2),
        "trace_process_rss_mb": round(res["rss_mb"]),
        "accuracy": {k: {"attributed": round(v["attributed"], 4), "novel_false": round(v["novel_false"], 4)}
                     for k, v in res["accuracy"].items()},
    })
    # the default keeps a 300 MB budget; the same queries without one, for comparison
    run = ig._run_measured([PY, "-c", _TRACE_BUDGET_CHILD, str(qfile), "0"])
    line = next((x for x in run["stdout"].splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(run["stderr"][-3000:])
    res = json.loads(line[7:])
    row["ipscope"]["without_rss_budget"] = {"trace_p50_ms": round(pct(res["lat"], 50), 2),
                                          "trace_p95_ms": round(pct(res["lat"], 95), 2),
                                          "trace_process_rss_mb": round(res["rss_mb"])}
    one = work / "one-query.txt"
    one.write_text(qs[0].text, encoding="utf-8")
    walls, rsss = [], []
    for _ in range(5):
        r = ig._run_measured([IPSCOPE, "trace", str(idx), str(one), "-f", "json"])
        walls.append(r["seconds"])
        rsss.append(r["peak_rss_mb"] or 0)
    row["ipscope"]["cli_one_query_s"] = round(statistics.median(walls), 3)
    row["ipscope"]["cli_one_query_rss_mb"] = round(statistics.median(rsss))

    # ---- infini-gram on the same files and queries
    if args.peer and n_tokens <= args.peer_max_tokens:
        why = ig.available(args.peer_python)
        if why:
            row["infini_gram"] = {"skipped": why}
        else:
            igdir = work / f"ig-{n_tokens}"
            if igdir.exists():
                import shutil

                shutil.rmtree(igdir)
            b = ig.build(cdir, igdir, python=args.peer_python)
            qr = ig.query(igdir, [q.text for q in qs], python=args.peer_python, min_len=8, creativity=False)
            lat = qr.get("latency_ms") or []
            row["infini_gram"] = {
                "tokenizer": b["tokenizer"], "build_s": round(b["seconds"], 2),
                "build_mb_s": round(raw / 1e6 / b["seconds"], 2), "build_peak_rss_mb": b["peak_rss_mb"],
                "build_tree_rss_mb": round(b["peak_tree_rss_mb"]),
                "index_bytes_per_byte": round(b["index_bytes"] / raw, 3),
                "trace_p50_ms": round(pct(lat, 50), 2) if lat else None,
                "trace_p95_ms": round(pct(lat, 95), 2) if lat else None,
                "query_process_rss_mb": qr.get("peak_rss_mb"),
            }
            row["ratios"] = {
                "build_speed_x": round(row["ipscope"]["build_mb_s"] / row["infini_gram"]["build_mb_s"], 1),
                "trace_p50_speed_x": round(row["infini_gram"]["trace_p50_ms"] / max(1e-6, row["ipscope"]["trace_p50_ms"]), 1)
                if lat else None,
            }
    elif args.peer:
        row["infini_gram"] = {"skipped": f"corpus above --peer-max-tokens {args.peer_max_tokens:.0f}"}
    return row


def bench_accuracy(args) -> dict:
    """Planted-set accuracy on the real books and Chinese classics (not shuffled)."""
    from ipscope.index import BuildOptions, Index, build_index

    work = Path(args.work) / "accuracy"
    data = planted.prepare(SHARED, work)
    idx = work / "idx"
    build_index([data["corpus"]], idx, BuildOptions(force=True, passages=False))
    res = planted.evaluate(Index.open(idx), data, n=args.accuracy_queries)
    return {"bench": "trace-accuracy", "queries_per_kind": args.accuracy_queries,
            **{k: {"attributed": round(v["attributed"], 4), "novel_false": round(v["novel_false"], 4)}
               for k, v in res.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7,1e8", help="corpus sizes in tokens, comma-separated")
    ap.add_argument("--queries", type=int, default=60, help="trace queries per size")
    ap.add_argument("--accuracy-queries", type=int, default=40, help="queries per planted kind (real books)")
    ap.add_argument("--work", default=str(HERE / "work"), help="scratch directory (corpora and indexes)")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True, help="measure infini-gram")
    ap.add_argument("--peer-python", default=os.environ.get("IG_PYTHON", str(HERE / "work" / "peer-venv" / "bin" / "python")))
    ap.add_argument("--peer-max-tokens", type=float, default=1e8)
    ap.add_argument("--out", default=str(HERE / "results" / "bench_trace.jsonl"))
    ap.add_argument("--latency-only", action="store_true",
                    help="only the trace latency of this code beside --baseline-src (and --threads throughput)")
    ap.add_argument("--baseline-src", default=str(REPO.parent / "main" / "src"),
                    help="src/ of the checkout to compare with (--latency-only)")
    ap.add_argument("--index", help="the index to query (--latency-only; default: WORK/ipscope-N.idx, else "
                                    "WORK/similar-N.idx, built when neither exists)")
    ap.add_argument("--rounds", type=int, default=2, help="fresh processes per source tree (--latency-only)")
    ap.add_argument("--threads", default="", help="comma-separated thread counts for this code's throughput "
                                                 "(--latency-only), e.g. 1,2,4")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"needs the shared data at {SHARED}")
    pool = sentence_pool(SHARED)
    novel = [planted.body(planted._read_book(SHARED / "gutenberg" / b)) for b in planted.HELD_OUT_BOOKS]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.latency_only:
        for s in args.sizes.split(","):
            row = latency_only(int(float(s)), args, pool, novel)
            print(json.dumps(row), flush=True)
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps({"when": stamp, "machine": f"{os.cpu_count()} cores", **row}) + "\n")
        return
    rows = [bench_accuracy(args)] if args.accuracy_queries else []
    print(json.dumps(rows[0]) if rows else "", flush=True)
    for s in args.sizes.split(","):
        row = bench_size(int(float(s)), args, pool, novel)
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(args.out, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"when": stamp, "machine": f"{os.cpu_count()} cores", **r}) + "\n")


if __name__ == "__main__":
    main()
