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
ORDER = ("copy", "near-copy", "quoted", "paraphrase", "translation", "related", "unrelated")
# kinds of query derived from their source (the ROC AUC's positives); "original" kinds are its negatives
DERIVED = ("copy", "reformatted", "edited", "paraphrase", "embedded", "embedded-edited", "quoted",
           "revision", "rewording")
ORIGINALS = ("original", "bible-original")
DERIVED_LABELS = ("copy", "near-copy", "quoted", "paraphrase", "translation")
TRUTH = {"copy": "copy", "reformatted": "copy", "edited": "near-copy", "paraphrase": "paraphrase",
         "original": "related", "unrelated": "unrelated", "translation": "translation",
         "embedded": "copy", "embedded-edited": "near-copy", "quoted": "quoted",
         "revision": "near-copy", "rewording": "paraphrase", "bible-original": "related",
         "translation-original": "related"}
# the Bible renderings keep long runs of the KJV's words in places (the BBE, Young's and the Berean as well as
# Webster's revision), so the label the evidence supports depends on the passage: each of these is right
ACCEPTED = {"revision": ("copy", "near-copy"), "rewording": ("paraphrase", "near-copy", "copy")}
# a label next to the true one earns half credit (a light revision called a copy, a same-topic text unrelated)
NEIGHBOURS = {("copy", "near-copy"), ("near-copy", "paraphrase"), ("quoted", "copy"), ("quoted", "near-copy"),
              ("paraphrase", "related"), ("translation", "related"), ("translation", "paraphrase"),
              ("related", "unrelated")}
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


EMBED_WORDS = 48  # the case: a 48-token passage of a novel inside an otherwise original text


def embed_in(host: str, passage: str) -> str:
    """``passage`` set as a paragraph of its own after the sentence end nearest the middle of ``host``."""
    mid = len(host) // 2
    ends = [m.end() for m in re.finditer(r"[.!?][\"\u201d']?\s", host)]
    cut = min(ends, key=lambda e: abs(e - mid)) if ends else mid
    return host[:cut].rstrip() + "\n\n" + passage + "\n\n" + host[cut:].lstrip()


def queries(pairs: list[dict], seed: int = 7, unrelated: list[str] | None = None,
            translations: bool = False) -> list[Query]:
    """The queries of the Gutenberg pairs: for each, its copy, reformatted and edited copies, paraphrase,
    same-topic original and (``translations``) Chinese translation; ``EMBED_WORDS`` words of its excerpt
    inside the next pair's same-topic original (of another book), verbatim, edited and in quotation marks."""
    rng = random.Random(seed)
    out = []
    for k, p in enumerate(pairs):
        src, book = p["source"], p["book"]
        out.append(Query(f"{p['id']}-copy", p["id"], "copy", src, book))
        out.append(Query(f"{p['id']}-reformatted", p["id"], "reformatted", reformat(src, rng), book))
        out.append(Query(f"{p['id']}-edited", p["id"], "edited", edit(src, rng), book))
        out.append(Query(f"{p['id']}-paraphrase", p["id"], "paraphrase", p["paraphrase"], book))
        out.append(Query(f"{p['id']}-original", p["id"], "original", p["original"], book))
        if translations and "zh" in p:
            out.append(Query(f"{p['id']}-translation", p["id"], "translation", p["zh"], book))
        host = pairs[(k + 1) % len(pairs)]
        if host["book"] == book:
            host = pairs[(k + 2) % len(pairs)]
        words = src.split()
        a = rng.randrange(0, max(1, len(words) - EMBED_WORDS))
        passage = " ".join(words[a : a + EMBED_WORDS])
        out.append(Query(f"{p['id']}-embedded", p["id"], "embedded", embed_in(host["original"], passage), book))
        out.append(Query(f"{p['id']}-embedded-edited", p["id"], "embedded-edited",
                         embed_in(host["original"], edit(passage, rng)), book))
        out.append(Query(f"{p['id']}-quoted", p["id"], "quoted",
                         embed_in(host["original"], "\u201c" + passage + "\u201d"), book))
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


def label_credit(truth: str, got: str, kind: str = "") -> float:
    """1 for the right label (or one ACCEPTED for the kind); 0.5 for a neighbouring one (NEIGHBOURS)."""
    if truth == got or got in ACCEPTED.get(kind, ()):
        return 1.0
    return 0.5 if (truth, got) in NEIGHBOURS or (got, truth) in NEIGHBOURS else 0.0


def summarise(rows: list[dict]) -> dict:
    """Figures over per-query rows {kind, truth, label, score, rank} (rank 0 = source not reported)."""
    main = [r for r in rows if not r["kind"].startswith("translation")]
    derived = [r for r in main if r["kind"] in DERIVED]
    originals = [r for r in main if r["kind"] in ORIGINALS]
    out: dict = {
        "queries": len(main),
        "roc_auc_derived_vs_original": round(roc_auc([r["score"] for r in derived],
                                                     [r["score"] for r in originals]), 4),
        "label_accuracy": round(float(np.mean([label_credit(r["truth"], r["label"], r["kind"]) for r in main])), 4),
        "label_exact": round(float(np.mean([label_credit(r["truth"], r["label"], r["kind"]) == 1.0 for r in main])), 4),
        "source_rank1_derived": round(float(np.mean([r["rank"] == 1 for r in derived])), 4),
        # queries for which some document other than the source was labelled copy, near-copy or paraphrase
        "false_derived_queries": round(float(np.mean([r.get("false_derived", 0) > 0 for r in main])), 4),
        # same-topic originals labelled derived (the costly error): copy or near-copy (target 0), paraphrase
        # (target at most 1 in 40)
        "originals": len(originals),
        "originals_labelled_copy_or_near_copy": sum(r["label"] in ("copy", "near-copy", "quoted") for r in originals),
        "originals_labelled_paraphrase": sum(r["label"] == "paraphrase" for r in originals),
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
                      for k in sorted({r["kind"] for r in main})}
    tr = [r for r in rows if r["kind"] == "translation"]
    tro = [r for r in rows if r["kind"] == "translation-original"]
    if tr:
        low = min(r["score"] for r in tr)
        out["translation"] = {
            "queries": len(tr), "source_rank1": round(float(np.mean([r["rank"] == 1 for r in tr])), 4),
            "labelled_translation": sum(r["label"] == "translation" for r in tr),
            "labels": {lab: sum(r["label"] == lab for r in tr) for lab in ORDER if any(r["label"] == lab for r in tr)},
            "originals": len(tro),
            "originals_labels": {lab: sum(r["label"] == lab for r in tro) for lab in ORDER
                                 if any(r["label"] == lab for r in tro)},
            # each translation must score above every same-topic original in the other language
            "translations_above_every_original": sum(r["score"] > max((o["score"] for o in tro), default=-1)
                                                     for r in tr),
            "roc_auc_translation_vs_original": round(roc_auc([r["score"] for r in tr], [r["score"] for r in tro]), 4),
            "lowest_translation_score": round(low, 4),
            "highest_original_score": round(max((o["score"] for o in tro), default=0.0), 4)}
    return out


# ---------------------------------------------------------------------------------------- the Bible set

BIBLE = REPO.parent / "shared" / "data" / "bible" / "verses.jsonl"
BLOCK_VERSES = 8  # a passage: this many consecutive verses of one chapter (~200 English words)
# books the thresholds are fitted on, and books held out (no parallel passages between the two: Kings,
# Chronicles and Psalms, which repeat one another, are in neither)
BIBLE_FIT = ("Genesis", "Exodus", "Judges", "I Samuel", "Job", "Isaiah")
BIBLE_HELD = ("Joshua", "Ruth", "II Samuel", "Esther", "Daniel", "Jeremiah", "Ezekiel")
CORPUS_FIELD = "ASV"
# query field -> kind: Webster's revision of the KJV shares most of the ASV's wording (another revision of it);
# Young's, the Basic English and the Berean are independent renderings in other words
QUERY_FIELDS = {"Webster": "revision", "YLT": "rewording", "BBE": "rewording", "BSB": "rewording"}
# the translation set (needs --vectors, so kept small): short books, Chinese Union Version against the ASV
TRANSLATION_FIT = ("Ruth", "Jonah", "Joel", "Micah", "Zephaniah", "Malachi", "Lamentations")
TRANSLATION_HELD = ("Esther", "Habakkuk", "Nahum", "Haggai")


def bible_blocks(books: tuple[str, ...], path: Path = BIBLE) -> list[dict]:
    """The passages of ``books``: per chapter, consecutive runs of BLOCK_VERSES verses (a short last run
    joins the one before), each ``{"book", "chapter", "block" (its number in the chapter), "ref", field: text}``."""
    chapters: dict[tuple[str, int], list[dict]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            v = json.loads(line)
            if v["book"] in books:
                chapters.setdefault((v["book"], v["chapter"]), []).append(v)
    out = []
    for (book, ch), verses in chapters.items():
        runs = [verses[i : i + BLOCK_VERSES] for i in range(0, len(verses), BLOCK_VERSES)]
        if len(runs) > 1 and len(runs[-1]) < BLOCK_VERSES // 2:
            last = runs.pop()
            runs[-1] = runs[-1] + last
        for k, run in enumerate(runs):
            b = {"book": book, "chapter": ch, "block": k,
                 "ref": f"{book} {ch}:{run[0]['verse']}-{run[-1]['verse']}"}
            for fld in ("ASV", "Webster", "YLT", "BBE", "BSB", "ChiUn", "ChiUnL"):
                b[fld] = ("" if fld.startswith("Chi") else " ").join(v.get(fld, "") for v in run).strip()
            out.append(b)
    return out


def bible_corpus(blocks: list[dict], fld: str) -> list[dict]:
    """The indexed documents: the even-numbered passages of every chapter in ``fld`` (``{"id", "text"}``); the
    odd-numbered ones stay out, so their renderings are same-topic texts with no source in the index."""
    return [{"id": f"{fld}/{b['ref']}", "text": b[fld]} for b in blocks if b["block"] % 2 == 0 and b[fld]]


def bible_queries(blocks: list[dict], fields: dict[str, str], corpus_field: str, per_book: int = 3,
                  seed: int = 11, original_kind: str = "bible-original") -> list[Query]:
    """For ``per_book`` chapters of each book with at least two passages: its first passage (indexed) in each
    query field, judged against its own document (a derived pair), and its second passage (not indexed) in
    each query field, judged against the first passage's document (the same chapter's neighbouring text: the
    same topic, not derived from it)."""
    rng = random.Random(seed)
    by_ch: dict[tuple[str, int], list[dict]] = {}
    for b in blocks:
        by_ch.setdefault((b["book"], b["chapter"]), []).append(b)
    out = []
    for book in sorted({b["book"] for b in blocks}):
        chs = sorted(c for c in by_ch if c[0] == book and len(by_ch[c]) >= 2)
        for key in sorted(rng.sample(chs, min(per_book, len(chs)))):
            first, second = by_ch[key][0], by_ch[key][1]
            doc = f"{corpus_field}/{first['ref']}"
            for fld, kind in fields.items():
                if first[fld] and second[fld]:
                    pair = f"{book}|{key[1]}"
                    out.append(Query(f"{fld}/{first['ref']}", pair, kind, first[fld], doc))
                    out.append(Query(f"{fld}/{second['ref']}", pair, original_kind, second[fld], doc))
    return out
