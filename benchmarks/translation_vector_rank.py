"""How well the passage vectors alone point to a translation's source: for every query of the translation sets of
calibrate_similar.py (Chinese Union Version against the BSB and the ASV, indexes built with --vectors), the rank
of its source among the indexed documents by the best cosine similarity of a query window (200 tokens) with any
of their passages, searched exactly over the whole index, and the source's lead over the nearest other document
(negative: another is nearer). Same-topic originals are measured against the document of the passage they
continue. Prints one JSON line per query and a summary line (docs/similar.md, "Rank by passage vector").

    python benchmarks/translation_vector_rank.py     # needs the indexes calibrate_similar.py builds
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import calibrate_similar as cs  # noqa: E402


def main() -> None:
    from ipscope.index import Index
    from ipscope.index import vectors as vec
    from ipscope.index.passages import passage_part
    from ipscope.similar import PASSAGE_TOKENS, _windows, default_embedder, require_layers
    from ipscope.text import tokenize

    emb = default_embedder(required=True)
    rows = []
    for name, (idx_path, qs) in cs.sets(HERE / "work").items():
        if not name.startswith("translation"):
            continue
        idx = Index.open(idx_path)
        layers = require_layers(idx)
        for q in qs:
            toks = tokenize(q.text)
            w = _windows(len(toks), PASSAGE_TOKENS, PASSAGE_TOKENS)
            qv = emb.embed([q.text[int(toks.starts[a]) : int(toks.ends[b - 1])] for a, b in w.tolist()], "query")
            best: dict[str, float] = {}
            for si, sh in enumerate(idx.shards):
                top, sims = vec.search(sh.path, qv, 10**6, exact=True)
                for p, s in zip(top.ravel().tolist(), sims.ravel().tolist()):
                    d = sh.doc_id(passage_part(sh, layers[si], int(p)))
                    best[d] = max(best.get(d, -1.0), float(s))
            ranked = sorted(best, key=lambda d: -best[d])
            rows.append({"set": name, "qid": q.qid, "kind": q.kind, "fitted": cs.is_fit(q),
                         "rank": ranked.index(q.book) + 1 if q.book in ranked else 0,
                         "margin": round(best.get(q.book, 0.0) - max(v for d, v in best.items() if d != q.book), 4)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for kind in ("translation", "translation-original"):
        for fitted in (True, False):
            r = [x for x in rows if x["kind"] == kind and x["fitted"] == fitted]
            if r:
                summary[f"{kind} {'fitted' if fitted else 'held out'}"] = {
                    "queries": len(r), "rank1": sum(x["rank"] == 1 for x in r),
                    "margin_median": round(statistics.median(x["margin"] for x in r), 4),
                    "margin_max": max(x["margin"] for x in r)}
    print(json.dumps({"bench": "translation-vector-rank", "summary": summary}))


if __name__ == "__main__":
    main()
