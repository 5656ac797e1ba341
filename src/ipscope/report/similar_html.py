"""A self-contained HTML report of ``ipscope similar``: for each query the ranked documents with their label,
score and evidence, and the aligned passages side by side (query passage | document passage)."""

from __future__ import annotations

import html
from typing import Iterable

from ..types import QueryError
from .html import _CSS, _partial, error_section, notes_html, provenance_html, provenance_script
from .names import display_name

_EXTRA = """
table.ev{border-collapse:collapse;font-size:13px;margin:6px 0}table.ev td{padding:1px 10px 1px 0;color:#59627a}
.badge.copy{background:#f5b7b1}.badge.near-copy{background:#fbe7a6}.badge.paraphrase{background:#d6c8f5}
.badge.quoted{background:#d5f0dc}.badge.translation{background:#c8e6f5}
.badge.related{background:#d4e6f1}.badge.unrelated{background:#e5e8ec}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:6px 0}
"""


def _section(rep, n: int) -> str:
    head = (f'<h2>{html.escape(rep.query)}<span class="stats">{rep.query_tokens:,} tokens · '
            f'{rep.elapsed_ms:.0f} ms · {"lexical and semantic evidence" if rep.semantic else "lexical evidence only"}'
            f"{_partial(rep)}</span></h2>")
    if not rep.results:
        return (f'<section class="q">{head}<p class="none" style="padding:0 16px">no similar document found</p>'
                f"{notes_html(rep.notes)}{provenance_html(rep)}</section>")
    cards = []
    for r in rep.results:
        ev = "".join(f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v}</td></tr>" for k, v in r.evidence.items())
        pairs = []
        for p in r.passages:
            q = rep.text[p.query_start : p.query_end]
            sim = f" · similarity {p.similarity:.2f}" if p.kind == "semantic" else ""
            pairs.append(f'<div class="src">{html.escape(p.kind)}{sim}: query {p.query_start}–{p.query_end} | '
                         f'{html.escape(p.doc_id)} {p.start}–{p.end}</div><div class="pair">'
                         f'<div class="ex">{html.escape(q[:1500])}</div><div class="ex">{html.escape(p.text[:1500])}'
                         "</div></div>")
        cards.append(f'<div class="card"><span class="badge {r.label}">{r.label}</span>'
                     f'<b>{html.escape(display_name(r.doc_id, r.meta))}</b>'
                     f' — score {r.score:.2f}<table class="ev">{ev}</table>{"".join(pairs)}</div>')
    return (f'<section class="q" id="q{n}">{head}<div class="col">{"".join(cards)}</div>{notes_html(rep.notes)}'
            f"{provenance_html(rep)}</section>")


def render(reports: Iterable, index_name: str = "") -> str:
    reports = list(reports)
    body = "".join(error_section(r) if isinstance(r, QueryError) else _section(r, i) for i, r in enumerate(reports))
    return ("<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>ipscope similar report</title><style>{_CSS}{_EXTRA}</style></head><body>"
            f"<header><h1>ipscope similar</h1><p>index {html.escape(index_name)} · {len(reports)} quer"
            f"{'y' if len(reports) == 1 else 'ies'}</p></header>{body}"
            "<footer>score: share of the query derived from the document; label: the strongest relation that "
            "holds for a passage of at least 12 tokens and 5% of the query: copy, near-copy, quoted, paraphrase, "
            "translation, related, unrelated (docs/similar.md). Each report's provenance (ipscope version, time, "
            "index, layers and query hashes, options) is under it and, as JSON, in this page's "
            "script#ipscope-provenance.</footer>"
            f"{provenance_script(reports)}</body></html>")
