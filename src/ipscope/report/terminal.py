"""A readable terminal summary of trace reports (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..types import TraceReport


def _clip(s: str, n: int = 90) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 21] + " … " + s[-18:]


def render(report: TraceReport) -> Group:
    head = Text()
    head.append(f"{report.query}", style="bold")
    head.append(
        f"  {report.query_tokens:,} tokens · {len(report.spans)} span(s) · "
        f"{report.coverage:.1%} of the text found in the corpus · {report.elapsed_ms:.1f} ms"
    )
    parts: list = [head]
    if report.spans:
        t = Table(show_header=True, header_style="bold", expand=False, pad_edge=False)
        t.add_column("query chars", justify="right", no_wrap=True)
        t.add_column("tokens", justify="right")
        t.add_column("kind")
        t.add_column("seen", justify="right")
        t.add_column("source (chars)")
        t.add_column("passage")
        for s in report.spans:
            src = s.sources[0] if s.sources else None
            where = f"{src.doc_id} [{src.start:,}–{src.end:,})" if src else "—"
            if len(s.sources) > 1:
                where += f" +{len(s.sources) - 1} more"
            kind = Text(s.kind, style="green" if s.kind == "verbatim" else "yellow")
            if s.edits:
                kind.append(f" ({s.edits} edits)", style="dim")
            t.add_row(f"{s.start:,}–{s.end:,}", str(s.tokens), kind, str(s.total_occurrences), where,
                      _clip(report.text[s.start : s.end]) if report.text else "")
        parts.append(t)
    if report.documents:
        d = Table(show_header=True, header_style="bold", title="documents", title_justify="left")
        d.add_column("document")
        d.add_column("query tokens from it", justify="right")
        for doc in report.documents[:10]:
            d.add_row(doc.doc_id, f"{doc.matched_tokens:,}")
        if len(report.documents) > 10:
            d.add_row(f"… {len(report.documents) - 10} more", "")
        parts.append(d)
    elif report.query_tokens:
        parts.append(Text(f"No passage of {report.min_tokens}+ tokens was found in the corpus.", style="dim"))
    return Group(*parts)


def print_reports(reports: list[TraceReport], console: Console | None = None) -> None:
    console = console or Console()
    for r in reports:
        console.print(Panel(render(r), expand=True))
