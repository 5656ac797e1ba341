"""A self-contained HTML trace report: the query beside its sources, matched passages
highlighted and linked both ways; edits inside near-verbatim spans underlined."""

from __future__ import annotations

import difflib
import html
import json
import re
from typing import Iterable

from ..text import tokenize
from ..types import QueryError, SimilarReport, Source, TraceReport
from .names import display_name, names_by_id

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{padding:14px 24px;background:#1d2330;color:#fff}header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;color:#c9cfdb;font-size:13px}
section.q{margin:18px 24px;background:#fff;border:1px solid #dde1e8;border-radius:8px}
section.q>h2{font-size:16px;margin:0;padding:12px 16px;border-bottom:1px solid #dde1e8}
.stats{color:#59627a;font-weight:normal;font-size:13px;margin-left:8px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:0}
.col{padding:12px 16px;max-height:80vh;overflow:auto}.col+.col{border-left:1px solid #dde1e8}
.col h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#59627a;margin:0 0 8px}
.text{white-space:pre-wrap;font-family:Georgia,serif}
a.m{color:inherit;text-decoration:none;border-radius:3px}
a.m.verbatim{background:#c8f0cf}a.m.near-verbatim{background:#fbe7a6}
a.m:target,a.m:hover{outline:2px solid #3866d6}
.card{border:1px solid #dde1e8;border-radius:6px;padding:8px 10px;margin:0 0 10px}
.card:target{outline:2px solid #3866d6}
.badge{display:inline-block;font-size:12px;padding:0 6px;border-radius:10px;margin-right:6px}
.badge.verbatim{background:#c8f0cf}.badge.near-verbatim{background:#fbe7a6}
.src{font-size:13px;color:#59627a;margin:6px 0 2px}
.ex{font-family:Georgia,serif;white-space:pre-wrap;font-size:14px;background:#fafbfc;padding:6px;border-radius:4px}
.ex mark{background:#c8f0cf}.ex mark.near{background:#fbe7a6}
.edit{text-decoration:underline wavy #c0392b;text-underline-offset:3px}
.none{color:#59627a}
footer{margin:18px 24px;color:#59627a;font-size:12px}
.prov{margin:0;padding:8px 16px;border-top:1px solid #dde1e8;color:#59627a;font-size:12px;word-break:break-all}
.note{margin:0;padding:8px 16px;background:#fff8e1;border-top:1px solid #dde1e8;font-size:13px}
section.err{border-color:#e0a3a3}section.err>h2{color:#a12c2c}
"""


def notes_html(notes: Iterable[str]) -> str:
    return "".join(f'<p class="note">note: {html.escape(n)}</p>' for n in notes)


def provenance_html(rep: TraceReport | SimilarReport) -> str:
    """A report's provenance as one line of its section (the full object is in the page's JSON script)."""
    p = rep.provenance
    if not p:
        return ""
    ix = p.get("index") or {}
    parts = [f"{p['tool']} {p['version']}", f"created {p['created']}", f"index {ix.get('path')}",
             f"content hash {ix.get('content_hash')}"]
    if ix.get("layers_hash"):
        parts.append(f"layers hash {ix['layers_hash']}")
    parts.append(f"query SHA-256 {p['query_sha256']}")
    if p.get("source_sha256"):
        parts.append(f"source bytes SHA-256 {p['source_sha256']}")
    if p.get("encoding"):
        parts.append(f"encoding {p['encoding']}{' (detected)' if p.get('encoding_detected') else ''}")
    if p.get("options"):  # the footer promises them: a reader re-running the query needs them
        parts.append("options " + ", ".join(f"{k}={json.dumps(v)}" for k, v in p["options"].items()))
    return f'<p class="prov">{html.escape(" · ".join(parts))}</p>'


def error_section(err: QueryError) -> str:
    fix = f"<p>fix: {html.escape(err.fix)}</p>" if err.fix else ""
    return (f'<section class="q err"><h2>{html.escape(err.query)}<span class="stats">not answered</span></h2>'
            f'<div class="col"><p>{html.escape(err.message)}</p>{fix}</div></section>')


def provenance_script(results: Iterable[TraceReport | SimilarReport | QueryError]) -> str:
    """Every report's provenance (and every query error) as JSON in the page, for programs that read it:
    ``<script type="application/json" id="ipscope-provenance">[{"query", "provenance"} or {"query", "error"}]``."""
    items = [r.to_dict() if isinstance(r, QueryError) else {"query": r.query, "provenance": r.provenance}
             for r in results]
    # "<" as its JSON escape: no "</script>" or "<!--" can end or confuse the element (JSON.parse reads it back)
    data = json.dumps(items, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="ipscope-provenance">{data}</script>'



def _edited_token_ranges(a: str, b: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Char ranges of the tokens of ``a`` and of ``b`` that differ (token-level diff)."""
    ta, tb = tokenize(a), tokenize(b)
    sa, sb = ta.strings(a), tb.strings(b)
    ra: list[tuple[int, int]] = []
    rb: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=sa, b=sb, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        ra += [(int(ta.starts[i]), int(ta.ends[i])) for i in range(i1, i2)]
        rb += [(int(tb.starts[j]), int(tb.ends[j])) for j in range(j1, j2)]
    return ra, rb


def _with_edits(text: str, ranges: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for s, e in ranges:
        out.append(html.escape(text[pos:s]))
        out.append(f'<span class="edit">{html.escape(text[s:e])}</span>')
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _query_html(rep: TraceReport, prefix: str, edits: dict[int, list[tuple[int, int]]]) -> str:
    text = rep.text
    cuts = sorted({0, len(text), *(s.start for s in rep.spans), *(s.end for s in rep.spans)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        inside = [i for i, s in enumerate(rep.spans) if s.start <= a and b <= s.end]
        if not inside:
            out.append(html.escape(text[a:b]))
            continue
        i = inside[0]
        span = rep.spans[i]
        # edit ranges are relative to the span start; keep those inside this segment
        rel = [(max(s + span.start, a) - a, min(e + span.start, b) - a) for s, e in edits.get(i, [])
               if s + span.start < b and e + span.start > a]
        seg = _with_edits(text[a:b], rel)
        out.append(f'<a class="m {span.kind}" id="{prefix}q{i}" href="#{prefix}s{i}" '
                   f'title="{span.kind}, {span.tokens} tokens">{seg}</a>')
    return "".join(out)


def _context(s: str) -> str:
    """Context around a passage, for display: CRLF as one break, blank runs collapsed."""
    return html.escape(re.sub(r"\n\s*\n\s*", "\n\n", s.replace("\r\n", "\n")))


def _source_html(src: Source, near: bool, edit_ranges: list[tuple[int, int]]) -> str:
    if src.text is None:
        return ""
    cls = ' class="near"' if near else ""
    body = _with_edits(src.text, edit_ranges).replace("\r\n", "\n")
    return (f'<div class="ex">…{_context(src.before or "")}<mark{cls}>'
            f"{body}</mark>{_context(src.after or '')}…</div>")


def _section(rep: TraceReport, n: int) -> str:
    prefix = f"r{n}-"
    q_edits: dict[int, list[tuple[int, int]]] = {}
    s_edits: dict[int, list[tuple[int, int]]] = {}
    for i, span in enumerate(rep.spans):
        first = span.sources[0] if span.sources else None
        if span.kind == "near-verbatim" and first is not None and first.text is not None:
            q_edits[i], s_edits[i] = _edited_token_ranges(rep.text[span.start : span.end], first.text)
    cards = []
    for i, span in enumerate(rep.spans):
        srcs = []
        for k, src in enumerate(span.sources):
            edits = s_edits.get(i, []) if k == 0 else []
            srcs.append(f'<div class="src">{html.escape(display_name(src.doc_id, src.meta))} · characters '
                        f'{src.start:,}–{src.end:,}</div>'
                        + _source_html(src, span.kind != "verbatim", edits))
        more = span.total_occurrences - len(span.sources)
        extra = f'<div class="src">… and {more:,} more occurrence(s) in the corpus</div>' if more > 0 else ""
        edits_note = f", {span.edits} edit(s)" if span.edits else ""
        cards.append(
            f'<div class="card" id="{prefix}s{i}"><span class="badge {span.kind}">{span.kind}</span>'
            f"{span.tokens} tokens{edits_note} · query characters {span.start:,}–{span.end:,} · "
            f'seen {span.total_occurrences:,}× · <a href="#{prefix}q{i}">show in query</a>'
            + "".join(srcs) + extra + "</div>"
        )
    names = names_by_id((src.doc_id, src.meta) for s in rep.spans for src in s.sources)
    docs = ", ".join(f"{html.escape(names.get(d.doc_id, d.doc_id))} ({d.matched_tokens:,} tokens)"
                     for d in rep.documents[:10])
    right = "".join(cards) or f'<p class="none">No passage of {rep.min_tokens}+ tokens was found in the corpus.</p>'
    return (
        f'<section class="q"><h2>{html.escape(rep.query)}<span class="stats">{rep.query_tokens:,} tokens · '
        f"{len(rep.spans)} span(s) · {rep.coverage:.1%} found in the corpus · {rep.elapsed_ms:.1f} ms"
        f"{' · from ' + docs if docs else ''}{_partial(rep)}</span></h2>"
        f'<div class="cols"><div class="col"><h3>Query</h3><div class="text">{_query_html(rep, prefix, q_edits)}'
        f'</div></div><div class="col"><h3>Sources</h3>{right}</div></div>{notes_html(rep.notes)}'
        f"{provenance_html(rep)}</section>"
    )


def _partial(rep: TraceReport | SimilarReport) -> str:
    """A router's partial answer says so in its heading (the note under it says what is missing)."""
    if not rep.partial:
        return ""
    return f' · <b class="partial">partial: shard(s) {", ".join(map(str, rep.missing_shards))} missing</b>'


def render(reports: Iterable[TraceReport | QueryError], index_name: str = "") -> str:
    reports = list(reports)
    body = "".join(error_section(r) if isinstance(r, QueryError) else _section(r, n) for n, r in enumerate(reports))
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>ipscope trace report</title><style>{_CSS}</style></head><body>"
        f"<header><h1>ipscope trace report</h1><p>index: {html.escape(index_name)} · "
        "green: verbatim · yellow: near-verbatim (edits underlined) · click a passage to jump to its source</p></header>"
        f"{body}<footer>Character offsets are half-open and count Unicode code points of the original texts. "
        "Each report's provenance (ipscope version, time, index and query hashes, options) is under it and, as "
        f"JSON, in this page's script#ipscope-provenance.</footer>{provenance_script(reports)}"
        "</body></html>"
    )


__all__ = ["render"]
