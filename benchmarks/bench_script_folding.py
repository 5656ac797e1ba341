"""Chinese script folding: how much of a script-converted copy `trace` finds verbatim, with and without
the fold, and what the fold costs tokenisation, measured in one run.

Material (../shared/data, none of it written here):

* ``classics-trad``: the classics of ``chinese/classics.jsonl`` written in traditional characters (孟子,
  大学, 中庸: every text of those books), copied to simplified with OpenCC's phrase-level ``t2s``;
* ``cuv-trad``: the Chinese Union Version (``bible/verses.jsonl`` field ``ChiUn``, traditional with
  Taiwan forms), one document per chapter, copied with ``t2s`` and with ``tw2s`` (Taiwan forms);
* ``classics-simp``: the simplified classics (论语, 诗经, 幽梦影 and the first 300 元曲), indexed as
  they are and queried as traditional copies made with ``s2t`` and ``s2tw`` (the reverse direction).

For each set the originals are indexed and every copy traced against them; ``verbatim`` is the share of
the copies' tokens inside verbatim spans, ``near`` inside near-verbatim spans, ``spans`` the spans per
copy. The baseline is the same code with the fold left out of the character table (the table of
tokenizer v1), swapped in within this process. ``edits_per_1000_tokens`` counts the edits trace bridged;
``copies_one_whole_verbatim_span`` the copies found as one verbatim span over all their tokens.
Tokenisation speed: ``tokenize`` over the Chinese Union Version joined into one string three times
(2.5 million characters, 7.5 MB UTF-8), both tables, median of 5 interleaved repeats. Needs ``opencc`` (``pip install 'ipscope[dev]'``) to make the copies.

    python benchmarks/bench_script_folding.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import record  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def _material() -> dict[str, list[tuple[str, str]]]:
    trad, simp = [], []
    with open(SHARED / "chinese" / "classics.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            book = r["id"].rsplit("-", 1)[0]
            if book in ("mengzi", "daxue", "zhongyong"):
                trad.append((r["id"], r["text"]))
            elif book in ("lunyu", "shijing", "youmengying") or (book == "yuanqu" and int(r["id"].rsplit("-", 1)[1]) < 300):
                simp.append((r["id"], r["text"]))
    chapters: dict[str, list[str]] = {}
    with open(SHARED / "bible" / "verses.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("ChiUn"):
                chapters.setdefault(f"{r['book']} {r['chapter']}", []).append(r["ChiUn"])
    cuv = [(k, "\n".join(v)) for k, v in chapters.items()]
    return {"classics-trad": trad, "cuv-trad": cuv, "classics-simp": simp}


@contextmanager
def tables(fold: bool) -> Iterator[None]:
    """Tokenise with the shipped (folding) tables, or with the same tables without the fold."""
    from ipscope import _chartable
    from ipscope import text as T

    saved = (_chartable.load, T._translation)
    if not fold:
        cls, norm = _chartable.generate({})
        unify = dict(T._UNIFY)
        _chartable.load = lambda: (cls, norm)  # type: ignore[assignment]
        T._translation = lambda: unify  # type: ignore[assignment]
    try:
        yield
    finally:
        _chartable.load, T._translation = saved  # type: ignore[assignment]


def _coverage(docs: list[tuple[str, str]], copies: list[str], tmp: Path, name: str) -> dict:
    from ipscope.index import BuildOptions, Index, build_index
    from ipscope.trace import trace

    src = tmp / f"{name}.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in docs),
                   encoding="utf-8")
    out = tmp / f"{name}.idx"
    build_index([src], out, BuildOptions(jobs=1, passages=False, force=True))
    index = Index.open(out)
    tokens = verb = near = spans = own = edits = whole = 0
    for (doc_id, _), copy in zip(docs, copies):
        rep = trace(index, copy)
        tokens += rep.query_tokens
        whole += len(rep.spans) == 1 and rep.spans[0].kind == "verbatim" and rep.spans[0].tokens == rep.query_tokens
        for s in rep.spans:
            spans += 1
            edits += s.edits
            own += any(src.doc_id == doc_id for src in s.sources)
            if s.kind == "verbatim":
                verb += s.tokens
            else:
                near += s.tokens
    return {"docs": len(docs), "tokens": tokens, "verbatim": round(verb / tokens, 4), "near": round(near / tokens, 4),
            "edits_per_1000_tokens": round(1000 * edits / tokens, 3), "copies_one_whole_verbatim_span": whole,
            "spans_per_copy": round(spans / len(docs), 2), "spans_from_own_original": round(own / max(spans, 1), 4)}


def main() -> None:
    import opencc

    from ipscope import _chartable
    from ipscope.text import TOKENIZER, tokenize

    material = _material()
    plan = [("classics-trad", "t2s"), ("cuv-trad", "t2s"), ("cuv-trad", "tw2s"),
            ("classics-simp", "s2t"), ("classics-simp", "s2tw")]
    sets = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in plan:
            docs = material[name]
            conv = opencc.OpenCC(config)
            copies = [conv.convert(t) for _, t in docs]
            row: dict = {}
            for fold in (False, True):
                with tables(fold):
                    row["folded" if fold else "baseline"] = _coverage(docs, copies, Path(tmp), f"{name}-{config}-{fold}")
            sets[f"{name} <- {config}"] = row
    text = "\n".join(t for _, t in material["cuv-trad"]) * 3
    times: dict[str, list[float]] = {"baseline": [], "folded": []}
    for _ in range(5):
        for fold in (False, True):
            with tables(fold):
                tokenize(text[:1000])  # compiled code loaded
                t0 = time.perf_counter()
                tokenize(text)
                times["folded" if fold else "baseline"].append(time.perf_counter() - t0)
    chars = len(text)
    speed = {k: {"median_s": round(statistics.median(v), 4), "mchars_per_s": round(chars / statistics.median(v) / 1e6, 2)}
             for k, v in times.items()}
    record({"bench": "script_folding", "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tokenizer": TOKENIZER, "folding": _chartable.FOLDING, "opencc": opencc.__version__,
            "coverage": sets, "tokenize": {"chars": chars, **speed}},
           HERE / "results" / "bench_script_folding.jsonl")


if __name__ == "__main__":
    main()
