"""Terminal renderings (rich) of every result type: trace reports (panels), similar reports (plain lines),
query errors of a batch, and the audit summary table."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..types import AuditResult, QueryError, SimilarReport, TraceReport
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
    if report.partial:
        head.append(f"  PARTIAL: shard(s) {', '.join(map(str, report.missing_shards))} missing", style="bold red")
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
            d.add_row(names.get(doc.doc_id) or display_name(doc.doc_id, None), f"{doc.matched_tokens:,}")
        if len(report.documents) > 10:
            d.add_row(f"… {len(report.documents) - 10} more", "")
        parts.append(d)
    elif report.query_tokens:
        parts.append(Text(f"No passage of {report.min_tokens}+ tokens was found in the corpus.", style="dim"))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def similar_text(rep: SimilarReport) -> str:
    """A similar report as plain lines: the query, then one line per document found, then the notes."""
    lines = [f"{rep.query}: {rep.query_tokens:,} tokens, {rep.elapsed_ms:.0f} ms"
             + ("" if rep.semantic else " (lexical evidence only)")
             + (f" PARTIAL: shard(s) {', '.join(map(str, rep.missing_shards))} missing" if rep.partial else "")]
    if not rep.results:
        lines.append("  no similar document found")
    for r in rep.results:
        ev = r.evidence
        lines.append(f"  {r.score:5.2f}  {r.label:<10}  {display_name(r.doc_id, r.meta)}  "
                     f"(verbatim {ev['verbatim_coverage']:.2f}, shingles {ev['shingle_containment']:.2f}, semantic {ev['semantic_coverage']:.2f}, "
                     f"similarity {ev['mean_best_similarity']:.2f})")
    for note in rep.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"


def error_text(err: QueryError) -> str:
    """A query of a batch that was not answered, as plain lines."""
    return f"{err.query}: not answered: {err.message}\n" + (f"  fix: {err.fix}\n" if err.fix else "")


def print_results(results: Iterable[TraceReport | SimilarReport | QueryError], console: Console | None = None) -> None:
    """Each result as the terminal shows it: a trace report in a panel, a similar report and a query error as
    plain lines (written as they are, without rich's wrapping or markup)."""
    console = console or Console()
    for r in results:
        if isinstance(r, TraceReport):
            console.print(Panel(render(r), expand=True))
        elif isinstance(r, SimilarReport):
            console.out(similar_text(r), highlight=False, end="")
        elif isinstance(r, QueryError):
            if console.is_terminal:
                console.print(Text(error_text(r).rstrip("\n"), style="red"))
            else:
                console.out(error_text(r), highlight=False, end="")
        else:
            raise TypeError(f"no terminal rendering for {type(r).__name__}")


def print_reports(reports: list[TraceReport], console: Console | None = None) -> None:
    print_results(reports, console)


def audit_summary(result: AuditResult, console: Console | None = None) -> None:
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
    for counts, title in ((result.reserved_by, "signals that reserved records (a record may have several)"),
                          (result.problems, "records whose signals could not all be read (see \"problems\" in the "
                                            "manifest)"),
                          (result.not_checked, "signals that could not be consulted (see \"not_checked\" in the "
                                               "manifest)")):
        if counts:
            t = Table(title=title, title_justify="left")
            t.add_column("signal")
            t.add_column("records", justify="right")
            for sig, n in counts.most_common():
                t.add_row(sig, f"{n:,}")
            console.print(t)
    console.print(f"manifest: {result.out / 'manifest.jsonl'}   summary: {result.out / 'summary.md'}")
