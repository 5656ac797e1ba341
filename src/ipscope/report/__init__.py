"""Renderers: typed results in, JSON / terminal / HTML out.

Every result type has each rendering its command offers: ``TraceReport`` and ``SimilarReport`` (and the
``QueryError`` that stands in a batch for a query that could not be answered) in JSON, JSON Lines, terminal
text (``report.terminal``) and HTML (``report.html``, ``report.similar_html``; :func:`render_html` picks);
``AuditResult`` in JSON and the terminal summary table (``report.terminal.audit_summary``).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Literal, Protocol

from ..types import AuditResult, QueryError, SimilarReport, TraceReport

Format = Literal["text", "json", "jsonl", "html"]
Result = TraceReport | SimilarReport | QueryError | AuditResult


class _HasDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def to_json(report: _HasDict, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=indent)


def to_json_line(report: _HasDict) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False) + "\n"


def to_jsonl(reports: Iterable[_HasDict]) -> Iterable[str]:
    return map(to_json_line, reports)


def render_html(results: Iterable[TraceReport | SimilarReport | QueryError], index_name: str = "",
                kind: Literal["trace", "similar"] | None = None) -> str:
    """One self-contained page for the results of one command (``kind``; by default a similar page when
    any result is a ``SimilarReport``, else a trace page)."""
    results = list(results)
    if kind == "similar" or (kind is None and any(isinstance(r, SimilarReport) for r in results)):
        from .similar_html import render
    else:
        from .html import render  # type: ignore[assignment]
    return render(results, index_name)  # type: ignore[arg-type]


__all__ = ["Format", "Result", "render_html", "to_json", "to_json_line", "to_jsonl"]
