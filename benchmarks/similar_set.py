"""The labelled query set of ``ipscope similar``, and how a run over it is scored.

Queries come from tests/data/similar/pairs.jsonl (40 excerpts of Project Gutenberg novels, each with a
hand-written paraphrase, a hand-written same-topic original and for 16 of them a Chinese translation):

=============  ==========================================================  =============
kind           query                                                       true label
=============  ==========================================================  =============
copy           the excerpt                                                 copy
reformatted    the excerpt re-wrapped, re-cased, with its quotes changed   copy
edited         every 8th word replaced, every 25th dropped (by rule)        near-copy
paraphrase     the hand-written paraphrase                                 paraphrase
original       the hand-written same-topic original (not derived)          related
unrelated      150 words of a US patent (../shared/data/patents), or       unrelated
               1,500 words of a novel left out of the index (HELD_OUT);
               judged against the document ``similar`` ranks first
translation    the Chinese translation (needs ``--vectors``; reported      paraphrase
               apart)
=============  ==========================================================  =============

The index holds the novels of ../shared/data/gutenberg but the four of HELD_OUT, so every source sits among
long distractor documents.
What is judged is the relation of each query to its source book: its rank there, its score and
its label (a source not reported at all has score 0 and label ``unrelated``).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO / "tests" / "data" / "similar" / "pairs.jsonl"
PATENTS = REPO.parent / "shared" / "data" / "patents" / "uspto-xml"
ORDER = ("copy", "near-copy", "paraphrase", "related", "unrelated")
DERIVED = ("copy", "reformatted", "edited", "paraphrase")  # kinds of query derived from their source
DERIVED_LABELS = ("copy", "near-copy", "paraphrase")
TRUTH = {"copy": "copy", "reformatted": "copy", "edited": "near-copy", "paraphrase": "paraphrase",
         "original": "related", "unrelated": "unrelated", "translation": "paraphrase"}
FILLERS = "the a of and to in that it was he his with as for on".split()


@dataclass(frozen=True)
class Query:
    qid: str
    pair: str
    kind: str
    text: str
    book: str

    @property
    def truth(self) -> str:
        return TRUTH[self.kind]


def load_pairs(path: Path = PAIRS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def reformat(text: str, rng: random.Random) -> str:
    words = text.split()
    out = []
    for k, w in enumerate(words):
        w = w.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
        out.append(w.upper() if rng.random() < 0.05 else w)
        out.append("\n" if k % 11 == 10 else " ")
    return "".join(out).strip()


def edit(text: str, rng: random.Random) -> str:
    """Every 8th word replaced by another word of the passage, every 25th dropped (offsets jittered)."""
    words = text.split()
    out = []
    for k, w in enumerate(words):
        if k % 25 == 24:
            continue
        if k % 8 == 3:
            w = rng.choice(words) if rng.random() < 0.5 else rng.choice(FILLERS)
        out.append(w)
    return " ".join(out)


def patent_texts(n: int = 40, words: int = 150, root: Path = PATENTS) -> list[str]:
    """``n`` texts of ``words`` words from the paragraphs of the USPTO XML files (technical prose on topics no
    novel shares), taken in turn from each file."""
    per_file = []
    for f in sorted(root.rglob("*.xml")):
        xml = f.read_text(encoding="utf-8", errors="replace")
        paras = re.findall(r"<p\b[^>]*>(.*?)</p>", xml, re.S) or re.findall(r"<PDAT>(.*?)</PDAT>", xml, re.S)
        text = " ".join(re.sub(r"<[^>]+>", " ", p) for p in paras).split()
        chunks = [" ".join(text[i : i + words]) for i in range(0, len(text) - words + 1, words)]
        if chunks:
            per_file.append(chunks)
    out: list[str] = []
    k = 0
    while len(out) < n and any(k < len(c) for c in per_file):
        out.extend(c[k] for c in per_file if k < len(c))
        k += 1
    return out[:n]


#: novels of ../shared/data/gutenberg left out of the calibration index: long excerpts of them are unrelated
#: queries of the same kind of prose (a long query meets many common phrases in any long book)
HELD_OUT = ("2833-0.txt", "580-0.txt", "pg110.txt", "pg4276.txt")
GUTENBERG = REPO.parent / "shared" / "data" / "gutenberg"


def long_unrelated_texts(words: int = 1500, per_book: int = 2, root: Path = GUTENBERG) -> list[str]:
    """``per_book`` excerpts of ``words`` words from each HELD_OUT novel, a third and two thirds into the book
    (clear of the Project Gutenberg header and licence)."""
    out = []
    for name in HELD_OUT:
        w = (root / name).read_text(encoding="utf-8", errors="replace").split()
        for k in range(1, per_book + 1):
            a = len(w) * k // (per_book + 1)
            out.append(" ".join(w[a : a + words]))
    return out


def unrelated_texts() -> list[str]:
    """The unrelated queries: 40 patent passages and 8 long excerpts of novels not in the index."""
    return patent_texts() + long_unrelated_texts()


def queries(pairs: list[dict], seed: int = 7, unrelated: list[str] | None = None) -> list[Query]:
    rng = random.Random(seed)
    out = []
    for p in pairs:
        src, book = p["source"], p["book"]
        out.append(Query(f"{p['id']}-copy", p["id"], "copy", src, book))
        out.append(Query(f"{p['id']}-reformatted", p["id"], "reformatted", reformat(src, rng), book))
        out.append(Query(f"{p['id']}-edited", p["id"], "edited", edit(src, rng), book))
        out.append(Query(f"{p['id']}-paraphrase", p["id"], "paraphrase", p["paraphrase"], book))
        out.append(Query(f"{p['id']}-original", p["id"], "original", p["original"], book))
        if "zh" in p:
            out.append(Query(f"{p['id']}-translation", p["id"], "translation", p["zh"], book))
    for k, text in enumerate(unrelated or []):
        out.append(Query(f"u{k + 1:02d}-unrelated", f"u{k + 1:02d}", "unrelated", text, ""))
    return out


def roc_auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not pos or not neg:
        return float("nan")
    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def label_credit(truth: str, got: str) -> float:
    """1 for the right label; 0.5 for a neighbouring one (near-copy for copy, paraphrase for near-copy, ...)."""
    if truth == got:
        return 1.0
    return 0.5 if abs(ORDER.index(truth) - ORDER.index(got)) == 1 else 0.0


def summarise(rows: list[dict]) -> dict:
    """Figures over per-query rows {kind, truth, label, score, rank} (rank 0 = source not reported)."""
    main = [r for r in rows if r["kind"] != "translation"]
    derived = [r for r in main if r["kind"] in DERIVED]
    originals = [r for r in main if r["kind"] == "original"]
    out: dict = {
        "queries": len(main),
        "roc_auc_derived_vs_original": round(roc_auc([r["score"] for r in derived],
                                                     [r["score"] for r in originals]), 4),
        "label_accuracy": round(float(np.mean([label_credit(r["truth"], r["label"]) for r in main])), 4),
        "label_exact": round(float(np.mean([r["truth"] == r["label"] for r in main])), 4),
        "source_rank1_derived": round(float(np.mean([r["rank"] == 1 for r in derived])), 4),
        # queries for which some document other than the source was labelled copy, near-copy or paraphrase
        "false_derived_queries": round(float(np.mean([r.get("false_derived", 0) > 0 for r in main])), 4),
    }
    per_label = {}
    for lab in ORDER:
        tp = sum(1 for r in main if r["label"] == lab and r["truth"] == lab)
        said = sum(1 for r in main if r["label"] == lab)
        true = sum(1 for r in main if r["truth"] == lab)
        if said or true:
            per_label[lab] = {"precision": round(tp / said, 4) if said else None,
                              "recall": round(tp / true, 4) if true else None, "predicted": said, "true": true}
    out["per_label"] = per_label
    out["by_kind"] = {k: {"rank1": round(float(np.mean([r["rank"] == 1 for r in main if r["kind"] == k])), 4),
                          "labels": {lab: sum(1 for r in main if r["kind"] == k and r["label"] == lab)
                                     for lab in ORDER}}
                      for k in ("copy", "reformatted", "edited", "paraphrase", "original", "unrelated")
                      if any(r["kind"] == k for r in main)}
    tr = [r for r in rows if r["kind"] == "translation"]
    if tr:
        out["translation"] = {"queries": len(tr), "source_rank1": round(float(np.mean([r["rank"] == 1 for r in tr])), 4),
                              "labelled_paraphrase": sum(r["label"] == "paraphrase" for r in tr)}
    return out
