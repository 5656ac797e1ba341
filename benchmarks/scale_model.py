"""The arithmetic of docs/scale.md's scale model ("Sizing a cluster"), from a run of bench_scale.py.

Reads the last line of benchmarks/results/bench_scale.jsonl that has a ``model`` part (or the line whose ``when``
is given) and prints, as JSON, its measured inputs and what they give for 100B tokens on two 32-core machines and
for 10T tokens. The formulas are the ones docs/scale.md states; this only does the sums.

    python benchmarks/scale_model.py
    python benchmarks/scale_model.py --when 2026-12-06T09:28:44Z
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW_BYTES_PER_TOKEN = 5.46  # corpus-100000000.json: 545.9 MB of text, 100.0M tokens (bench_trace's corpus)
INFINIGRAM_BYTES_PER_TOKEN = 7.0  # infini-gram's docs/pkg_doc.md: "roughly 7 bytes per token"


def human_bytes(n: float) -> str:
    for unit, k in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{n:.0f} B"


def human_s(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    if s >= 60:
        return f"{s / 60:.3g} min"
    return f"{s:.3g} s"


def inputs(row: dict) -> dict:
    m = row["model"]
    return {"when": row["when"], "load": m["load_before"], "T": m["tokens_per_shard"], "b": m["index_bytes_per_token"],
            "t_b": m["one_shard"]["build_s_one_core"], "build_100m_2_cores": m.get("build_s_per_100m_tokens_2_cores"),
            "q_t_ms": m["per_extra_shard"]["trace_p50_ms"], "q_s_ms": m["per_extra_shard"]["similar_p50_ms"],
            "m_mb": m["per_extra_shard"]["rss_mb"], "m_anon_mb": m["per_extra_shard"].get("anon_rss_mb"),
            "base_mb": m["one_shard"]["query"]["base_rss_mb"],
            "t_v": m["vectors"]["s_per_passage"], "p": m["passages_per_shard"]}


def model(x: dict, n_tokens: float, cores: int) -> dict:
    shards = n_tokens / x["T"]
    build_core_s = shards * x["t_b"]
    trace_core_s = shards * x["q_t_ms"] / 1000
    similar_core_s = shards * x["q_s_ms"] / 1000
    return {"tokens": n_tokens, "cores": cores, "shards": round(shards),
            "index": human_bytes(n_tokens * x["b"]), "index_per_machine_of_2": human_bytes(n_tokens * x["b"] / 2),
            "corpus_read": human_bytes(n_tokens * RAW_BYTES_PER_TOKEN),
            "build_core_hours": round(build_core_s / 3600), "build_wall": human_s(build_core_s / cores),
            # t_v is wall time with both of the machine's cores embedding: 2 core-seconds each
            "vectors_core_hours": round(shards * x["p"] * x["t_v"] * 2 / 3600),
            "trace_core_s": round(trace_core_s, 1), "trace_wall": human_s(trace_core_s / cores),
            "cores_for_5s_trace": round(trace_core_s / 5),
            "similar_core_s": round(similar_core_s, 1), "similar_wall": human_s(similar_core_s / cores),
            "shards_resident": human_bytes(shards * x["m_mb"] * 1e6),
            "shards_anonymous": human_bytes(shards * (x["m_anon_mb"] or 0) * 1e6),
            "index_vs_infinigram": round(x["b"] / INFINIGRAM_BYTES_PER_TOKEN, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(HERE / "results" / "bench_scale.jsonl"))
    ap.add_argument("--when", default=None, help="the run to use (its \"when\"); default: the last with a model")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.results, encoding="utf-8") if line.strip()]
    rows = [r for r in rows if "model" in r and "per_extra_shard" in r["model"] and (args.when in (None, r["when"]))]
    if not rows:
        raise SystemExit(f"no bench_scale run with a model part (and per_extra_shard) in {args.results}")
    x = inputs(rows[-1])
    print(json.dumps({"inputs": x, "two_machines_100b": model(x, 1e11, 64), "ten_trillion": model(x, 1e13, 1024)},
                     indent=1))


if __name__ == "__main__":
    main()
