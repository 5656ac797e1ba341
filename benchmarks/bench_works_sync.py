"""The works index's sync: seconds per batch of registrations applied, and when a registration is searchable.

Registers ``--rounds`` batches of ``--batch`` works of ``--work-kb`` KB each (consecutive slices of the
demo corpus's Project Gutenberg books, or of ../shared/data/gutenberg when present), timing the registrations
(``Registry.register``, one transaction each, with its receipt), then ``WorksIndex.sync`` of the batch (one new
generation: the works' texts read from the database, tokenised, written as a small shard with its passage
layers, published), and as many batches of 10 (what the indexer applies at a time at about 100 registrations
a second). After the rounds: a compaction (``live.compact``) and ``check`` of a text copying part of
one work, before and after it (same matches; each timed after a first check has compiled the kernels). A
second phase runs the indexer loop in a process of its own (``ipscope.registry.indexer.run``, as ``ipscope
serve`` runs it) while this process registers at a steady rate, and measures for every tenth registration the
time from its acknowledgement until a reader (refreshing every 5 ms) has the generation holding it and a
``check`` on it has named the work (the time includes that check).

    PYTHONPATH=src python benchmarks/bench_works_sync.py [--db URL] [--rounds 10 --batch 100]

Prints one JSON line and appends it to benchmarks/results/bench_works_sync.jsonl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def corpus_text() -> str:
    shared = REPO.parent / "shared" / "data" / "gutenberg"
    files = sorted(shared.glob("*.txt")) if shared.is_dir() else []
    files = files or sorted((REPO / "demo" / "corpus" / "books").glob("*.txt"))
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="registry database URL (default: a SQLite file in a temp dir)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--work-kb", type=int, default=10)
    ap.add_argument("--rate", type=float, default=50.0, help="registrations/s in the latency phase")
    ap.add_argument("--latency-works", type=int, default=200)
    args = ap.parse_args()

    from ipscope.index import live
    from ipscope.registry import indexer
    from ipscope.registry.service import Registry
    from ipscope.registry.works_index import WorksIndex

    text = corpus_text()
    size = args.work_kb * 1000
    need = (args.rounds * (args.batch + 10) + args.latency_works + 1) * size
    if len(text) < need:
        text = text * (need // len(text) + 1)  # the demo corpus alone is smaller: works repeat (still distinct ids)
    tmp = Path(tempfile.mkdtemp(prefix="bench-works."))
    reg = Registry.open(args.db) if args.db else Registry.open_data(tmp)
    wi = WorksIndex.open(tmp)
    key = reg.create_key("bench").key
    k = 0
    reg_s, sync_s = [], []
    first_id = None
    for _r in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.batch):
            w = reg.register(key, title=f"work {k}", text=text[k * size : (k + 1) * size],
                             reservations={"train-ai": "n"})
            first_id = first_id or w.work.id
            k += 1
        reg_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = wi.sync(reg)
        sync_s.append(time.perf_counter() - t0)
        assert n == args.batch, n
        if _r == 0:
            wi.check(text[:1000], reg)  # compiles the kernels: not timed below
    small_s = []  # what the indexer sees at about 100 registrations/s: batches of ~10 every 0.1 s
    for _r in range(args.rounds):
        for _ in range(10):
            reg.register(key, title=f"work {k}", text=text[k * size : (k + 1) * size])
            k += 1
        t0 = time.perf_counter()
        assert wi.sync(reg) == 10
        small_s.append(time.perf_counter() - t0)
    query = text[size // 4 : size // 4 + 2000]
    shards_before = len(wi.index.manifest["shards"])
    t0 = time.perf_counter()
    before = wi.check(query, reg)
    check_before = time.perf_counter() - t0
    t0 = time.perf_counter()
    live.compact(wi.root)
    compact_s = time.perf_counter() - t0
    wi.refresh()
    t0 = time.perf_counter()
    after = wi.check(query, reg)
    check_after = time.perf_counter() - t0
    same = [m.to_dict() for m in before.matches] == [m.to_dict() for m in after.matches]
    assert before.matches and before.matches[0].work_id == first_id

    # latency: the indexer loop in a thread, registrations at a steady rate, a reader polling check
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    th = ctx.Process(target=indexer.run, args=(tmp, args.db, stop))
    th.start()
    reader = WorksIndex.open(tmp)
    lat: list[float] = []
    reg_lat: list[float] = []
    gap = 1.0 / args.rate
    t_start = time.perf_counter()
    for i in range(args.latency_works):
        due = t_start + i * gap
        while time.perf_counter() < due:
            time.sleep(0.001)
        body = text[k * size : (k + 1) * size]
        k += 1
        t0 = time.perf_counter()
        w = reg.register(key, title=f"work {k}", text=body)
        acked = time.perf_counter()
        reg_lat.append(acked - t0)
        if i % 10 == 0:  # every tenth: wait until the reader's generation holds it, then check names it
            probe = body[size // 3 : size // 3 + 600]
            leaf = w.receipt.leaf_index
            while True:
                reader.refresh()
                if reader.synced_to() > leaf:
                    names = [m.work_id for m in reader.check(probe, reg).matches]
                    assert w.work.id in names, names
                    lat.append(time.perf_counter() - acked)
                    break
                if time.perf_counter() - acked > 60:
                    lat.append(float("inf"))
                    break
                time.sleep(0.005)
    elapsed = time.perf_counter() - t_start
    stop.set()
    th.join(60)
    report = reg.check(wi.root)
    row = {
        "bench": "works_sync", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "db": "postgresql" if args.db else "sqlite", "cpus": os.cpu_count(), "load": os.getloadavg()[0],
        "batch": args.batch, "rounds": args.rounds, "work_bytes": size,
        "register_per_s": round(args.batch * args.rounds / sum(reg_s), 1),
        "sync_s_per_batch": {"median": round(statistics.median(sync_s), 4), "max": round(max(sync_s), 4),
                             "first": round(sync_s[0], 4), "last": round(sync_s[-1], 4)},
        "sync_works_per_s": round(args.batch * args.rounds / sum(sync_s), 1),
        "sync_s_per_batch_of_10": {"median": round(statistics.median(small_s), 4), "max": round(max(small_s), 4)},
        "shards_before_compaction": shards_before, "compact_s": round(compact_s, 3),
        "check_s": {"before_compaction": round(check_before, 4), "after": round(check_after, 4)},
        "same_matches_after_compaction": same,
        "latency_phase": {"rate_per_s": args.rate, "achieved_per_s": round(args.latency_works / elapsed, 1),
                          "register_p50_ms": round(1000 * statistics.median(reg_lat), 1),
                          "searchable_s_p50": round(statistics.median(lat), 3),
                          "searchable_s_p95": round(pct(lat, 95), 3), "searchable_s_max": round(max(lat), 3),
                          "probes": len(lat)},
        "registry_check_ok": report.ok,
    }
    record(row, REPO / "benchmarks" / "results" / "bench_works_sync.jsonl")
    reg.close()


if __name__ == "__main__":
    main()
