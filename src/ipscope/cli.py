"""The ``ipscope`` command: a thin shell over the Python API.

Imports of numpy/numba happen inside commands so ``ipscope --help`` stays instant.
Exit codes: 0 done; 1 the command could not do its job (bad input path, not an index,
an unreadable or empty query); 2 wrong usage.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import IndexFormatError, IpscopeError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _say(err: IpscopeError) -> None:
    """The error and its fix on stderr (the run goes on: other queries may still be answered)."""
    click.echo(f"ipscope: error: {err.message}", err=True)
    if err.fix:
        click.echo(f"  fix: {err.fix}", err=True)


def _fail(err: IpscopeError) -> None:
    _say(err)
    sys.exit(err.exit_code)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="ipscope")
def main() -> None:
    """ipscope: intellectual-property evidence for the generative-AI era.

    \b
    Build an index of a reference corpus, then trace texts against it:
      ipscope index books/ --out books.idx
      ipscope trace books.idx output.txt --format html --out report.html
    Decide which training records may be used, with the evidence:
      ipscope audit crawl.jsonl --sites snapshot/ --out audit/
    """


@main.command("index", context_settings=CONTEXT)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Index directory to create.")
@click.option("--force", is_flag=True, help="Replace --out if it is already an ipscope index.")
@click.option("--jobs", "-j", type=click.IntRange(0), default=0, show_default=True,
              help="Worker processes (0: one per CPU core).")
@click.option("--id-field", default="id", show_default=True, help="JSONL/Parquet field holding the document id.")
@click.option("--text-field", default="text", show_default=True, help="JSONL/Parquet field holding the text.")
@click.option("--encoding-errors", type=click.Choice(["skip", "replace"]), default="skip", show_default=True,
              help="Documents that are not valid UTF-8: skip them (with the reason in the account) "
                   "or index them with U+FFFD for the bad bytes.")
@click.option("--passages/--no-passages", default=True, show_default=True,
              help="Also build the passage layers ipscope similar needs (MinHash LSH and BM25 over passages of "
                   "200 tokens; ~40% more build time and ~0.6 bytes per text byte). Without them the index "
                   "serves ipscope trace only; add them later with ipscope add-layers.")
@click.option("--vectors", is_flag=True,
              help="Also embed every passage with multilingual-e5-small (needs ipscope[embed]), so similar finds "
                   "sources across languages. Slow: ~0.26 s a 200-token passage on 2 cores (~22 minutes per "
                   "million tokens); meant for catalogues of works, not web-scale corpora.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def index_cmd(sources: tuple[Path, ...], out: Path, force: bool, jobs: int, id_field: str, text_field: str,
              encoding_errors: str, passages: bool, vectors: bool, quiet: bool) -> None:
    """Index SOURCE files and directories into an index directory.

    \b
    SOURCE is a file or a directory searched recursively for *.txt, *.md, *.jsonl,
    *.jsonl.gz and *.parquet. Document ids: a text file given directly is named by its
    file name, one found under a directory by its path relative to that directory;
    JSONL and Parquet records by their id field.

    \b
    The build is atomic (written beside --out, renamed into place when complete) and an
    interrupted build resumes where it stopped when the same command is run again.
    Every input record is accounted for in DIR/account.jsonl: indexed, or skipped with
    the reason and the fix.
    """
    from .corpus.readers import ReadOptions
    from .index import BuildOptions, build_index

    opts = BuildOptions(read=ReadOptions(id_field=id_field, text_field=text_field,
                                         encoding_errors=encoding_errors),  # type: ignore[arg-type]
                        jobs=jobs, force=force, passages=passages, vectors=vectors)
    try:
        if quiet:
            result = build_index(list(sources), out, opts)
        else:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                          console=_err_console()) as bar:
                tid = bar.add_task("indexing", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(tid, completed=done, total=total)

                result = build_index(list(sources), out, opts, progress)
    except IpscopeError as e:
        _fail(e)
        return
    if not quiet:
        c = result.manifest["counts"]
        mb = c["input_bytes"] / 1e6
        msg = (f"indexed {c['documents_indexed']:,} document(s), {c['tokens']:,} tokens, {mb:,.1f} MB "
               f"in {result.seconds:.1f} s ({mb / max(result.seconds, 1e-9):,.1f} MB/s) -> {result.path}")
        click.echo(msg, err=True)
        if c["skipped"]:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(c["skipped_by_reason"].items()))
            click.echo(f"skipped {c['skipped']:,} record(s) ({reasons}); reasons and fixes in "
                       f"{result.path / 'account.jsonl'}", err=True)


def _err_console():
    from rich.console import Console

    return Console(stderr=True)


def _read_query(arg: str) -> tuple[str, str]:
    from .corpus.query import read_query

    q = read_query(arg)
    return q.name, q.text


@main.command("trace", context_settings=CONTEXT)
@click.argument("index", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "jsonl", "html"]), default="text",
              show_default=True, help="text: terminal summary; json: one query; jsonl: one report per line; "
                                      "html: a self-contained page, query beside its sources.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Write the report here instead of stdout.")
@click.option("--min-tokens", "-n", type=click.IntRange(1), default=None,
              help="Shortest passage reported, in tokens (words; one per CJK character). [default: 12]")
@click.option("--max-sources", type=click.IntRange(1), default=20, show_default=True,
              help="Sources listed per passage (total_occurrences still counts all).")
@click.option("--excerpts", type=click.IntRange(0), default=None,
              help="Add each source's matched text with this many characters of context "
                   "(json/jsonl; html always shows 300).")
@click.option("--max-rss-mb", type=click.FloatRange(0), default=None,
              help="Memory budget in MB. With a budget, the index's token and suffix arrays are read "
                   "with pread through an 8 MiB cache instead of being memory-mapped, so this process's "
                   "memory does not grow with the index (about 205 MB on a 100M-token index; budgets below "
                   "~220 MB cannot be kept). 0 = no budget: the arrays are memory-mapped, about 2x faster "
                   "per query on large indexes, but RSS grows towards their size. [default: 300]")
def trace_cmd(index: Path, queries: tuple[str, ...], fmt: str, out: Path | None, min_tokens: int | None,
              max_sources: int, excerpts: int | None, max_rss_mb: float | None) -> None:
    """Find the passages of QUERY texts that come verbatim or near-verbatim from INDEX.

    \b
    QUERY is a UTF-8 text file, or - for standard input. A passage is reported when at
    least --min-tokens of its tokens match a source document; small edits (substituted,
    inserted or deleted words) inside a passage are bridged and the passage is reported
    as near-verbatim. Tokens are compared after Unicode NFKC normalisation and case
    folding, ignoring punctuation and spacing, so reformatted copies match too.
    Offsets are half-open character (code point) offsets in the query and in each
    source document's original text.
    """
    from .index import Index
    from .trace import DEFAULT_MAX_RSS_MB, DEFAULT_MIN_TOKENS, TraceOptions, trace, warm_up

    _check_report_args(out, fmt, len(queries))
    try:
        idx = Index.open(index)
    except IpscopeError as e:
        _fail(e)
        return
    n_ctx = 300 if fmt == "html" else excerpts
    opts = TraceOptions(min_tokens=min_tokens or DEFAULT_MIN_TOKENS, max_sources=max_sources, excerpts=n_ctx,
                        max_rss_mb=DEFAULT_MAX_RSS_MB if max_rss_mb is None else max_rss_mb or None)
    warm_up(opts)
    reports = []
    failed = 0
    sink = open(out, "w", encoding="utf-8") if out and fmt == "jsonl" else None
    try:
        for q in queries:
            try:
                name, text = _read_query(q)
            except IpscopeError as e:
                _say(e)
                failed += 1
                continue
            try:
                rep = trace(idx, text, name, opts)
            except IpscopeError as e:  # a damaged index found while reading it
                _fail(e)
                return
            except OSError as e:  # an index file vanished or shrank while open (pread found no data)
                _fail(IndexFormatError(f"{index}: could not read the index ({e})",
                                       f"check the disk, or rebuild it: ipscope index SOURCE... --out {index} --force"))
                return
            if rep.query_tokens == 0:
                click.echo(f"ipscope: error: query {name} is empty (no words or characters to compare)\n"
                           "  fix: give a query with text in it", err=True)
                failed += 1
                continue
            if fmt == "jsonl":  # written as each query is done
                from .report import to_json_line

                (sink or sys.stdout).write(to_json_line(rep))
                (sink or sys.stdout).flush()
            else:
                reports.append(rep)
    finally:
        if sink:
            sink.close()
    if fmt != "jsonl" and reports:
        if fmt == "json":
            from .report import to_json

            _emit(to_json(reports[0]) + "\n", out)
        elif fmt == "html":
            from .report.html import render

            _emit(render(reports, str(index)), out)
            if out:
                click.echo(f"report: {out}", err=True)
        else:
            from rich.console import Console

            from .report.terminal import print_reports

            if out:
                with open(out, "w", encoding="utf-8") as f:
                    print_reports(reports, Console(file=f, width=120, color_system=None))
            else:
                print_reports(reports)
    if failed:
        sys.exit(1)


@main.command("add-layers", context_settings=CONTEXT)
@click.argument("index", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild the layers of shards that already have them.")
@click.option("--vectors", is_flag=True,
              help="Also embed every passage with multilingual-e5-small (needs ipscope[embed]) so similar finds "
                   "sources across languages. Slow: ~0.26 s a 200-token passage on 2 cores.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def add_layers_cmd(index: Path, force: bool, vectors: bool, quiet: bool) -> None:
    """Add the passage layers ipscope similar needs to an existing INDEX, without re-indexing.

    \b
    For an index built with --no-passages (or by an older ipscope): reads each shard's
    tokens and writes its MinHash LSH tables and BM25 postings beside them. Shards that
    already have the layers are skipped, so an interrupted run resumes where it stopped.
    """
    from .index.passages import add_layers

    t0 = time.perf_counter()
    try:
        if quiet:
            add_layers(index, force, vectors=vectors)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), transient=True, console=_err_console()) as bar:
                tid = bar.add_task("adding layers", total=None)

                def progress(done: int, total: int, what: str) -> None:
                    bar.update(tid, completed=done, total=total, description=what)

                add_layers(index, force, progress, vectors=vectors)
    except IpscopeError as e:
        _fail(e)
        return
    if not quiet:
        click.echo(f"passage layers added to {index} in {time.perf_counter() - t0:.1f} s", err=True)


@main.command("similar", context_settings=CONTEXT)
@click.argument("index", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--top", "-k", type=click.IntRange(1), default=10, show_default=True, help="Documents reported.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "jsonl", "html"]), default="text",
              show_default=True, help="text: a terminal table; json: one query; jsonl: one report per line; "
                                      "html: a self-contained page, aligned passages side by side.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Write the report here instead of stdout.")
@click.option("--semantic/--no-semantic", default=None,
              help="Semantic evidence (paraphrase detection) with multilingual-e5-small; needs ipscope[embed]. "
                   "[default: on when installed]")
def similar_cmd(index: Path, queries: tuple[str, ...], top: int, fmt: str, out: Path | None,
                semantic: bool | None) -> None:
    """Rank the documents of INDEX by how much of each QUERY derives from them.

    \b
    QUERY is a UTF-8 text file, or - for standard input. Each document found gets a score
    in [0, 1] (the share of the query's words explained by text derived from it: verbatim
    spans, shared word 3-shingles, passages aligned by meaning), a label (copy, near-copy,
    quoted, paraphrase, translation, related, unrelated: the strongest relation that holds
    for a passage of at least 12 tokens and 5% of the query) and the evidence behind both.
    The index needs the passage layers (built by default; ipscope add-layers adds them to
    an older index).
    """
    from .index import Index
    from .similar import SimilarOptions, require_layers, similar

    _check_report_args(out, fmt, len(queries))
    try:
        idx = Index.open(index)
        require_layers(idx)
    except IpscopeError as e:
        _fail(e)
        return
    opts = SimilarOptions(top=top, semantic=semantic)
    failed = 0
    chunks: list[str] = []
    reports = []
    for q in queries:
        try:
            name, text = _read_query(q)
            rep = similar(idx, text, name, opts)
        except IpscopeError as e:
            _say(e)
            failed += 1
            continue
        if fmt == "html":
            reports.append(rep)
            continue
        if fmt in ("json", "jsonl"):
            import orjson

            chunk = orjson.dumps(rep.to_dict(), option=orjson.OPT_INDENT_2 if fmt == "json" else 0).decode() + "\n"
        else:
            chunk = _similar_text(rep)
        if out is None:  # to the terminal or a pipe: each query as it is done
            sys.stdout.write(chunk)
            sys.stdout.flush()
        else:
            chunks.append(chunk)
    if reports:
        from .report.similar_html import render

        _emit(render(reports, str(index)), out)
        if out:
            click.echo(f"report: {out}", err=True)
    if chunks:
        _emit("".join(chunks), out)
    if failed:
        sys.exit(1)


def _similar_text(rep) -> str:
    lines = [f"{rep.query}: {rep.query_tokens:,} tokens, {rep.elapsed_ms:.0f} ms"
             + ("" if rep.semantic else " (lexical evidence only)")]
    if not rep.results:
        lines.append("  no similar document found")
    for r in rep.results:
        ev = r.evidence
        lines.append(f"  {r.score:5.2f}  {r.label:<10}  {r.doc_id}  (verbatim {ev['verbatim_coverage']:.2f}, "
                     f"shingles {ev['shingle_containment']:.2f}, semantic {ev['semantic_coverage']:.2f}, "
                     f"similarity {ev['mean_best_similarity']:.2f})")
    for note in rep.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"


def _check_report_args(out: Path | None, fmt: str, n_queries: int) -> None:
    """Refuse, before any work, an --out in a missing directory or several queries for one JSON report."""
    if out is not None and not out.parent.is_dir():
        _fail(IpscopeError(f"--out {out}: directory {out.parent} does not exist", "create it or choose another path"))
    if out is not None and out.is_dir():
        _fail(IpscopeError(f"--out {out} is a directory", f"give a file name for the report, e.g. {out}/report.html"))
    if fmt == "json" and n_queries > 1:
        _fail(IpscopeError(f"--format json writes one report but {n_queries} queries were given",
                           "use --format jsonl for several queries"))


def _emit(text: str, out: Path | None) -> None:
    if out:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            _fail(IpscopeError(f"--out {out}: cannot be written ({e.strerror or e})", "choose a writable file path"))
    else:
        sys.stdout.write(text)


if __name__ == "__main__":  # pragma: no cover
    main()


@main.command("audit", context_settings=CONTEXT)
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output directory to create.")
@click.option("--sites", type=click.Path(path_type=Path), default=None,
              help="Snapshot of site files: DIR/<host>/robots.txt, DIR/<host>/ai.txt, "
                   "DIR/<host>/.well-known/tdmrep.json (a missing file counts as HTTP 404).")
@click.option("--fetch", is_flag=True,
              help="Fetch each site's robots.txt, ai.txt and tdmrep.json live (needs ipscope[fetch]); "
                   "cached on disk for --ttl seconds.")
@click.option("--agent", "agents", multiple=True, metavar="TOKEN",
              help="A crawler's user-agent token whose reservations count (repeatable), e.g. --agent MyBot.")
@click.option("--policy", type=click.Choice(["any-ai-agent", "agent"]), default="any-ai-agent", show_default=True,
              help="any-ai-agent: reserved when a signal reserves for everyone, for any AI-training agent of the "
                   "shipped list, or for an --agent; agent: only for the --agent tokens (and everyone).")
@click.option("--allow-private", is_flag=True,
              help="With --fetch, allow sites on loopback, private and link-local addresses (refused by default).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="With --fetch, where fetched site files are kept. [default: ~/.cache/ipscope/sites]")
@click.option("--ttl", "ttl_s", type=click.FloatRange(0), default=86400, show_default=True,
              help="With --fetch, seconds a fetched site file stays valid in the cache.")
@click.option("--force", is_flag=True, help="Replace --out if it is already an ipscope audit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def audit_cmd(corpus: tuple[Path, ...], out: Path, sites: Path | None, fetch: bool, agents: tuple[str, ...],
              policy: str, allow_private: bool, cache_dir: Path | None, ttl_s: float, force: bool,
              quiet: bool) -> None:
    """Decide, with evidence, which CORPUS records may be used to train AI.

    \b
    CORPUS is JSONL, JSONL.gz or Parquet files (or directories of them) with records
    {"id", "url", "text"} and optionally "headers" (HTTP response headers), "html" (the
    raw page), "license" and "media_path". Every record ends in exactly one of
    DIR/allowed.jsonl, DIR/reserved.jsonl or DIR/rejected.jsonl (malformed lines, no id,
    no http(s) URL), and DIR/manifest.jsonl has one line per record, in input order,
    with the decision, the signals that decided it (where they were read, the exact
    text) and its licence. DIR/summary.json and DIR/summary.md are the EU AI Act public
    summary of training content, with the fields only the provider can fill marked.

    \b
    Signals read: robots.txt (RFC 9309, with the IETF Content-Usage and Cloudflare
    Content-Signal lines), W3C TDMRep (tdmrep.json, headers, HTML meta, EPUB and PDF),
    noai/noimageai (X-Robots-Tag, meta robots), Spawning ai.txt, the IETF Content-Usage
    header, C2PA/CAWG training-mining assertions (needs ipscope[c2pa]) and licences.
    Exit code 0 when the audit completed, whatever the records held.
    """
    from .audit.run import AuditOptions, audit

    opts = AuditOptions(sites=sites, fetch=fetch, agents=agents, policy=policy,  # type: ignore[arg-type]
                        allow_private=allow_private, cache_dir=cache_dir, ttl_s=ttl_s, force=force)
    try:
        if quiet:
            result = audit([str(c) for c in corpus], out, opts)
        else:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

            from .audit.records import discover

            files = discover([str(c) for c in corpus])
            # progress counts bytes of JSON lines read; gzip sizes would not compare
            total = None if any(f.name.lower().endswith(".gz") for f in files) else sum(f.stat().st_size for f in files)
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeElapsedColumn(), "{task.fields[records]}", transient=True,
                          console=_err_console()) as bar:
                tid = bar.add_task("auditing", total=total, records="")

                def progress(done: int, read: int) -> None:
                    bar.update(tid, completed=read, records=f"{done:,} records")

                result = audit([str(c) for c in corpus], out, opts, progress)
    except IpscopeError as e:
        _fail(e)
        return
    for w in result.warnings:
        click.echo(f"ipscope: warning: {w}", err=True)
    if not quiet:
        from .report.terminal import audit_summary

        audit_summary(result, _err_console())
