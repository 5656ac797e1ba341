"""Calibrate the label thresholds of ``ipscope similar`` on the labelled set, and report how well they do.

    python benchmarks/calibrate_similar.py            # fit on half the pairs, report the other half and all
    python benchmarks/calibrate_similar.py --write    # also write src/ipscope/_data/similar_calibration.json

Runs every query of benchmarks/similar_set.py against an index of ../shared/data/gutenberg (built once under
benchmarks/work/), keeps the evidence of every document compared (``similar(..., features=...)``), then
searches the thresholds offline: the score depends only on the paraphrase similarity threshold, so for each
value of it every combination of the others is scored at once over all queries. The thresholds are fitted on
the pairs with an even number and the figures reported on the odd ones (held out) and on all.
Prints one JSON line (also appended to benchmarks/results/calibrate_similar.jsonl).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import similar_set as ss  # noqa: E402
from _results import record  # noqa: E402

REPO = HERE.parent
GUTENBERG = ss.GUTENBERG
CAL_FILE = REPO / "src" / "ipscope" / "_data" / "similar_calibration.json"

GRID = {
    "copy_verbatim": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "near_copy_lexical": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    "paraphrase_similarity": [round(x, 3) for x in np.arange(0.80, 0.955, 0.01)],
    "paraphrase_contrast": [0.0, 0.01, 0.02, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06],
    "paraphrase_score": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    # share of the query aligned by meaning (a long unrelated text reached the score with common shingles and
    # one aligned chunk)
    "paraphrase_coverage": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4],
    "related_similarity": [round(x, 3) for x in np.arange(0.72, 0.905, 0.02)],
    "related_term_overlap": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.01],
}
# thresholds where, among equally good settings, the strictest is taken (a false "paraphrase" is the costly
# error, and texts of one kind, e.g. classical Chinese, are all about as similar as a paraphrase is)
STRICTEST = ("paraphrase_contrast",)
LABEL_CODE = {lab: k for k, lab in enumerate(ss.ORDER)}


def index_path(work: Path) -> Path:
    from ipscope.index import BuildOptions, build_index
    from ipscope.index.format import is_index

    out = work / "similar-gutenberg-heldout.idx"
    if not is_index(out):
        books = sorted(p for p in GUTENBERG.glob("*.txt") if p.name not in ss.HELD_OUT)
        build_index(books, out, BuildOptions(force=True))
    return out


def collect(idx_path: Path, queries: list[ss.Query], semantic: bool | None) -> list[dict]:
    """Per query: the features of every document compared, and the doc id of its source."""
    from ipscope.index import Index
    from ipscope.similar import SimilarOptions, similar

    idx = Index.open(idx_path)
    opts = SimilarOptions(semantic=semantic, top=1000)
    out = []
    for k, q in enumerate(queries):
        feats: dict = {}
        t = time.perf_counter()
        rep = similar(idx, q.text, q.qid, opts, features=feats)
        if q.book:
            src = next((d for d in feats if d.endswith(q.book)), None)
        else:  # an unrelated text: judged against the document reported first
            src = rep.results[0].doc_id if rep.results else None
        out.append({"q": q, "features": feats, "source": src, "ms": (time.perf_counter() - t) * 1000,
                    "semantic": rep.semantic})
        if (k + 1) % 20 == 0:
            print(f"  {k + 1}/{len(queries)} queries", file=sys.stderr)
    return out


def rows_for(collected: list[dict], cal: dict) -> list[dict]:
    """Per query: the source's label, score and rank, and whether another document was labelled derived."""
    from ipscope.similar import _match, order_key

    rows = []
    for c in collected:
        matches = sorted((_match(f, cal) for f in c["features"].values()), key=order_key)
        rank = next((i + 1 for i, r in enumerate(matches) if r.doc_id == c["source"]), 0)
        src = matches[rank - 1] if rank else None
        q = c["q"]
        rows.append({"qid": q.qid, "kind": q.kind, "truth": q.truth, "label": src.label if src else "unrelated",
                     "score": src.score if src else 0.0, "rank": rank if q.book else 0,
                     "false_derived": sum(1 for r in matches if r.doc_id != c["source"] and r.label in ss.DERIVED_LABELS)})
    return rows


def fit(collected: list[dict]) -> dict:
    """Thresholds maximising label accuracy (half credit for a neighbour), then ROC AUC, on ``collected``.
    Among equally good settings each threshold is taken at the median of its tied values (the middle of the
    plateau, not its edge), those of STRICTEST at their largest: the best setting nearest that point."""
    from ipscope.similar import decide

    base = {k: v[0] for k, v in GRID.items()}
    truth = np.array([LABEL_CODE[c["q"].truth] for c in collected])
    best: tuple = (-1.0, -1.0, None)
    tied: list[dict] = []
    derived = np.array([c["q"].kind in ss.DERIVED for c in collected])
    original = np.array([c["q"].kind == "original" for c in collected])
    for ps, pc in itertools.product(GRID["paraphrase_similarity"], GRID["paraphrase_contrast"]):
        cal = dict(base, paraphrase_similarity=ps, paraphrase_contrast=pc)
        v = np.zeros(len(collected))
        lex = np.zeros(len(collected))
        score = np.zeros(len(collected))
        aligned = np.zeros(len(collected))  # share of the query aligned by meaning
        msim = np.zeros(len(collected))
        ovl = np.zeros(len(collected))
        for i, c in enumerate(collected):
            f = c["features"].get(c["source"]) if c["source"] else None
            if f is None:
                continue
            s, _lab, al = decide(f, cal)
            score[i], aligned[i] = s, al.mean()
            v[i] = f.verbatim.mean()
            lex[i] = (f.near | f.shingled).mean()
            msim[i] = f.chunk_sims.mean() if f.chunk_sims.shape[0] else 0.0
            ovl[i] = f.overlap
        auc = ss.roc_auc(score[derived].tolist(), score[original].tolist())
        # the other documents compared: (query number, verbatim, lexical, score, aligned) of each
        oq, ov, olex, osc, oal = [], [], [], [], []
        for i, c in enumerate(collected):
            for d, f in c["features"].items():
                if d == c["source"]:
                    continue
                s_, _lab, al_ = decide(f, cal)
                oq.append(i)
                ov.append(f.verbatim.mean())
                olex.append((f.near | f.shingled).mean())
                osc.append(s_)
                oal.append(al_.mean())
        oq_a, ov_a, olex_a, osc_a, oal_a = (np.asarray(x) for x in (oq, ov, olex, osc, oal))
        for cv, nl, psc, pcov, rs, ro in itertools.product(
                GRID["copy_verbatim"], GRID["near_copy_lexical"], GRID["paraphrase_score"],
                GRID["paraphrase_coverage"], GRID["related_similarity"], GRID["related_term_overlap"]):
            lab = np.full(len(collected), LABEL_CODE["unrelated"])
            rel = (msim >= rs) | (ovl >= ro)
            lab[rel] = LABEL_CODE["related"]
            para = (score >= psc) & (aligned > 0) & (aligned >= pcov)
            lab[para] = LABEL_CODE["paraphrase"]
            lab[lex >= nl] = LABEL_CODE["near-copy"]
            lab[v >= cv] = LABEL_CODE["copy"]
            diff = np.abs(lab - truth)
            acc = float(np.mean(np.where(diff == 0, 1.0, np.where(diff == 1, 0.5, 0.0))))
            # a query that also calls another document derived costs as much as a wrong label
            false = (ov_a >= cv) | (olex_a >= nl) | ((osc_a >= psc) & (oal_a > 0) & (oal_a >= pcov))
            acc -= float(np.unique(oq_a[false]).shape[0]) / len(collected) if false.any() else 0.0
            setting = {"copy_verbatim": cv, "near_copy_lexical": nl, "paraphrase_similarity": ps,
                       "paraphrase_contrast": pc, "paraphrase_score": psc, "paraphrase_coverage": pcov,
                       "related_similarity": rs,
                       "related_term_overlap": ro}
            if (acc, auc) > best[:2]:
                best = (acc, auc, setting)
                tied = [setting]
            elif (acc, auc) == best[:2]:
                tied.append(setting)
    top = max(tuple(t[k] for k in STRICTEST) for t in tied)
    tied = [t for t in tied if tuple(t[k] for k in STRICTEST) == top]  # the strictest of those first
    middle = {k: float(np.median([t[k] for t in tied])) for k in GRID}

    def distance(t: dict) -> float:  # in grid steps from the middle of the plateau
        return sum(abs(GRID[k].index(t[k]) - np.interp(middle[k], GRID[k], range(len(GRID[k])))) for k in GRID)

    return min(tied, key=distance)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--write", action="store_true", help="write the fitted thresholds into the package")
    ap.add_argument("--no-semantic", action="store_true", help="lexical evidence only")
    args = ap.parse_args()
    if not GUTENBERG.is_dir():
        sys.exit(f"needs {GUTENBERG} (the shared data sets)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    idx = index_path(work)
    qs = ss.queries(ss.load_pairs(), unrelated=ss.unrelated_texts())
    t0 = time.perf_counter()
    collected = collect(idx, qs, False if args.no_semantic else None)
    seconds = time.perf_counter() - t0
    main_q = [c for c in collected if c["q"].kind != "translation"]
    fit_set = [c for c in main_q if int(c["q"].pair[1:]) % 2 == 0]
    held = [c for c in collected if int(c["q"].pair[1:]) % 2 == 1]
    cal = fit(fit_set)
    ms = [c["ms"] for c in main_q]
    row = {"bench": "similar-calibration", "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "semantic": bool(collected and collected[0]["semantic"]), "thresholds": cal,
           "fitted_on": "pairs with an even number", "held_out": ss.summarise(rows_for(held, cal)),
           "all": ss.summarise(rows_for(collected, cal)), "query_ms_p50": round(float(np.median(ms)), 1),
           "seconds": round(seconds, 1)}
    record(row, HERE / "results" / "calibrate_similar.jsonl")
    if args.write:
        CAL_FILE.write_text(json.dumps({
            "source": f"benchmarks/calibrate_similar.py, {row['date']}: fitted on the even-numbered pairs of "
                      "tests/data/similar/pairs.jsonl against ../shared/data/gutenberg"
                      + ("" if row["semantic"] else " (lexical evidence only)"),
            "thresholds": cal,
            "held_out": {k: row["held_out"][k] for k in ("roc_auc_derived_vs_original", "label_accuracy",
                                                         "source_rank1_derived")},
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {CAL_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
