"""A readable terminal summary of trace reports (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..types import TraceReport
from .names import display_name, names_by_id


def _clip(s: str, n: int = 64) -> str:
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
    for n, s in enumerate(report.spans, 1):
        line = Text(f"{n:>3}. ", style="bold")
        line.append(s.kind, style="green" if s.kind == "verbatim" else "yellow")
        line.append(f"  query {s.start:,}–{s.end:,}  {s.tokens} tokens")
        if s.edits:
            line.append(f", {s.edits} edits", style="yellow")
        line.append(f"  seen {s.total_occurrences:,}×", style="dim")
        parts.append(line)
        for src in s.sources[:3]:
            parts.append(Text(f"     from {display_name(src.doc_id, src.meta)} [{src.start:,}–{src.end:,})",
                              style="cyan"))
        if len(s.sources) > 3:
            parts.append(Text(f"     … and {len(s.sources) - 3} more source(s)", style="dim"))
        if report.text:
            parts.append(Text(f"     “{_clip(report.text[s.start : s.end])}”", style="dim"))
    if report.documents:
        d = Table(show_header=True, header_style="bold", title="documents", title_justify="left")
        d.add_column("document")
        d.add_column("query tokens from it", justify="right")
        names = names_by_id((src.doc_id, src.meta) for s in report.spans for src in s.sources)
        for doc in report.documents[:10]:
            d.add_row(names.get(doc.doc_id, doc.doc_id), f"{doc.matched_tokens:,}")
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


def audit_summary(result, console: Console | None = None) -> None:
    """The table printed after ``ipscope audit``: records per decision, signals that reserved, problems."""
    console = console or Console(stderr=True)
    total = result.total
    t = Table(title=f"audit of {total:,} record(s) in {result.seconds:.1f} s", title_justify="left")
    t.add_column("decision")
    t.add_column("records", justify="right")
    t.add_column("share", justify="right")
    t.add_column("written to")
    for d in ("allowed", "reserved", "rejected"):
        n = result.counts.get(d, 0)
        t.add_row(d, f"{n:,}", f"{n / total:.1%}" if total else "-", str(result.out / f"{d}.jsonl"))
    console.print(t)
    if result.reserved_by:
        s = Table(title="signals that reserved records (a record may have several)", title_justify="left")
        s.add_column("signal")
        s.add_column("records", justify="right")
        for sig, n in result.reserved_by.most_common():
            s.add_row(sig, f"{n:,}")
        console.print(s)
    if result.problems:
        p = Table(title="records whose signals could not all be read (see \"problems\" in the manifest)",
                  title_justify="left")
        p.add_column("signal")
        p.add_column("records", justify="right")
        for sig, n in result.problems.most_common():
            p.add_row(sig, f"{n:,}")
        console.print(p)
    console.print(f"manifest: {result.out / 'manifest.jsonl'}   summary: {result.out / 'summary.md'}")
