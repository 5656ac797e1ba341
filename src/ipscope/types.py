"""Frozen data types shared by every capability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Document:
    """One document (or one part of a very large one) as readers yield it.

    ``where`` says where it came from (``file`` or ``file:line``) for error messages and
    the index account. ``offset`` is the character offset of this part within the whole
    document: 0 except for the later parts of a document split because of its size.
    """

    id: str
    text: str
    where: str
    meta: dict[str, Any] = field(default_factory=dict)
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input record that could not become a document, and why (with the fix).

    ``code`` is a short stable name for counting (``invalid-utf8``, ``binary``,
    ``malformed-json``, ``missing-id``, ``bad-id``, ``missing-text``, ``bad-text``,
    ``unreadable``, ``empty``, ``no-tokens``, ``duplicate-id``)."""

    where: str
    code: str
    reason: str
    id: str | None = None


SpanKind = Literal["verbatim", "near-verbatim"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a span occurs in the corpus: half-open character offsets in the document's
    original text."""

    doc_id: str
    start: int
    end: int
    text: str | None = None  # the source's matched characters, when excerpts were asked for
    before: str | None = None  # up to ``context`` characters of the source before and after
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"doc_id": self.doc_id, "start": self.start, "end": self.end}
        if self.text is not None:
            d["text"] = self.text
            d["before"] = self.before
            d["after"] = self.after
        return d


@dataclass(frozen=True, slots=True)
class Span:
    """A passage of the query found in the corpus.

    ``start``/``end`` are half-open character offsets in the query; ``tokens`` counts query
    tokens in the span, ``matched_tokens`` those equal to the source (== ``tokens`` for a
    verbatim span), ``edits`` the substitutions/insertions/deletions bridged.
    ``total_occurrences`` is the number of places in the corpus holding this exact token
    sequence (verbatim) or the number of aligned source passages found (near-verbatim).
    """

    start: int
    end: int
    tokens: int
    kind: SpanKind
    total_occurrences: int
    sources: tuple[Source, ...]
    matched_tokens: int
    edits: int
    token_start: int
    token_end: int


@dataclass(frozen=True, slots=True)
class DocumentMatch:
    doc_id: str
    matched_tokens: int


@dataclass(frozen=True, slots=True)
class TraceReport:
    """Everything ``trace`` found for one query."""

    query: str
    query_chars: int
    query_tokens: int
    coverage: float
    elapsed_ms: float
    spans: tuple[Span, ...]
    documents: tuple[DocumentMatch, ...]
    min_tokens: int
    text: str = field(repr=False, default="")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in docs/formats.md."""
        return {
            "query": self.query,
            "query_chars": self.query_chars,
            "query_tokens": self.query_tokens,
            "coverage": round(self.coverage, 6),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "min_tokens": self.min_tokens,
            "spans": [
                {
                    "start": s.start,
                    "end": s.end,
                    "tokens": s.tokens,
                    "kind": s.kind,
                    "matched_tokens": s.matched_tokens,
                    "edits": s.edits,
                    "total_occurrences": s.total_occurrences,
                    "sources": [src.to_dict() for src in s.sources],
                }
                for s in self.spans
            ],
            "documents": [{"doc_id": d.doc_id, "matched_tokens": d.matched_tokens} for d in self.documents],
        }
