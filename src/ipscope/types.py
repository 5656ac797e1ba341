"""Frozen data types shared by every capability."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
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
    account: dict[str, Any] = field(default_factory=dict)  # facts for the index's account line (id assigned ...)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input record that could not become a document, and why (with the fix).

    ``code`` is a short stable name for counting (``invalid-utf8``, ``undecodable``, ``binary``,
    ``malformed-json``, ``bad-id``, ``missing-text``, ``bad-text``,
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
    meta: dict[str, Any] = field(default_factory=dict)  # the document's metadata (title, author, url, path ...)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"doc_id": self.doc_id, "start": self.start, "end": self.end}
        if self.meta:
            d["meta"] = self.meta
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
    notes: tuple[str, ...] = ()
    provenance: dict[str, Any] | None = None  # see docs/formats.md; filled by the API that made the report
    # a router's answer without some shards (a shard server down or past its deadline): docs/scale.md
    missing_shards: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing_shards)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in docs/formats.md."""
        d = {
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
            "notes": list(self.notes),
        }
        if self.missing_shards:  # only a router's partial answer has these
            d["partial"] = True
            d["missing_shards"] = list(self.missing_shards)
        if self.provenance is not None:
            d["provenance"] = self.provenance
        return d


# ------------------------------------------------------------------------------------------------ similar

Label = Literal["copy", "near-copy", "quoted", "paraphrase", "translation", "related", "unrelated"]
# strongest first: a result's label is the first of these that holds for a substantial passage of the query
LABELS: tuple[Label, ...] = ("copy", "near-copy", "quoted", "paraphrase", "translation", "related", "unrelated")


@dataclass(frozen=True, slots=True)
class PassagePair:
    """A query passage and the document passage that best matches it."""

    query_start: int
    query_end: int
    doc_id: str
    start: int
    end: int
    similarity: float  # cosine similarity of the two passages (0 without a model)
    kind: str  # what aligned them: "verbatim", "shingles" or "semantic"
    text: str = ""  # the document passage's text (for the HTML report; not in the JSON)

    def to_dict(self) -> dict[str, Any]:
        return {"query_start": self.query_start, "query_end": self.query_end, "doc_id": self.doc_id,
                "start": self.start, "end": self.end, "similarity": round(self.similarity, 4), "kind": self.kind}


@dataclass(frozen=True, slots=True)
class SimilarMatch:
    doc_id: str
    score: float
    label: Label
    evidence: dict[str, Any]
    passages: tuple[PassagePair, ...]
    meta: dict[str, Any] = field(default_factory=dict)  # the document's metadata (title, author, url, path ...)

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "meta": self.meta, "score": round(self.score, 4), "label": self.label,
                "evidence": self.evidence, "passages": [p.to_dict() for p in self.passages]}


@dataclass(frozen=True, slots=True)
class SimilarReport:
    query: str
    query_chars: int
    query_tokens: int
    elapsed_ms: float
    semantic: bool
    results: tuple[SimilarMatch, ...]
    notes: tuple[str, ...] = ()
    text: str = field(repr=False, default="")
    provenance: dict[str, Any] | None = None  # see docs/formats.md; filled by the API that made the report
    # a router's answer without some shards (a shard server down or past its deadline): docs/scale.md
    missing_shards: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing_shards)

    def to_dict(self) -> dict[str, Any]:
        d = {"query": self.query, "query_chars": self.query_chars, "query_tokens": self.query_tokens,
             "elapsed_ms": round(self.elapsed_ms, 3), "semantic": self.semantic,
             "results": [r.to_dict() for r in self.results], "notes": list(self.notes)}
        if self.missing_shards:  # only a router's partial answer has these
            d["partial"] = True
            d["missing_shards"] = list(self.missing_shards)
        if self.provenance is not None:
            d["provenance"] = self.provenance
        return d


# ------------------------------------------------------------------------------------------------ batches


@dataclass(frozen=True, slots=True)
class QueryError:
    """A query of a batch that could not be answered (unreadable, binary, too long, no words): it takes the
    place of the query's report, so every query given has an entry (docs/formats.md, "Query error")."""

    query: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "error": {"message": self.message, "fix": self.fix}}


# ------------------------------------------------------------------------------------------------ audit


@dataclass
class AuditResult:
    """What ``ipscope.audit.run.audit`` did: the records per decision and where they were written."""

    out: Path
    counts: Counter[str]  # decision -> records
    reserved_by: Counter[str]  # signal -> reserved records it reserved
    problems: Counter[str]  # signal -> records with a problem reading it
    inputs: list[str]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # about the run's inputs as a whole (e.g. the snapshot)
    not_checked: Counter[str] = field(default_factory=Counter)  # signal -> records it could not be consulted for

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """The run in JSON (the records themselves are in the files under ``out``)."""
        return {"out": str(self.out), "records": self.total, "counts": dict(self.counts),
                "reserved_by": dict(self.reserved_by), "problems": dict(self.problems), "inputs": list(self.inputs),
                "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
                "not_checked": dict(self.not_checked)}


Decision = Literal["allowed", "reserved", "rejected"]


@dataclass(frozen=True, slots=True)
class NotChecked:
    """A signal the audit could not consult for a record, and why (docs/formats.md, ``not_checked``).

    ``input`` names what was not read: a site file by its path on the site (``/robots.txt``, ``/ai.txt``,
    ``/.well-known/tdmrep.json``) or the record's ``media_path`` file. ``why`` is one short, stable sentence
    (the summary counts records by it): ``no site files given (--sites or --fetch)``, a fetch that failed, an
    extra that is not installed; the details of a failure are in the record's ``problems``."""

    signal: str
    input: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"signal": self.signal, "input": self.input, "why": self.why}


@dataclass(frozen=True, init=False)
class AuditRecord:
    """The audit's verdict on one record: what ``Auditor.decide`` returns and ``to_dict()`` the line
    ``ipscope audit`` writes for it to ``manifest.jsonl`` (docs/formats.md, "manifest.jsonl").

    ``reasons`` are the deciding findings (``ipscope.audit.signals.base.Finding``, evidence already cut to
    the manifest's length), ``license`` the record's ``ipscope.audit.licences.Licence`` (None when rejected),
    ``problems`` the ``Problem`` s met reading its signals. ``source``/``line`` say where the record was read
    (None when the caller did not say). ``site``, ``text_chars`` and ``modality`` are not in the manifest
    line: they are what the summary counts."""

    id: str | None
    url: str | None
    decision: Decision
    reasons: tuple[Any, ...] = ()
    license: Any = None
    source: str | None = None
    line: int | None = None
    error: str | None = None  # rejected records only: why, and the fix
    problems: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()
    id_assigned: bool = False
    not_checked: tuple[NotChecked, ...] = ()
    site: str | None = None  # the site key (host[:port]) of the URL
    text_chars: int = 0
    modality: Literal["text", "image"] = "text"

    # One is made per audited record, thousands a second: the __init__ dataclasses writes for a frozen class sets
    # each field with object.__setattr__ (~3 us for these 15; ~2% of the audit's time), this one stores them all
    # in one call (~0.9 us). Same parameters, defaults and result; assignment stays refused (frozen).
    def __init__(self, id: str | None, url: str | None, decision: Decision, reasons: tuple[Any, ...] = (),
                 license: Any = None, source: str | None = None, line: int | None = None, error: str | None = None,
                 problems: tuple[Any, ...] = (), notes: tuple[str, ...] = (), id_assigned: bool = False,
                 not_checked: tuple[NotChecked, ...] = (), site: str | None = None, text_chars: int = 0,
                 modality: Literal["text", "image"] = "text", _set: Any = object.__setattr__) -> None:
        _set(self, "__dict__", {
            "id": id, "url": url, "decision": decision, "reasons": reasons, "license": license, "source": source,
            "line": line, "error": error, "problems": problems, "notes": notes, "id_assigned": id_assigned,
            "not_checked": not_checked, "site": site, "text_chars": text_chars, "modality": modality})

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"

    @property
    def reserved_by(self) -> tuple[str, ...]:
        """The signals that reserved the record, each once, in the order of ``reasons``."""
        if not self.reasons:
            return ()
        return tuple(dict.fromkeys(f.signal for f in self.reasons if f.reserved))

    def to_dict(self) -> dict[str, Any]:
        """The manifest line, key for key as ``ipscope audit`` writes it."""
        if self.decision == "rejected":
            return {"id": self.id, "url": self.url, "decision": "rejected", "reasons": [], "license": None,
                    "source": self.source, "line": self.line, "error": self.error}
        d: dict[str, Any] = {"id": self.id, "url": self.url, "decision": self.decision,
                             "reasons": [f.to_dict() for f in self.reasons],
                             "license": self.license.to_dict() if self.license is not None else None,
                             "source": self.source, "line": self.line}
        if self.id_assigned:
            d["id_assigned"] = True
        if self.problems:
            d["problems"] = [p.to_dict() for p in self.problems]
        if self.notes:
            d["notes"] = list(self.notes)
        if self.not_checked:  # NotChecked.to_dict, inlined: a run without site files writes five for every record
            d["not_checked"] = [{"signal": n.signal, "input": n.input, "why": n.why} for n in self.not_checked]
        return d


# ------------------------------------------------------------------------------------------------ registry check


@dataclass(frozen=True, slots=True)
class CheckSpan:
    """A passage of the checked text found in a registered work: half-open character offsets in the text
    (``query_start``/``query_end``) and in the work's text (``work_start``/``work_end``). ``kind`` is trace's
    (``verbatim``, ``near-verbatim``), or the kind of similar's passage evidence when trace found no span
    (``shingles``, ``semantic``: then the offsets are of the two passages, and ``tokens`` is 0)."""

    query_start: int
    query_end: int
    work_start: int
    work_end: int
    kind: str
    tokens: int = 0
    matched_tokens: int = 0
    edits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"query_start": self.query_start, "query_end": self.query_end, "work_start": self.work_start,
                "work_end": self.work_end, "kind": self.kind, "tokens": self.tokens,
                "matched_tokens": self.matched_tokens, "edits": self.edits}


@dataclass(frozen=True, slots=True)
class CheckMatch:
    """A registered work the checked text derives from, with its owner's reservations as they stand now."""

    work_id: str
    title: str
    owner: str  # the owner's name
    owner_id: str
    label: Label
    score: float  # similar's score: the share of the text's tokens the evidence explains
    reservations: dict[str, str]
    spans: tuple[CheckSpan, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"work_id": self.work_id, "title": self.title, "owner": self.owner, "owner_id": self.owner_id,
                "label": self.label, "score": round(self.score, 4), "reservations": dict(self.reservations),
                "spans": [s.to_dict() for s in self.spans]}


@dataclass(frozen=True)
class CheckResult:
    """What ``WorksIndex.check`` found: the registered works a text derives from, strongest first."""

    query_chars: int
    query_tokens: int
    elapsed_ms: float
    matches: tuple[CheckMatch, ...]
    notes: tuple[str, ...] = ()
    provenance: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``POST /v1/check`` (docs/service.md, "Registered works and check")."""
        return {"matches": [m.to_dict() for m in self.matches], "query_chars": self.query_chars,
                "query_tokens": self.query_tokens, "elapsed_ms": round(self.elapsed_ms, 3),
                "notes": list(self.notes), "provenance": self.provenance}

    to_dict = to_json
