"""The README's figures, written from the latest benchmark results (benchmarks/results/*.jsonl), never by hand.

    python benchmarks/readme_figures.py           # print the blocks
    python benchmarks/readme_figures.py --write   # rewrite them in README.md (between the figures markers)

Each block names the run it comes from (date, command) and how the index was built (with or without the
passage layers); tests/test_docs.py fails when README.md's blocks differ from what this prints, so a new
benchmark run that is kept in results/ must be followed by ``--write``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
# the commands whose default runs wrote the kept lines (the scripts do not record their arguments)
COMMANDS = {"bench_trace": "python benchmarks/bench_trace.py", "bench_similar": "python benchmarks/bench_similar.py",
            "calibrate_similar": "python benchmarks/calibrate_similar.py --write"}


def _lines(name: str) -> list[dict]:
    path = RESULTS / f"{name}.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _full_similar_run() -> dict:
    """The latest bench_similar line of a full run (``--latency-only`` runs measure query times only)."""
    return [r for r in _lines("bench_similar") if r.get("bench") == "similar"][-1]


def _when(rec: dict) -> str:
    return rec.get("when") or rec.get("date") or ""


def _utc(stamp: str) -> str:
    return stamp.replace("T", " ")[:16] + " UTC"


def latest_trace() -> dict:
    """The largest corpus of the latest bench_trace run that measured the peer (the README compares)."""
    runs = [r for r in _lines("bench_trace") if r.get("infini_gram")]
    last = max(_when(r) for r in runs)
    return max((r for r in runs if _when(r) == last), key=lambda r: r["corpus_tokens"])


def trace_block() -> str:
    r = latest_trace()
    sim = _full_similar_run()
    ip, ig = r["ipscope"], r["infini_gram"]
    wp = sim["build_with_passages"]
    return (
        f"Latest run: {_utc(_when(r))}, `{r.get('command', COMMANDS['bench_trace'])}` "
        f"(benchmarks/results/bench_trace.jsonl), {r.get('machine', '2 cores')}, "
        f"{r['corpus_tokens'] / 1e6:,.0f}M tokens ({r['raw_mb']:,.0f} MB). "
        "The ipscope index was built with `--no-passages` (the trace index alone, the same work as "
        "infini-gram's); with the passage layers `similar` needs (the default) the build ran at "
        f"{wp['build_mb_s']:.1f} MB/s and the index took {wp['index_bytes_per_byte']:.2f} bytes per text byte "
        f"(`{COMMANDS['bench_similar']}`, {_utc(_when(sim))}, same corpus size).\n\n"
        "| | ipscope (`--no-passages`) | infini-gram (GPT-2 tokens) |\n"
        "|---|---|---|\n"
        f"| build | {ip['build_mb_s']:.1f} MB/s | {ig['build_mb_s']:.2f} MB/s |\n"
        f"| index size per text byte (with the texts) | {ip['index_bytes_per_byte']:.2f} | "
        f"{ig['index_bytes_per_byte']:.2f} |\n"
        f"| trace of a {r['query_tokens_p50']:,.0f}-token output, p50 / p95 | {ip['trace_p50_ms']:.1f} / "
        f"{ip['trace_p95_ms']:.1f} ms ({ip['without_rss_budget']['trace_p50_ms']:.1f} / "
        f"{ip['without_rss_budget']['trace_p95_ms']:.1f} memory-mapped) | {ig['trace_p50_ms']:.0f} / "
        f"{ig['trace_p95_ms']:.0f} ms |\n"
        f"| memory of the tracing process | {ip['trace_process_rss_mb']:.0f} MB "
        f"({ip['without_rss_budget']['trace_process_rss_mb']:.0f} MB memory-mapped) | "
        f"{ig['query_process_rss_mb']:.0f} MB |\n"
        f"| lightly edited copies attributed | {ip['accuracy']['edited']['attributed']:.0%} | (verbatim only) |\n"
    )


def similar_block() -> str:
    cal = _lines("calibrate_similar")[-1]
    sim = _full_similar_run()
    held = cal["held_out"]
    base = sim["baselines"]
    tr = held.get("translation")
    translations = (f" Chinese-English translations (indexes with `--vectors`) labelled `translation`: "
                    f"{tr['labelled_translation']} of {tr['queries']}." if tr else "")
    return (
        f"Latest calibration ({_utc(_when(cal))}, `{COMMANDS['calibrate_similar']}`, "
        "benchmarks/results/calibrate_similar.jsonl; index with the passage layers), on copies, edits, embedded and "
        "quoted passages, hand-written paraphrases and same-topic originals among 33 novels, and on Bible renderings "
        f"and translations no one here wrote; thresholds fitted on {cal['fitted_on']}; figures on the "
        f"{held['queries']} held-out queries: ROC AUC {held['roc_auc_derived_vs_original']:.4f} derived vs original, "
        f"label accuracy {held['label_accuracy']:.2f} (exact {held.get('label_exact', held['label_accuracy']):.2f}), "
        f"same-topic originals labelled copy or near-copy {held.get('originals_labelled_copy_or_near_copy', 0)} and "
        f"paraphrase {held.get('originals_labelled_paraphrase', 0)} of {held.get('originals', 0)}, source at rank 1 "
        f"for {held['source_rank1_derived']:.0%} of derived queries.{translations} "
        f"Plain BM25 and plain semantic search separate derived from original nearly as well (AUC "
        f"{base['bm25']['roc_auc_derived_vs_original']:.4f} and "
        f"{base['semantic_search']['roc_auc_derived_vs_original']:.4f}, `{COMMANDS['bench_similar']}`, "
        f"{_utc(_when(sim))}, on the novels) but give no label or evidence.\n"
    )


BLOCKS = {"trace": trace_block, "similar": similar_block}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- figures:{name} [^>]*-->\n)(.*?)(<!-- /figures:{name} -->)", re.S)


def readme_block(text: str, name: str) -> str | None:
    m = _pattern(name).search(text)
    return m.group(2) if m else None


def write(readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    for name, make in BLOCKS.items():
        if readme_block(text, name) is None:
            raise SystemExit(f"{readme}: no <!-- figures:{name} ... --> block")
        text = _pattern(name).sub(lambda m: m.group(1) + make() + m.group(3), text)
    readme.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    args = ap.parse_args()
    if args.write:
        write()
    else:
        for name, make in BLOCKS.items():
            print(f"--- {name}\n{make()}")


if __name__ == "__main__":
    main()
