"""What the check page shows (issue 13), shaped from the results of the Python API the page calls: a trace grouped
by document (:func:`trace_view`), the checked text cut into marked segments (:func:`marked`), each span's two sides
(:func:`passages`), similar's ranking (:func:`similar_rows`) and its evidence by meaning (:func:`semantic_view`),
and the page's own timing for its ``Server-Timing`` header (:class:`Timing`). No logic of the engines here: only
the shape a template reads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

__all__ = ["SIMILAR_TOP", "SourceMatch", "Timing", "TraceView", "marked", "passages", "semantic_view",
           "similar_rows", "trace_view"]

SIMILAR_TOP = 10  # documents of a corpus ranked by similar on the check page


class Timing:
    """The server's own timing of a page, for its ``Server-Timing`` header (W3C Server Timing): each engine call
    (run in the engine's threads) by name, and the whole handler (``total``: from the handler's start to the
    rendered page; the form's upload is read within it)."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    async def run(self, name: str, compute: Callable[[Callable[[], Any]], Any], fn: Callable[[], Any]) -> Any:
        """``fn`` in an engine thread (``compute``), timed as ``name``."""
        return await self.wait(name, compute(fn))

    async def wait(self, name: str, aw: Awaitable[Any]) -> Any:
        t = time.perf_counter()
        try:
            return await aw
        finally:
            self.parts[name] = (time.perf_counter() - t) * 1000

    def header(self, t0: float) -> str:
        total = (time.perf_counter() - t0) * 1000
        return ", ".join([f"{k};dur={v:.1f}" for k, v in self.parts.items()] + [f"total;dur={total:.1f}"])


def similar_rows(rep: Any) -> list[dict[str, Any]]:
    """similar's ranking for the page: each document's title, id, label, score and its evidence shares."""
    return [{"title": str(r.meta.get("title") or r.doc_id), "id": r.doc_id, "label": r.label, "score": r.score,
             "evidence": r.evidence} for r in rep.results]


def semantic_view(text: str, rep: Any, works: dict[str, Any] | None, reader: str) -> dict[str, Any]:
    """similar's ranking with the evidence by meaning, for the page: each document with its label, score and the
    passages aligned by meaning (the text's characters beside the document's). ``works``: for the registry, the
    public records of the works by id (a document without one is left out); a work's own characters are shown
    to its owner (``reader``, an owner id) only, as elsewhere on the page."""
    rows = []
    for r in rep.results:
        info = works.get(r.doc_id) if works is not None else None
        if works is not None and info is None:
            continue
        show = info is None or info.owner_id == reader
        pairs = [{"qs": p.query_start, "qe": p.query_end, "query": text[p.query_start:p.query_end],
                  "ds": p.start, "de": p.end, "similarity": p.similarity,
                  "doc": (p.text or None) if show else None}
                 for p in r.passages if p.kind == "semantic"]
        rows.append({"title": info.title if info is not None else str(r.meta.get("title") or r.doc_id),
                     "id": r.doc_id, "label": r.label, "score": r.score, "pairs": pairs,
                     "owner": info.owner if info is not None else None})
    return {"rows": rows, "elapsed_ms": rep.elapsed_ms, "used": rep.semantic,
            "pairs": sum(len(r["pairs"]) for r in rows)}


@dataclass(frozen=True)
class SourceMatch:
    """A corpus document a traced text copies from, in the shape the check page shows (a trace has no owner,
    no reservations and no label: the template leaves them out)."""

    work_id: str  # the document's id in the corpus
    title: str
    spans: tuple[Any, ...]  # CheckSpan: the query's characters and the document's
    texts: tuple[str | None, ...]  # the document's matched characters, span by span
    score: float  # the share of the query's tokens in these spans
    owner: str | None = None
    owner_id: str | None = None
    label: str | None = None
    reservations: Any = None


@dataclass(frozen=True)
class TraceView:
    matches: tuple[SourceMatch, ...]
    query_tokens: int
    elapsed_ms: float
    notes: tuple[str, ...]


def trace_view(rep: Any) -> TraceView:
    """A TraceReport grouped by the document of each span's first source, most copied first."""
    from ...types import CheckSpan

    groups: dict[str, list[tuple[Any, Any]]] = {}
    for sp in rep.spans:
        if sp.sources:
            groups.setdefault(sp.sources[0].doc_id, []).append((sp, sp.sources[0]))
    out = []
    for doc_id, pairs in groups.items():
        src0 = pairs[0][1]
        title = str(src0.meta.get("title") or doc_id)
        spans = tuple(CheckSpan(sp.start, sp.end, src.start, src.end, sp.kind, sp.tokens, sp.matched_tokens,
                                sp.edits) for sp, src in pairs)
        share = sum(sp.tokens for sp, _src in pairs) / max(1, rep.query_tokens)
        out.append(SourceMatch(doc_id, title, spans, tuple(src.text for _sp, src in pairs), share))
    out.sort(key=lambda m: -m.score)
    return TraceView(tuple(out), rep.query_tokens, rep.elapsed_ms, tuple(rep.notes))


def marked(text: str, result: Any) -> list[dict[str, Any]]:
    """The checked text cut into segments at every span's ends: each ``{"text", "id", "match", "also"}`` where
    ``id`` names the first span covering it (``i-j``: match i, span j) or is None, and ``also`` lists the spans of
    the other matches covering it too (``{"id", "match"}``, one per match), so a passage several works share shows
    each of them. The template marks and links them."""
    spans = [(s.query_start, s.query_end, f"{i}-{j}", i) for i, m in enumerate(result.matches)
             for j, s in enumerate(m.spans) if 0 <= s.query_start < s.query_end <= len(text)]
    cuts = sorted({0, len(text), *(sp[0] for sp in spans), *(sp[1] for sp in spans)})
    out: list[dict[str, Any]] = []
    for a, b in zip(cuts, cuts[1:]):
        covers: dict[int, str] = {}  # match -> its first span covering the segment
        for sa, sb, sid, i in spans:
            if sa <= a and b <= sb and i not in covers:
                covers[i] = sid
        items = list(covers.items())
        first = items[0] if items else (None, None)
        out.append({"text": text[a:b], "id": first[1], "match": first[0],
                    "also": [{"id": sid, "match": i} for i, sid in items[1:]]})
    return out


def passages(text: str, result: Any, own: dict[str, str]) -> list[list[dict[str, Any]]]:
    """For each match, each span's two sides: the query's characters and the work's (from the work's text when
    the reader owns it; for a verbatim span the characters are the same on both sides; otherwise only the
    offsets are public)."""
    out = []
    for i, m in enumerate(result.matches):
        rows = []
        for j, s in enumerate(m.spans):
            work_text = own.get(m.work_id)
            if isinstance(m, SourceMatch):  # a corpus document: its matched characters came with the trace
                wt: str | None = m.texts[j]
            elif work_text is not None:
                wt = work_text[s.work_start:s.work_end]
            elif s.kind == "verbatim":
                wt = text[s.query_start:s.query_end]
            else:
                wt = None
            rows.append({"id": f"{i}-{j}", "span": s, "query": text[s.query_start:s.query_end], "work": wt})
        out.append(rows)
    return out
