"""Calibrate the label thresholds of ``ipscope similar`` on labelled sets, and report how well they do.

    python benchmarks/calibrate_similar.py            # fit, report the held-out part and the fitted part
    python benchmarks/calibrate_similar.py --write    # also write src/ipscope/_data/similar_calibration.json
    python benchmarks/calibrate_similar.py --reuse    # refit on the evidence the last run kept (same code)

Three sets (benchmarks/similar_set.py), each run against its own index built once under benchmarks/work/:

* gutenberg: the pairs of tests/data/similar (copies, reformatted and edited copies, hand-written paraphrases
  and same-topic originals, 48 words of an excerpt inside another pair's original, verbatim, edited and in
  quotation marks, unrelated patent and novel texts) against the Gutenberg novels of ../shared but 4;
* bible: passages of 8 verses in Webster's KJV revision (near-copy), Young's, the Basic English and the
  Berean (paraphrase), against the ASV's passages; the next passage of the same chapter, whose ASV text is
  not indexed, in the same fields, is a same-topic original (related): text nobody here wrote;
* translation: the Chinese Union Version and the BSB/ASV, both ways (English queries against the
  Chinese passages indexed with --vectors, Chinese queries against the ASV's), with the next passage of the
  chapter as the same-topic original in the other language.

The evidence of every document compared is kept (``similar(..., features=...)``), then the thresholds are
searched offline (coordinate ascent over GRID) for the best label accuracy, a query that calls another
document derived counting as a wrong label and a same-topic original labelled derived as ORIGINAL_DERIVED_COST
wrong labels. They are fitted on the even-numbered Gutenberg pairs and the Bible books of BIBLE_FIT and
TRANSLATION_FIT; figures are reported on the rest (held out). Prints one JSON line (also appended to
benchmarks/results/calibrate_similar.jsonl).
"""

from __future__ import annotations

import argparse
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
    "near_copy_lexical": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "paraphrase_similarity": [round(x, 3) for x in np.arange(0.80, 0.955, 0.01)],
    "paraphrase_contrast": [0.0, 0.01, 0.02, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08],
    "paraphrase_score": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    # share of the query aligned by meaning (a long unrelated text reached the score with common shingles and
    # one aligned chunk)
    "paraphrase_coverage": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
    "related_similarity": [round(x, 3) for x in np.arange(0.72, 0.925, 0.02)],
    "related_term_overlap": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.01],
    # across scripts (passages aligned by meaning with a text in another language): e5's similarities are lower
    "translation_similarity": [round(x, 3) for x in np.arange(0.76, 0.895, 0.01)],
    "translation_contrast": [0.0, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04],
    "translation_coverage": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    "translation_related": [round(x, 3) for x in np.arange(0.70, 0.905, 0.02)],
    # Kendall's tau of the aligned chunks' order against their matches' (similar._order); -1 is no condition
    "paraphrase_order": [-1.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    "translation_order": [-1.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    # across languages only the aligned chunks on the longest chain in the document's order count
    # (ipscope.labels._monotone), 1: strictly increasing, 2: neighbouring query chunks may share a document
    # chunk; 0: every aligned chunk counts
    "translation_monotone": [0.0, 1.0, 2.0],
    # a document nearest to the query by passage vector by this margin over any other is a translation with a
    # chain shorter than translation_coverage (1: never)
    "translation_margin": [0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 1.0],
}
# thresholds where, among equally good settings, the strictest is taken (a false "paraphrase" is the costly
# error, and texts of one kind, e.g. classical Chinese, are all about as similar as a paraphrase is)
STRICTEST = ("paraphrase_contrast", "translation_contrast")
# the error an examiner cannot afford: a same-topic original called derived. Each counts this many queries
# wrong in the fit (so no setting buys accuracy elsewhere with one)
ORIGINAL_DERIVED_COST = 5.0


def index_path(work: Path) -> Path:
    from ipscope.index import BuildOptions, build_index
    from ipscope.index.format import is_index

    out = work / "similar-gutenberg-heldout.idx"
    if not is_index(out):
        books = sorted(p for p in GUTENBERG.glob("*.txt") if p.name not in ss.HELD_OUT)
        build_index(books, out, BuildOptions(force=True))
    return out


def jsonl_index(work: Path, name: str, docs: list[dict], vectors: bool = False) -> Path:
    """An index of ``docs`` ({"id", "text"}) under ``work``, built once (rebuilt when the documents change)."""
    import hashlib

    from ipscope.index import BuildOptions, build_index
    from ipscope.index.format import is_index

    body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    out = work / f"{name}-{digest}.idx"
    if not is_index(out):
        src = work / f"{name}-{digest}.jsonl"
        src.write_text(body, encoding="utf-8")
        build_index([src], out, BuildOptions(force=True, jobs=1, vectors=vectors))
    return out


def sets(work: Path) -> dict[str, tuple[Path, list[ss.Query]]]:
    """The labelled sets, each with the index it is run against: the Gutenberg pairs (novels), the Bible's
    English renderings against the ASV, and its translations across Chinese and English (indexes with
    --vectors, one per direction)."""
    out = {"gutenberg": (index_path(work), ss.queries(ss.load_pairs(), unrelated=ss.unrelated_texts()))}
    blocks = ss.bible_blocks(ss.BIBLE_FIT + ss.BIBLE_HELD)
    out["bible"] = (jsonl_index(work, "bible-asv", ss.bible_corpus(blocks, ss.CORPUS_FIELD)),
                    ss.bible_queries(blocks, ss.QUERY_FIELDS, ss.CORPUS_FIELD))
    tblocks = ss.bible_blocks(ss.TRANSLATION_FIT + ss.TRANSLATION_HELD)
    for corpus_field, query_field in (("ChiUn", "BSB"), ("ASV", "ChiUn")):
        out[f"translation-{query_field}-to-{corpus_field}"] = (
            jsonl_index(work, f"bible-{corpus_field}-vectors", ss.bible_corpus(tblocks, corpus_field), vectors=True),
            ss.bible_queries(tblocks, {query_field: "translation"}, corpus_field, per_book=4,
                             original_kind="translation-original"))
    return out


def is_fit(q: ss.Query) -> bool:
    """The queries the thresholds are fitted on: even-numbered Gutenberg pairs, the Bible books of BIBLE_FIT
    and TRANSLATION_FIT; the rest are held out."""
    if "|" in q.pair:
        book = q.pair.split("|")[0]
        return book in ss.BIBLE_FIT or book in ss.TRANSLATION_FIT
    return int(q.pair[1:]) % 2 == 0


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
            src = next((d for d in feats if d == q.book or d.endswith("/" + q.book)), None)
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


def _prepared(collected: list[dict]) -> list[tuple]:
    """Per query: (truth code, kind, source features or None, other documents' features that hold any evidence:
    the others can only be labelled derived with some)."""
    out = []
    for c in collected:
        src = c["features"].get(c["source"]) if c["source"] else None
        others = [f for d, f in c["features"].items() if d != c["source"]
                  and (f.near.any() or f.shingled.any() or f.verbatim.any() or f.chunk_sims.shape[0])]
        out.append((c["q"].truth, c["q"].kind, src, others))
    return out


def objective(prep: list[tuple], cal: dict) -> tuple[float, float]:
    """(label credit per query, less a query that calls another document derived, less ORIGINAL_DERIVED_COST
    per same-topic original labelled derived; ROC AUC of derived vs original scores)."""
    from ipscope.similar import decide

    credit = 0.0
    pos, neg = [], []
    for truth, kind, src, others in prep:
        score, label = (decide(src, cal)[:2]) if src is not None else (0.0, "unrelated")
        credit += ss.label_credit(truth, label, kind)
        if kind in ss.ORIGINALS or kind == "translation-original":
            neg.append(score)
            if label in ss.DERIVED_LABELS:
                credit -= ORIGINAL_DERIVED_COST
        elif kind in ss.DERIVED or kind == "translation":
            pos.append(score)
        if any(decide(f, cal)[1] in ss.DERIVED_LABELS for f in others):
            credit -= 1.0
    return credit / max(len(prep), 1), ss.roc_auc(pos, neg)


def fit(collected: list[dict], start: dict) -> dict:
    """Thresholds maximising :func:`objective` on ``collected``: coordinate ascent (:func:`_ascend`) from the
    thresholds the package ships and from the middle of GRID, the better of the two."""
    prep = _prepared(collected)
    middle = {k: v[len(v) // 2] for k, v in GRID.items()}
    tried = [_ascend(prep, start), _ascend(prep, middle)]
    best = max(tried, key=lambda t: t[0])
    print(f"  fit: objective {best[0]} (starts: {[t[0] for t in tried]})", file=sys.stderr)
    cal = _joint(prep, best[1], JOINT)
    return _joint(prep, cal, ("translation_order",))  # then the order, alone (moot on a chain in order)


# thresholds that only act together (a translation needs similar chunks, contrast, order and coverage at once),
# searched jointly over their whole grid after the ascent, on the queries they can change
# (translation_order, which a chain in order makes moot, is searched after them, alone: the product of all five
# grids took ~25 minutes on this machine)
JOINT = ("translation_similarity", "translation_contrast", "translation_coverage", "translation_monotone",
         "translation_margin")


def _joint(prep: list[tuple], cal: dict, keys: tuple[str, ...]) -> dict:
    """``cal`` with ``keys`` set to the best combination of their grid values on the queries with a document in
    another script (the only ones they change); ties: the combination nearest the middle of the tied ones."""
    import itertools

    sub = [p for p in prep if (p[2] is not None and p[2].cross_language) or any(f.cross_language for f in p[3])]
    if not sub:
        return cal
    scored = []
    for combo in itertools.product(*(GRID[k] for k in keys)):
        scored.append((objective(sub, dict(cal, **dict(zip(keys, combo)))), combo))
    top = max(sc for sc, _c in scored)
    tied = [c for sc, c in scored if sc == top]
    mid = [float(np.median([GRID[k].index(c[i]) for c in tied])) for i, k in enumerate(keys)]
    pick = min(tied, key=lambda c: sum(abs(GRID[k].index(c[i]) - mid[i]) for i, k in enumerate(keys)))
    print(f"  joint {keys}: objective {top} on {len(sub)} queries, {len(tied)} tied", file=sys.stderr)
    return dict(cal, **dict(zip(keys, pick)))


def _ascend(prep: list[tuple], start: dict, passes: int = 4) -> tuple[tuple[float, float], dict]:
    """Coordinate ascent over GRID from ``start``: each threshold in turn is set to the best of its grid values,
    the others held; among equally good values the middle of the plateau (those of STRICTEST: the largest).
    Repeated until nothing changes. Returns (objective, thresholds)."""
    cal = {k: start.get(k, GRID[k][len(GRID[k]) // 2]) for k in GRID}
    for k in GRID:  # the start snapped onto the grid
        cal[k] = min(GRID[k], key=lambda v: abs(v - cal[k]))
    best = objective(prep, cal)
    for _ in range(passes):
        changed = False
        for k in GRID:
            scored = [(objective(prep, dict(cal, **{k: v})), v) for v in GRID[k]]
            top = max(sc for sc, _v in scored)
            tied = [v for sc, v in scored if sc == top]
            v = max(tied) if k in STRICTEST else tied[(len(tied) - 1) // 2]
            if v != cal[k]:
                cal[k] = v
                changed = True
            best = top
        if not changed:
            break
    return best, cal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--write", action="store_true", help="write the fitted thresholds into the package")
    ap.add_argument("--no-semantic", action="store_true", help="lexical evidence only")
    ap.add_argument("--reuse", action="store_true",
                    help="refit on the evidence the last run kept in WORK/calibrate-evidence.pickle (same code)")
    ap.add_argument("--only", help="with --reuse: comma-separated sets to run again (the others are kept)")
    args = ap.parse_args()
    if not GUTENBERG.is_dir() or not ss.BIBLE.is_file():
        sys.exit(f"needs {GUTENBERG} and {ss.BIBLE} (the shared data sets)")
    import pickle

    from ipscope.similar import calibration

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "calibrate-evidence.pickle"
    t0 = time.perf_counter()
    collected = pickle.loads(cache.read_bytes()) if args.reuse and cache.is_file() else {}
    for name, (idx, qs) in sets(work).items():
        if name in collected and not (args.only and name in args.only.split(",")):
            continue  # kept from the last run (--reuse)
        print(f"{name}: {len(qs)} queries", file=sys.stderr)
        collected[name] = collect(idx, qs, False if args.no_semantic else None)
    cache.write_bytes(pickle.dumps(collected))
    seconds = time.perf_counter() - t0
    every = [c for cs in collected.values() for c in cs]
    fit_set = [c for c in every if is_fit(c["q"])]
    cal = fit(fit_set, calibration())
    ms = [c["ms"] for c in every]
    row = {"bench": "similar-calibration", "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "semantic": bool(every and every[0]["semantic"]), "thresholds": cal,
           "fitted_on": "even-numbered Gutenberg pairs; Bible books " + ", ".join(ss.BIBLE_FIT + ss.TRANSLATION_FIT),
           "held_out": ss.summarise(rows_for([c for c in every if not is_fit(c["q"])], cal)),
           "held_out_by_set": {n: ss.summarise(rows_for([c for c in cs if not is_fit(c["q"])], cal))
                               for n, cs in collected.items()},
           "fit": ss.summarise(rows_for(fit_set, cal)),
           "query_ms_p50": round(float(np.median(ms)), 1), "seconds": round(seconds, 1)}
    record(row, HERE / "results" / "calibrate_similar.jsonl")
    if args.write:
        CAL_FILE.write_text(json.dumps({
            "source": f"benchmarks/calibrate_similar.py, {row['date']}: fitted on {row['fitted_on']} "
                      "(tests/data/similar/pairs.jsonl, ../shared/data/gutenberg, ../shared/data/bible)"
                      + ("" if row["semantic"] else " (lexical evidence only)"),
            "thresholds": cal,
            "held_out": {k: row["held_out"][k] for k in ("roc_auc_derived_vs_original", "label_accuracy",
                                                         "label_exact", "source_rank1_derived")},
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {CAL_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
