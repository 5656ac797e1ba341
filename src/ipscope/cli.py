"""The ``ipscope`` command: a thin shell over the Python API.

Each command parses its arguments, calls the API (``build_index``, ``trace``, ``similar``, ``audit``: they read
and limit queries, attach provenance and notes) and hands the results to ``ipscope.report``. What is here and
only here: option parsing, progress bars, where output goes, messages and exit statuses.

Imports of numpy/numba happen inside commands so ``ipscope --help`` stays instant.
"""

from __future__ import annotations

import functools
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import click

from . import __version__
from .errors import IndexFormatError, InputError, IpscopeError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

EXIT_OK = 0  # done (every query answered)
EXIT_FAILED = 1  # nothing could be done: a bad index or input path, or no query could be answered
EXIT_USAGE = 2  # wrong usage (click's usage errors)
EXIT_SOME_FAILED = 3  # some queries answered and some not (each of those has an error entry in the report)
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_STATUS = ("Exit status: 0 done (every query answered); 3 some queries answered and some not (each of "
               "those has an error entry in the report and a message on stderr); 1 nothing could be done (a "
               "bad index or input path, or no query could be answered); 2 wrong usage; 130 interrupted.")


def _say(err: IpscopeError) -> None:
    """The error and its fix on stderr (the run goes on: other queries may still be answered)."""
    click.echo(f"ipscope: error: {err.message}", err=True)
    if err.fix:
        click.echo(f"  fix: {err.fix}", err=True)


def _fail(err: IpscopeError) -> None:
    _say(err)
    sys.exit(err.exit_code)


def _interruptible(message: Callable[..., str]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Ctrl-C in a command: one line saying what happened and what to do (``message(**params)``), no
    traceback, exit status 130 (click alone prints "Aborted!" and exits 1)."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(**kw: Any) -> None:
            try:
                fn(**kw)
            except BaseException as e:
                if not _interrupted(e):
                    raise
                click.echo(f"\nipscope: interrupted; {message(**kw)}", err=True)
                sys.exit(EXIT_INTERRUPTED)

        return run

    return wrap


def _interrupted(e: BaseException | None) -> bool:
    """Ctrl-C, also when it arrived inside compiled code (numba then raises SystemError "returned a result with
    an exception set", caused by the KeyboardInterrupt)."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, KeyboardInterrupt):
            return True
        if not isinstance(e, SystemError):
            return False
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


@click.group(context_settings=CONTEXT, epilog=EXIT_STATUS)
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


def _index_interrupted(out: Path, **_: Any) -> str:
    partial = out.parent / f".{out.name}.partial"
    if not partial.exists():
        return f"nothing was written to {out}: run the same command again"
    return f"the tasks finished so far are kept in {partial}: run the same command again to resume where it stopped"


def _check_encoding(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from .corpus.encoding import check_encoding

    try:
        return check_encoding(value)
    except IpscopeError as e:
        raise click.BadParameter(f"{e.message}; {e.fix}") from None


def _encoding_option(what: str):
    return click.option("--encoding", metavar="NAME", default=None, callback=_check_encoding,
                        help=f"Read {what} in this encoding (a Python codec name: cp1252, latin-1, utf-16, gb18030, "
                             "big5, cp932, ...) instead of the one a byte-order mark, UTF-8 validity or detection "
                             "decides (see docs/formats.md#text-encodings).")


def _executor_options(what: str, local: str = "local processes (--jobs)"):
    """``--executor`` and ``--ray-address``, for commands whose work is cut into tasks."""

    def wrap(fn):
        fn = click.option("--ray-address", metavar="ADDR", default=None,
                          help="With --executor ray, the Ray cluster to join: host:6379 (its head node), "
                               "ray://host:10001 (Ray Client) or auto (the one `ray start` runs on this machine). "
                               "[default: a Ray instance started on this machine for the command]")(fn)
        return click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local",
                            show_default=True,
                            help=f"What runs the {what}: {local}, or one Ray task each on a Ray "
                                 "cluster (needs ipscope[ray]; the output must be on storage every node sees at "
                                 "the same path; see docs/scale.md). A failed task is retried 3 times.")(fn)

    return wrap


@contextmanager
def _executor(name: str, address: str | None) -> Iterator[Any]:
    """The executor of ``--executor NAME`` (None for local), closed at the end of the command."""
    if name == "local" and address is None:
        # nothing to make: the command makes its own pool, and `audit` stays free of the index package's imports
        # (numpy and the build: 20 MB of RSS and 0.2 s of start-up)
        yield None
        return
    from .index.executor import make_executor

    ex = make_executor(name, address=address)  # type: ignore[arg-type]
    try:
        yield ex
    finally:
        if ex is not None:
            ex.close()


@main.command("index", context_settings=CONTEXT)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Index directory to create.")
@click.option("--force", is_flag=True, help="Replace --out if it is already an ipscope index.")
@click.option("--jobs", "-j", type=click.IntRange(0), default=0, show_default=True,
              help="Tasks at once, which the plan of shards follows (0: one per CPU core; with --executor ray, "
                   "the cluster's CPUs).")
@click.option("--id-field", default="id", show_default=True, help="JSONL/Parquet field holding the document id.")
@click.option("--text-field", default="text", show_default=True, help="JSONL/Parquet field holding the text.")
@click.option("--encoding-errors", type=click.Choice(["skip", "replace"]), default="skip", show_default=True,
              help="Documents with bytes their encoding cannot read (a JSONL line that is not UTF-8, a text "
                   "file with stray bytes): skip them (with the reason in the account) or index them with "
                   "U+FFFD for the bad bytes (counted in the account).")
@_encoding_option("text files (.txt, .md; JSONL and Parquet are UTF-8)")
@click.option("--passages/--no-passages", default=True, show_default=True,
              help="Also build the passage layers ipscope similar needs (MinHash LSH and BM25 over passages of "
                   "200 tokens; ~40% more build time and ~0.6 bytes per text byte). Without them the index "
                   "serves ipscope trace only; add them later with ipscope add-layers.")
@click.option("--vectors", is_flag=True,
              help="Also embed every passage with multilingual-e5-small (needs ipscope[embed]), so similar finds "
                   "sources across languages. Slow: ~0.26 s a 200-token passage on 2 cores (~22 minutes per "
                   "million tokens); meant for catalogues of works, not web-scale corpora.")
@_executor_options("build's tasks (shards, then passage vectors)")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@_interruptible(_index_interrupted)
def index_cmd(sources: tuple[Path, ...], out: Path, force: bool, jobs: int, id_field: str, text_field: str,
              encoding_errors: str, encoding: str | None, passages: bool, vectors: bool, executor_name: str,
              ray_address: str | None, quiet: bool) -> None:
    """Index SOURCE files and directories into an index directory.

    \b
    SOURCE is a file or a directory searched recursively for *.txt, *.md, *.jsonl,
    *.jsonl.gz, *.parquet and *.json files that hold JSON Lines (Hugging Face's
    Dataset.to_json writes them). Document ids: a text file given directly is named by its
    file name, one found under a directory by its path relative to that directory;
    JSONL and Parquet records by their id field, or NAME#LINE (NAME#ROW) when they
    have none. A record's other fields (title, author, ...) are kept as its metadata.

    \b
    The build is atomic (written beside --out, renamed into place when complete) and an
    interrupted build resumes where it stopped when the same command is run again.
    Every input record is accounted for in DIR/account.jsonl: indexed, or skipped with
    the reason and the fix. The shards depend on --jobs (0: the executor's CPUs), not
    on the executor: the same --jobs gives the same index locally and on Ray.
    """
    from .corpus.readers import ReadOptions
    from .index import BuildOptions

    opts = BuildOptions(read=ReadOptions(id_field=id_field, text_field=text_field,
                                         encoding_errors=encoding_errors,  # type: ignore[arg-type]
                                         encoding=encoding),
                        jobs=jobs, force=force, passages=passages, vectors=vectors)
    try:
        with _executor(executor_name, ray_address) as executor:
            result = _run_index(sources, out, opts, quiet, executor)
    except IpscopeError as e:
        _fail(e)
        return
    except OSError as e:  # a path the build could not write (the checks before it should have named it)
        _fail(IpscopeError(f"--out {out}: the index cannot be written ({e.strerror or e}: {e.filename})",
                           "choose an --out in a directory you can write to"))
        return
    if not quiet:
        c = result.manifest["counts"]
        mb = c["input_bytes"] / 1e6
        msg = (f"indexed {c['documents_indexed']:,} document(s), {c['tokens']:,} tokens, {mb:,.1f} MB "
               f"in {result.seconds:.1f} s ({mb / max(result.seconds, 1e-9):,.1f} MB/s) -> {result.path}")
        click.echo(msg, err=True)
        if c.get("ids_assigned"):  # said, so that a mistyped --id-field does not pass unnoticed
            click.echo(f"{c['ids_assigned']:,} record(s) had no {id_field!r} field and were given <file>#<line> "
                       "(<file>#<row>) as id (\"id_assigned\": true in account.jsonl; name the id field with "
                       "--id-field)", err=True)
        if c["skipped"]:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(c["skipped_by_reason"].items()))
            click.echo(f"skipped {c['skipped']:,} record(s) ({reasons}); reasons and fixes in "
                       f"{result.path / 'account.jsonl'}", err=True)


def _run_index(sources: tuple[Path, ...], out: Path, opts: Any, quiet: bool, executor: Any) -> Any:
    from .index import build_index

    if quiet:
        return build_index(list(sources), out, opts, executor=executor)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True, console=_err_console()) as bar:
        tid = bar.add_task("indexing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(tid, completed=done, total=total)

        return build_index(list(sources), out, opts, progress, executor=executor)


def _err_console():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _report_file(out: Path | None) -> Iterator[TextIO]:
    """Where a report goes: standard output, or ``out`` written atomically (to a temporary name beside it,
    renamed when the report is complete), so an interrupted or failed run leaves no partial file and an
    earlier report at that path intact. A report that cannot be written (a full disk) is an error with its
    fix, not a traceback; a reader that stopped early (``| head``) is click's to end quietly."""
    try:
        if out is None:
            yield sys.stdout
            return
        from .atomic import atomic_open

        cm = atomic_open(out, "w")
        f = cm.__enter__()
        try:
            yield f
        except BaseException:
            cm.__exit__(*sys.exc_info())  # removes the temporary file
            raise
        cm.__exit__(None, None, None)
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise
        import errno

        where = f"--out {out}" if out else "standard output"
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        _fail(IpscopeError(f"{where}: the report cannot be written ({e.strerror or e})",
                           ("free space on its disk, or write the report elsewhere" if full else
                            "choose a writable file path") + ("" if out else " with --out FILE")))


def _check_report_args(out: Path | None, fmt: str, n_queries: int) -> None:
    """Refuse, before any work, several queries for one JSON report (wrong usage: exit 2), and an --out in a
    missing directory or naming a directory (exit 1)."""
    if fmt == "json" and n_queries > 1:
        raise click.UsageError(f"--format json writes one report but {n_queries} queries were given; "
                               "use --format jsonl for several queries (one JSON line each)")
    if out is not None and not out.parent.is_dir():
        _fail(IpscopeError(f"--out {out}: directory {out.parent} does not exist", "create it or choose another path"))
    if out is not None and out.is_dir():
        _fail(IpscopeError(f"--out {out} is a directory", f"give a file name for the report, e.g. {out}/report.html"))


def _query_interrupted(out: Path | None = None, **_: Any) -> str:
    return (f"no report was written to {out} (a file there before is untouched)" if out
            else "the queries not shown above were not answered")


def _reader(encoding: str | None) -> Callable[[str], Any]:
    """Reads a query argument in ``encoding`` (None: as corpus/encoding.py decides)."""
    from .corpus.query import read_query

    return lambda arg: read_query(arg, encoding)


def _run_batch(kind: str, index: Path, queries: tuple[str, ...], fmt: str, out: Path | None,
               answer: Callable[[Any], Any], read: Callable[[str], Any] | None = None) -> None:
    """Answer every query and write the report. Each query gets its report, or an error entry (QueryError)
    when it cannot be answered, its problem also on stderr. Exit status: 0 all answered, 3 some, 1 none.
    ``read`` turns an argument into a ``QueryText`` (default ``read_query``)."""
    from .corpus.query import read_query
    from .errors import InputError
    from .types import QueryError

    read = read or read_query

    answered = failed = 0

    def results() -> Iterator[Any]:
        nonlocal answered, failed
        for arg in queries:
            try:
                rep = answer(read(arg))
            except InputError as e:  # this query's own problem: the others are still answered
                _say(e)
                failed += 1
                yield QueryError("<stdin>" if arg == "-" else arg, e.message, e.fix)
                continue
            except IpscopeError as e:  # a damaged index, a missing extra: no query can be answered
                _fail(e)
            except OSError as e:  # an index file vanished or shrank while open (pread found no data)
                _fail(IndexFormatError(f"{index}: could not read the index ({e})",
                                       f"check the disk, or rebuild it: ipscope index SOURCE... --out {index} --force"))
            answered += 1
            yield rep

    with _report_file(out) as f:
        if fmt in ("jsonl", "text"):  # streamed: each query as soon as it is done
            from rich.console import Console

            from .report import to_json_line
            from .report.terminal import print_results

            console = Console(file=f, width=120, color_system=None) if out else Console()
            for r in results():
                if fmt == "jsonl":
                    f.write(to_json_line(r))
                else:
                    print_results([r], console)
                f.flush()
        else:
            collected = list(results())
            if fmt == "json":  # one query (checked before): its report, or its error entry
                from .report import to_json

                f.write(to_json(collected[0]) + "\n")
            else:
                from .report import render_html

                f.write(render_html(collected, str(index), kind))  # type: ignore[arg-type]
    if out and fmt == "html":
        click.echo(f"report: {out}", err=True)
    if failed:
        if answered:
            click.echo(f"ipscope: {failed:,} of {failed + answered:,} queries could not be answered (an error "
                       "entry stands in the report for each)", err=True)
        sys.exit(EXIT_SOME_FAILED if answered else EXIT_FAILED)


@main.command("trace", context_settings=CONTEXT, epilog=EXIT_STATUS)
@click.argument("index", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "jsonl", "html"]), default="text",
              show_default=True, help="text: terminal summary; json: one query; jsonl: one report per line; "
                                      "html: a self-contained page, query beside its sources.")
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Write the report here instead of stdout; complete or not at all (written to a temporary "
                   "name beside it and renamed when done).")
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
@_interruptible(_query_interrupted)
@_encoding_option("the queries")
def trace_cmd(index: Path, queries: tuple[str, ...], fmt: str, out: Path | None, min_tokens: int | None,
              max_sources: int, excerpts: int | None, max_rss_mb: float | None, encoding: str | None) -> None:
    """Find the passages of QUERY texts that come verbatim or near-verbatim from INDEX.

    \b
    QUERY is a text file (UTF-8 or another encoding, see --encoding), or - for standard
    input. A passage is reported when at least --min-tokens of its tokens match a source
    document; small edits (substituted, inserted or deleted words) inside a passage are
    bridged and the passage is reported as near-verbatim. Tokens are compared after Unicode NFKC normalisation and case
    folding, with traditional and simplified Chinese characters folded together,
    ignoring punctuation and spacing, so reformatted copies match too.
    Offsets are half-open character (code point) offsets in the query and in each
    source document's original text.
    """
    from .errors import InputError
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

    def answer(q: Any) -> Any:
        rep = trace(idx, q, None, opts)
        if rep.query_tokens == 0:  # nothing to trace: an error entry, not a report of nothing found
            raise InputError(f"query {q.name} is empty (no words or characters to compare)",
                             "give a query with text in it")
        return rep

    _run_batch("trace", index, queries, fmt, out, answer, _reader(encoding))


@main.command("add-layers", context_settings=CONTEXT)
@click.argument("index", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild the layers of shards that already have them.")
@click.option("--vectors", is_flag=True,
              help="Also embed every passage with multilingual-e5-small (needs ipscope[embed]) so similar finds "
                   "sources across languages. Slow: ~0.26 s a 200-token passage on 2 cores.")
@_executor_options("shards' layers and vectors (a task per shard for each)", "this process, one shard after another")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@_interruptible(lambda **_: "shards whose layers were finished keep them: run the same command again to resume")
def add_layers_cmd(index: Path, force: bool, vectors: bool, executor_name: str, ray_address: str | None,
                   quiet: bool) -> None:
    """Add the passage layers ipscope similar needs to an existing INDEX, without re-indexing.

    \b
    For an index built with --no-passages (or by an older ipscope): reads each shard's
    tokens and writes its MinHash LSH tables and BM25 postings beside them. Shards that
    already have the layers are skipped, so an interrupted run resumes where it stopped.
    """
    t0 = time.perf_counter()
    try:
        with _executor(executor_name, ray_address) as executor:
            _run_add_layers(index, force, vectors, quiet, executor)
    except IpscopeError as e:
        _fail(e)
        return
    if not quiet:
        click.echo(f"passage layers added to {index} in {time.perf_counter() - t0:.1f} s", err=True)


def _run_add_layers(index: Path, force: bool, vectors: bool, quiet: bool, executor: Any) -> None:
    from .index.layers import add_layers

    if quiet:
        add_layers(index, force, vectors=vectors, executor=executor)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True, console=_err_console()) as bar:
        tid = bar.add_task("adding layers", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(tid, completed=done, total=total, description=what)

        add_layers(index, force, progress, vectors=vectors, executor=executor)


@main.command("compact", context_settings=CONTEXT)
@click.argument("index", type=click.Path(path_type=Path))
@click.option("--small-tokens", type=click.IntRange(1), default=None,
              help="Merge shards of fewer tokens than this (default: a quarter of the index's largest shard size).")
@click.option("--quiet", "-q", is_flag=True, help="No summary.")
def compact_cmd(index: Path, small_tokens: int | None, quiet: bool) -> None:
    """Merge the small shards that adding documents made, and drop removed documents, in INDEX.

    \b
    Writes a new generation of the index (readers go on with the one they opened; adds and
    removals go on meanwhile); every query gets the same answer before and after. The shards
    merged are kept for readers of older generations until the next compaction.
    """
    from .index.format import Index

    t0 = time.perf_counter()
    try:
        change = Index.open(index).compact(small_tokens=small_tokens)
    except IpscopeError as e:
        _fail(e)
        return
    if quiet:
        return
    if change is None:
        click.echo(f"{index}: nothing to compact (no neighbouring small shards, no removed documents)", err=True)
    else:
        click.echo(f"{index}: generation {change.generation}: {len(change.retired)} shard(s) merged into "
                   f"{len(change.shards)} in {time.perf_counter() - t0:.1f} s", err=True)


@main.command("similar", context_settings=CONTEXT, epilog=EXIT_STATUS)
@click.argument("index", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--top", "-k", type=click.IntRange(1), default=10, show_default=True, help="Documents reported.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "jsonl", "html"]), default="text",
              show_default=True, help="text: a terminal table; json: one query; jsonl: one report per line; "
                                      "html: a self-contained page, aligned passages side by side.")
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Write the report here instead of stdout; complete or not at all (written to a temporary "
                   "name beside it and renamed when done).")
@click.option("--semantic/--no-semantic", default=None,
              help="Semantic evidence (paraphrase detection) with multilingual-e5-small; needs ipscope[embed]. "
                   "[default: on when installed]")
@_interruptible(_query_interrupted)
@_encoding_option("the queries")
def similar_cmd(index: Path, queries: tuple[str, ...], top: int, fmt: str, out: Path | None,
                semantic: bool | None, encoding: str | None) -> None:
    """Rank the documents of INDEX by how much of each QUERY derives from them.

    \b
    QUERY is a text file (UTF-8 or another encoding, see --encoding), or - for standard
    input. Each document found gets a score in [0, 1] (the share of the query's words explained by text derived from it: verbatim
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
    _run_batch("similar", index, queries, fmt, out, lambda q: similar(idx, q, None, opts), _reader(encoding))


def _check_source_kind(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from .audit.summary import kinds_help, source_kind

    kind = source_kind(value)
    if kind is None:
        raise click.BadParameter(f"{value!r} is not a source kind; give one of {kinds_help()}")
    return kind


@main.command("audit", context_settings=CONTEXT)
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output directory to create.")
@click.option("--sites", type=click.Path(path_type=Path), default=None,
              help="Snapshot of site files: DIR/<host>/robots.txt, DIR/<host>/ai.txt, "
                   "DIR/<host>/.well-known/tdmrep.json, and any file named by URL (an RSL licence "
                   "https://host/license.xml) at DIR/<host>/license.xml (a missing file counts as HTTP 404).")
@click.option("--fetch", is_flag=True,
              help="Fetch each site's robots.txt, ai.txt and tdmrep.json, and the RSL licences they and the "
                   "records name, live (needs ipscope[fetch]); cached on disk for --ttl seconds.")
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
@click.option("--source-kind", metavar="KIND", default=None, callback=_check_source_kind,
              help="Where records without a source_kind field come from, as the public summary's template "
                   "divides sources: public-dataset (2.1; 'dataset' is an alias), licensed (2.2.1), "
                   "private-dataset (2.2.2), crawled (2.3), user-data (2.4), synthetic (2.5) or other (2.6); a "
                   "record's own source_kind wins. [default: crawled, and the summary says it was assumed]")
@click.option("--sme", is_flag=True,
              help="The provider is an SME: the summary lists the top 5% of domains (at most 1,000), not 10%.")
@click.option("--exclude-domains", "exclude_domains", multiple=True, metavar="FILE", type=click.Path(path_type=Path),
              help="A list of domains (one a line, subdomains included, # comments, Unicode or xn-- names, "
                   "*.example.com accepted) whose records are reserved as 'excluded-domain', e.g. sites "
                   "recognised as infringing copyright (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Processes: the corpus is cut into pieces (JSONL by byte ranges at line ends, Parquet by row "
                   "groups, .gz whole) audited at once; the outputs are the same bytes as with one. With "
                   "--executor ray and --jobs 1: the cluster's CPUs.")
@click.option("--rsl-user", type=click.Choice(["commercial", "non-commercial", "education", "government",
                                               "personal"]), default="commercial", show_default=True,
              help="The user class RSL licences are judged for: the kind of entity that will train on the data.")
@click.option("--region", default=None, metavar="CODE",
              help="Where the training happens, for RSL geo terms: an ISO 3166-1 alpha-2 code or EU. "
                   "[default: undeclared: no geo-restricted RSL licence is taken as granted]")
@_executor_options("audit's pieces")
@click.option("--force", is_flag=True, help="Replace --out if it is already an ipscope audit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
@_interruptible(lambda out, **_: f"no audit was written to {out}; run the command again")
def audit_cmd(corpus: tuple[Path, ...], out: Path, sites: Path | None, fetch: bool, agents: tuple[str, ...],
              policy: str, allow_private: bool, cache_dir: Path | None, ttl_s: float, source_kind: str | None,
              sme: bool, exclude_domains: tuple[Path, ...], jobs: int, rsl_user: str, region: str | None,
              executor_name: str, ray_address: str | None, force: bool, quiet: bool) -> None:
    """Decide, with evidence, which CORPUS records may be used to train AI.

    \b
    CORPUS is JSONL, JSONL.gz or Parquet files (or directories of them) with records
    {"url", "text"} and optionally "id" (a record without one is given NAME#LINE, or
    NAME#ROW, as ipscope index gives it), "headers" (HTTP response headers), "html" (the
    raw page), "license", "media_path" and "source_kind" (see --source-kind). Every
    record ends in exactly one of DIR/allowed.jsonl, DIR/reserved.jsonl or
    DIR/rejected.jsonl (malformed lines, a bad id, no http(s) URL, an unknown
    source_kind), and DIR/manifest.jsonl has one line per record, in input order,
    with the decision, the signals that decided it (where they were read, the exact
    text), its licence and the signals that could not be consulted ("not_checked":
    without --sites or --fetch no site file is read, and the command warns).
    DIR/summary.json and DIR/summary.md are the EU AI Act public summary of training
    content, with the fields only the provider can fill marked.

    \b
    Signals read: robots.txt (RFC 9309, with the IETF Content-Usage and Cloudflare
    Content-Signal lines), W3C TDMRep (tdmrep.json, headers, HTML meta, EPUB and PDF),
    noai/noimageai (X-Robots-Tag, meta robots), Spawning ai.txt, the IETF Content-Usage
    header, C2PA/CAWG training-mining assertions (needs ipscope[c2pa]), RSL 1.0 licences
    (robots.txt License lines, Link headers, HTML link/script; judged for --rsl-user and
    --region; a licence server is never contacted) and licences.
    Exit code 0 when the audit completed, whatever the records held.
    """
    from .audit.run import AuditOptions

    opts = AuditOptions(sites=sites, fetch=fetch, agents=agents, policy=policy,  # type: ignore[arg-type]
                        allow_private=allow_private, cache_dir=cache_dir, ttl_s=ttl_s, force=force,
                        source_kind=source_kind, sme=sme, exclude_domains=exclude_domains, jobs=jobs,
                        rsl_user=rsl_user, region=region)
    try:
        with _executor(executor_name, ray_address) as executor:
            result = _run_audit(corpus, out, opts, quiet, executor)
    except IpscopeError as e:
        _fail(e)
        return
    for w in result.warnings:
        click.echo(f"ipscope: warning: {w}", err=True)
    if not quiet:
        from .report.terminal import audit_summary

        audit_summary(result, _err_console())


def _run_audit(corpus: tuple[Path, ...], out: Path, opts: Any, quiet: bool, executor: Any) -> Any:
    from .audit.run import audit

    if quiet:
        return audit([str(c) for c in corpus], out, opts, executor=executor)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

    from .audit.records import discover

    files = [p for p, _kind, _name in discover([str(c) for c in corpus])]
    # progress counts bytes of JSON lines read; gzip sizes would not compare
    total = None if any(f.name.lower().endswith(".gz") for f in files) else sum(f.stat().st_size for f in files)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeElapsedColumn(), "{task.fields[records]}", transient=True,
                  console=_err_console()) as bar:
        tid = bar.add_task("auditing", total=total, records="")

        def progress(done: int, read: int) -> None:
            bar.update(tid, completed=read, records=f"{done:,} records")

        return audit([str(c) for c in corpus], out, opts, progress, executor=executor)


# verify, keys, registry and serve: the registry's and the service's commands, in a module of their own
from . import cli_registry  # noqa: E402,F401  (importing it adds them to ``main``)


if __name__ == "__main__":  # pragma: no cover
    main()
