"""Planted-passage accuracy sets for ``trace``, built from the shared corpora.

A query is about ``query_tokens`` tokens of *novel* text (from documents that are not in the
index) with passages of indexed documents planted in it, each transformed one way:

* ``verbatim``: the source characters unchanged;
* ``reformatted``: re-wrapped lines, changed case, straight/curly quotes swapped, spaces
  before punctuation; the words are unchanged;
* ``edited``: one word edit per ~12 words on average (substitution, deletion or insertion);
* ``chinese``: a passage of a Chinese classic planted in Chinese novel text.

``score`` measures, per kind, the fraction of planted characters (first to last token of
the passage) that a reported span covers *and* attributes to the right document, and the
fraction of novel characters covered by any span (false attribution).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["verbatim", "reformatted", "edited", "chinese"]
_REPLACEMENTS = ("house", "river", "quickly", "never", "silver", "morning", "strange", "garden", "letter",
                 "because", "little", "window", "horse", "quiet", "beyond", "people", "yellow", "hardly")


@dataclass
class Planted:
    kind: Kind
    doc_id: str
    q_start: int  # query chars of the passage (first token .. last token)
    q_end: int
    s_start: int  # source chars (original document)
    s_end: int


@dataclass
class PlantedQuery:
    text: str
    planted: list[Planted] = field(default_factory=list)
    novel: list[tuple[int, int]] = field(default_factory=list)  # query char ranges of novel text


def body(text: str) -> str:
    """A Gutenberg book without its Project Gutenberg header and licence."""
    m1 = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^\n]*\n", text)
    m2 = re.search(r"\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG", text)
    a = m1.end() if m1 else 0
    b = m2.start() if m2 else len(text)
    return text[a:b]


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def _pick_passage(rnd: random.Random, text: str, lo: int, hi: int, n_words: int) -> tuple[int, int]:
    """A passage of ``n_words`` whitespace words inside text[lo:hi]: (start, end) chars."""
    words = _word_spans(text[lo:hi])
    i = rnd.randrange(0, max(1, len(words) - n_words))
    return lo + words[i][0], lo + words[min(len(words), i + n_words) - 1][1]


def _reformat(rnd: random.Random, s: str) -> str:
    words = s.split()
    out = " ".join(words)
    style = rnd.randrange(4)
    if style == 0:
        out = out.upper()
    elif style == 1:
        out = out.lower()
    out = out.replace('"', "\u201c").replace("'", "\u2019") if rnd.random() < 0.5 else out.replace("\u201c", '"').replace("\u201d", '"')
    out = re.sub(r"([,;:.!?])", r" \1", out) if rnd.random() < 0.5 else out
    width = rnd.randrange(40, 90)
    lines, cur = [], ""
    for w in out.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return "\n".join(lines)


def _edit(rnd: random.Random, s: str, every: float = 12.0) -> tuple[str, int]:
    out, edits = [], 0
    for w in s.split():
        if rnd.random() < 1.0 / every:
            edits += 1
            r = rnd.random()
            if r < 0.5:
                out.append(rnd.choice(_REPLACEMENTS))
            elif r < 0.75:
                continue
            else:
                out.append(w)
                out.append(rnd.choice(_REPLACEMENTS))
        else:
            out.append(w)
    return " ".join(out), edits


def _first_last_token(text: str, a: int, b: int) -> tuple[int, int]:
    seg = text[a:b]
    m = [x.span() for x in re.finditer(r"\w+", seg)]
    return (a + m[0][0], a + m[-1][1]) if m else (a, b)


def make_queries(
    sources: dict[str, str],
    novel: list[str],
    kind: Kind,
    n: int,
    seed: int = 0,
    query_words: int = 700,
    passage_words: tuple[int, int] = (40, 150),
    per_query: int = 2,
) -> list[PlantedQuery]:
    """``n`` queries of about ``query_words`` words (characters for Chinese) each, with
    ``per_query`` passages of ``kind`` from ``sources`` (doc_id -> original text) planted
    in ``novel`` text."""
    rnd = random.Random(seed)
    ids = sorted(sources)
    queries = []
    cjk = kind == "chinese"
    for _ in range(n):
        pieces: list[tuple[str, Planted | None]] = []
        budget = query_words
        for k in range(per_query + 1):
            nov = rnd.choice(novel)
            if cjk:
                ln = max(20, budget // (per_query + 1))
                a = rnd.randrange(0, max(1, len(nov) - ln))
                pieces.append((nov[a : a + ln], None))
            else:
                a, b = _pick_passage(rnd, nov, 0, len(nov), max(10, budget // (per_query + 1)))
                pieces.append((nov[a:b], None))
            if k == per_query:
                break
            doc = rnd.choice(ids)
            text = sources[doc]
            if cjk:
                ln = rnd.randrange(*passage_words)
                if len(text) < ln + 10:
                    ln = max(10, len(text) - 10)
                a = rnd.randrange(0, max(1, len(text) - ln))
                b = a + ln
            else:
                bd = body(text)
                off = text.index(bd) if bd else 0
                a, b = _pick_passage(rnd, text, off, off + len(bd), rnd.randrange(*passage_words))
            src = text[a:b]
            if kind == "reformatted":
                planted_text = _reformat(rnd, src)
            elif kind == "edited":
                planted_text, _ = _edit(rnd, src)
            else:
                planted_text = src
            sa, sb = _first_last_token(text, a, b)
            pieces.append((planted_text, Planted(kind, doc, 0, 0, sa, sb)))
        sep = "" if cjk else "\n\n"
        out, planted, novel_ranges = "", [], []
        for txt, p in pieces:
            if out:
                out += sep
            start = len(out)
            out += txt
            if p is None:
                novel_ranges.append((start, len(out)))
            else:
                qa, qb = _first_last_token(out, start, len(out))
                p.q_start, p.q_end = qa, qb
                planted.append(p)
        queries.append(PlantedQuery(out, planted, novel_ranges))
    return queries


def score(queries: list[PlantedQuery], reports: list) -> dict:
    """Per planted kind: attributed fraction of planted characters; and the false
    attribution rate on novel characters."""
    import numpy as np

    planted_hit = planted_all = novel_hit = novel_all = 0
    for q, rep in zip(queries, reports):
        n = len(q.text)
        by_doc: dict[str, np.ndarray] = {}
        anyspan = np.zeros(n, bool)
        for s in rep.spans:
            anyspan[s.start : s.end] = True
            for src in s.sources:
                by_doc.setdefault(src.doc_id, np.zeros(n, bool))[s.start : s.end] = True
        for p in q.planted:
            planted_all += p.q_end - p.q_start
            if p.doc_id in by_doc:
                planted_hit += int(by_doc[p.doc_id][p.q_start : p.q_end].sum())
        for a, b in q.novel:
            novel_all += b - a
            novel_hit += int(anyspan[a:b].sum())
    return {
        "attributed": planted_hit / max(1, planted_all),
        "novel_false": novel_hit / max(1, novel_all),
        "planted_chars": planted_all,
        "novel_chars": novel_all,
    }


# ------------------------------------------------------------------ the shared-data set

HELD_OUT_BOOKS = ("pg345.txt", "pg8374.txt", "1310-0.txt")  # novel text: never indexed
HELD_OUT_CHINESE = ("youmengying",)  # 幽梦影: novel Chinese text


def _read_book(path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def prepare(shared, work) -> dict:
    """Write the indexable part of the shared corpora under ``work/corpus`` (books as
    UTF-8 text files, Chinese classics as JSONL) and return sources and novel texts."""
    import json
    from pathlib import Path

    shared, work = Path(shared), Path(work)
    books = work / "corpus" / "books"
    books.mkdir(parents=True, exist_ok=True)
    sources_en: dict[str, str] = {}
    novel_en: list[str] = []
    for p in sorted((shared / "gutenberg").glob("*.txt")):
        text = _read_book(p)
        if p.name in HELD_OUT_BOOKS:
            novel_en.append(body(text))
            continue
        (books / p.name).write_bytes(text.encode("utf-8"))
        sources_en[f"books/{p.name}"] = text
    sources_zh: dict[str, str] = {}
    novel_zh: list[str] = []
    with open(shared / "chinese" / "classics.jsonl", encoding="utf-8") as f, \
            open(work / "corpus" / "classics.jsonl", "w", encoding="utf-8") as out:
        for line in f:
            rec = json.loads(line)
            if rec["id"].startswith(HELD_OUT_CHINESE):
                novel_zh.append(rec["text"])
            else:
                out.write(line)
                if len(rec["text"]) >= 60:
                    sources_zh[rec["id"]] = rec["text"]
    return {"sources_en": sources_en, "novel_en": novel_en, "sources_zh": sources_zh,
            "novel_zh": ["".join(novel_zh)], "corpus": work / "corpus"}


def evaluate(index, data: dict, n: int = 40, seed: int = 0, opts=None) -> dict:
    """Accuracy of ``trace`` on planted sets: {kind: score dict}, plus trace latencies."""
    from ipscope.trace import trace

    out = {}
    for kind in ("verbatim", "reformatted", "edited", "chinese"):
        if kind == "chinese":
            qs = make_queries(data["sources_zh"], data["novel_zh"], kind, n, seed, query_words=1000,
                              passage_words=(30, 150))
        else:
            qs = make_queries(data["sources_en"], data["novel_en"], kind, n, seed)
        reps = [trace(index, q.text, f"{kind}-{i}", opts) for i, q in enumerate(qs)]
        out[kind] = score(qs, reps) | {"queries": n}
    return out
