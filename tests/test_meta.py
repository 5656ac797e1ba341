"""Document metadata (issue 10, point 5) and records without an id (point 7), through index, trace, similar,
audit and the reports; the one reader stack both commands use (corpus/records.py)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEMO, need_shared
from ipscope.cli import main
from ipscope.corpus.gutenberg import header_meta
from ipscope.corpus.meta import META_BYTES, fit
from ipscope.index import BuildOptions, Index, build_index
from ipscope.report.names import display_name
from ipscope.similar import SimilarOptions, similar
from ipscope.trace import trace

BOOK = (DEMO / "books" / "105.txt").read_text(encoding="utf-8")
BODY = BOOK[BOOK.index("*** START"):]


def passage(i: int, chars: int = 600) -> str:
    start = 20_000 + i * 1_500
    return BODY[start : start + chars]


def account(idx: Path) -> dict[str, dict]:
    return {x["where"]: x for x in map(json.loads, (idx / "account.jsonl").read_text(encoding="utf-8").splitlines())}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- the 4 KB rule


def test_fit_keeps_small_metadata_whole_and_in_order() -> None:
    meta = {"title": "Persuasion", "author": "Jane Austen", "year": 1817, "tags": ["novel", "regency"]}
    data, cut, dropped = fit(meta)
    assert json.loads(data) == meta and list(json.loads(data)) == list(meta)
    assert cut == [] and dropped == []
    assert fit({}) == (b"", [], [])


def test_fit_cuts_a_huge_string_and_drops_what_cannot_be_cut() -> None:
    meta = {"title": "T" * (1 << 20), "author": "A. Writer", "url": "https://example.org/a",
            "numbers": list(range(5000))}
    data, cut, dropped = fit(meta)
    kept = json.loads(data)
    assert len(data) <= META_BYTES
    assert cut == ["title"] and dropped == ["numbers"]
    assert kept["author"] == "A. Writer" and kept["url"] == "https://example.org/a"  # the small fields whole
    assert kept["title"].endswith("…") and len(kept["title"]) > 3000  # the room left goes to the cut field
    assert list(kept) == ["title", "author", "url"]


def test_fit_counts_bytes_not_characters() -> None:
    data, cut, _ = fit({"title": "論語" * 10_000, "note": '"\\' * 5_000})
    assert len(data) <= META_BYTES and set(cut) <= {"title", "note"} and cut
    json.loads(data)  # still valid JSON, escapes and multi-byte characters whole


def test_fit_lists_at_most_twenty_names() -> None:
    _, _, dropped = fit({f"field{i}": "x" * 100 for i in range(200)})
    assert len(dropped) == 21 and dropped[-1].startswith("... and ")


# ------------------------------------------------------------------------------------------- index, trace


def test_title_of_one_megabyte_is_cut_with_a_note_and_the_rest_kept(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "books.jsonl", [
        {"id": "big", "title": "Long title " * 100_000, "author": "Someone", "text": passage(1)},
        {"id": "small", "title": "Persuasion", "author": "Jane Austen", "year": 1817, "text": passage(2)},
    ])
    out = tmp_path / "x.idx"
    r = CliRunner().invoke(main, ["index", str(jl), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    acc = account(out)
    assert acc[f"{jl}:1"]["meta_cut"] == ["title"] and "meta_dropped" not in acc[f"{jl}:1"]
    assert "meta_cut" not in acc[f"{jl}:2"]
    idx = Index.open(out)
    rep = trace(idx, passage(1))
    src = rep.spans[0].sources[0]
    assert src.doc_id == "big" and src.meta["author"] == "Someone"
    assert src.meta["title"].startswith("Long title") and src.meta["title"].endswith("…")
    assert len(json.dumps(src.meta, ensure_ascii=False).encode()) <= META_BYTES + 64  # (separators added)
    rep = trace(idx, passage(2))
    assert rep.spans[0].sources[0].meta == {"title": "Persuasion", "author": "Jane Austen", "year": 1817}
    assert rep.to_dict()["spans"][0]["sources"][0]["meta"]["title"] == "Persuasion"
    # the JSON stored a part is bounded whatever the record held
    meta_file = next((out / "shards").glob("*/meta.jsonl"))
    assert max(len(line) for line in meta_file.read_bytes().splitlines()) <= META_BYTES


def test_text_files_carry_their_path_and_a_gutenberg_header(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    shutil.copy(DEMO / "books" / "105.txt", tmp_path / "in" / "sub" / "105.txt")
    (tmp_path / "in" / "plain.txt").write_text("Title: not a header\n\n" + passage(3), encoding="utf-8")
    out = tmp_path / "x.idx"
    build_index([tmp_path / "in"], out, BuildOptions(jobs=1))
    idx = Index.open(out)
    src = trace(idx, passage(5)).spans[0].sources[0]
    assert src.doc_id == "sub/105.txt"
    assert src.meta == {"title": "Persuasion", "author": "Jane Austen", "path": str(tmp_path / "in" / "sub" / "105.txt")}
    src = trace(idx, passage(3)).spans[0].sources[0]
    assert src.doc_id == "plain.txt" and src.meta == {"path": str(tmp_path / "in" / "plain.txt")}


def test_a_large_text_file_in_parts_keeps_its_metadata_in_every_part(tmp_path: Path) -> None:
    from ipscope.corpus.readers import ReadOptions

    book = tmp_path / "105.txt"
    shutil.copy(DEMO / "books" / "105.txt", book)
    out = tmp_path / "x.idx"
    build_index([book], out, BuildOptions(jobs=1, read=ReadOptions(segment_chars=50_000)))
    idx = Index.open(out)
    late = BODY[-30_000:-29_400]
    src = trace(idx, late).spans[0].sources[0]
    assert src.start > 400_000 and src.meta["title"] == "Persuasion"


def test_an_index_without_metadata_files_reads_as_empty_meta(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "r.jsonl", [{"id": "a", "title": "A", "text": passage(4)}])
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    for f in (out / "shards").glob("*/meta*"):  # as an index built before issue 10
        f.unlink()
    idx = Index.open(out)
    src = trace(idx, passage(4)).spans[0].sources[0]
    assert src.doc_id == "a" and src.meta == {}
    rep = similar(idx, passage(4), opts=SimilarOptions(semantic=False))
    assert rep.results[0].doc_id == "a" and rep.results[0].meta == {}


def test_similar_results_carry_meta_and_reports_show_the_title(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "r.jsonl", [
        {"id": "p", "title": "Persuasion", "author": "Jane Austen", "text": BODY[:60_000]},
        {"id": "q", "text": BODY[100_000:160_000]},
    ])
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    idx = Index.open(out)
    query = BODY[20_000:22_000] + " " + BODY[120_000:122_000]
    rep = similar(idx, query, opts=SimilarOptions(semantic=False))
    by = {r.doc_id: r for r in rep.results}
    assert by["p"].meta == {"title": "Persuasion", "author": "Jane Austen"} and by["q"].meta == {}
    assert rep.to_dict()["results"][0]["meta"] == by[rep.results[0].doc_id].meta
    q = tmp_path / "q.txt"
    q.write_text(query, encoding="utf-8")
    for args, expect in ((["similar", str(out), str(q)], "Persuasion — Jane Austen (p)"),
                         (["similar", str(out), str(q), "-f", "html"], "Persuasion — Jane Austen (p)"),
                         (["trace", str(out), str(q)], "Persuasion — Jane Austen (p)"),
                         (["trace", str(out), str(q), "-f", "html"], "Persuasion — Jane Austen (p)")):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        assert expect in r.stdout, (args, r.stdout[:2000])


def test_display_name() -> None:
    assert display_name("pg145.txt", {"title": "Middlemarch", "author": "George Eliot"}) == \
        "Middlemarch — George Eliot (pg145.txt)"
    assert display_name("a", {"title": "T"}) == "T (a)"
    assert display_name("a", {"title": "T", "authors": ["X", "Y"]}) == "T — X, Y (a)"
    assert display_name("a", {"path": "a.txt"}) == "a" and display_name("a", {}) == "a"
    assert display_name("a", {"title": 5}) == "a"  # a title that is not text is not shown
    assert len(display_name("a", {"title": "x" * 10_000})) < 200


def test_terminal_reports_pass_no_escape_sequence_from_a_record_to_the_terminal(tmp_path: Path) -> None:
    # a crawled record's title (or id) may hold ESC [31m (recolour) or ESC ]0;...BEL (set the window title): the
    # text reports show them as spaces (titles) or U+FFFD (ids); the JSON keeps them exact
    evil = "Evil\x1b[31mRED\x1b]0;pwned\x07 \x9b2J book"
    assert display_name("id\x1b[2J", {"title": evil}) == "Evil [31mRED ]0;pwned 2J book (id\ufffd[2J)"
    jl = write_jsonl(tmp_path / "evil.jsonl", [{"id": "e\x1b[1m", "title": evil, "text": passage(50)}])
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    q = tmp_path / "q.txt"
    q.write_text(passage(50), encoding="utf-8")
    for args in (["trace", str(out), str(q)], ["similar", str(out), str(q), "--no-semantic"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        assert "Evil [31mRED" in r.stdout and "\x1b" not in r.stdout and "\x9b" not in r.stdout, args
    r = CliRunner().invoke(main, ["trace", str(out), str(q), "-f", "json"])
    src = json.loads(r.stdout)["spans"][0]["sources"][0]
    assert src["doc_id"] == "e\x1b[1m" and src["meta"]["title"] == evil


# ------------------------------------------------------------------------------------------- Gutenberg headers


def _norm(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.lower())


def test_gutenberg_header_on_every_shared_book() -> None:
    books = need_shared("gutenberg")
    rows = list(csv.DictReader(open(books / "MANIFEST.csv", encoding="utf-8"), skipinitialspace=True))
    assert sorted(r["file_name"] for r in rows) == sorted(p.name for p in books.glob("*.txt"))  # every book
    assert len(rows) >= 30
    for row in rows:
        m = header_meta((books / row["file_name"]).read_text(encoding="utf-8", errors="replace"))
        # MANIFEST.csv drops punctuation and subtitles: compare letters and digits, the title as a prefix
        assert _norm(m["title"]).startswith(_norm(row["title"])), (row, m)
        assert _norm(m["author"]) == _norm(row["author"]), (row, m)


def test_gutenberg_header_is_not_guessed_from_ordinary_text() -> None:
    assert header_meta("Title: My essay\nAuthor: Me\n\nText about Project Gutenberg.") == {}
    assert header_meta("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nTitle: later\n") == {}
    head = "The Project Gutenberg eBook of X\n\nTitle: " + "y" * 1000 + "\n\n*** START OF THE PROJECT GUTENBERG EBOOK X ***"
    assert header_meta(head) == {}  # a "title" of 1,000 characters is no title


# ------------------------------------------------------------------------------------------- records without id


def test_jsonl_with_ids_on_some_lines_and_none_on_others(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "mixed.jsonl", [
        {"id": "one", "text": passage(10)},
        {"text": passage(11), "title": "No id here"},
        {"id": "three", "text": passage(12)},
        {"id": None, "text": passage(13)},
        {"id": "mixed.jsonl#2", "text": passage(14)},  # claims the id assigned to line 2
    ])
    out = tmp_path / "x.idx"
    r = CliRunner().invoke(main, ["index", str(jl), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    acc = account(out)
    assert [acc[f"{jl}:{i}"]["doc_id"] for i in range(1, 6)] == [
        "one", "mixed.jsonl#2", "three", "mixed.jsonl#4", "mixed.jsonl#2"]
    assert acc[f"{jl}:2"]["id_assigned"] is True and acc[f"{jl}:4"]["id_assigned"] is True
    assert not any("id_assigned" in acc[f"{jl}:{i}"] for i in (1, 3, 5))
    dup = acc[f"{jl}:5"]
    assert dup["code"] == "duplicate-id" and "without an id field" in dup["reason"] and f"{jl}:2" in dup["reason"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["ids_assigned"] == 2
    # the CLI says so (a mistyped --id-field would otherwise pass unnoticed), and says nothing when none was
    r = CliRunner().invoke(main, ["index", str(jl), "--out", str(tmp_path / "c.idx"), "--id-field", "ID"])
    assert r.exit_code == 0 and "5 record(s) had no 'ID' field and were given <file>#<line>" in r.stderr, r.stderr
    r = CliRunner().invoke(main, ["index", str(jl), "--out", str(tmp_path / "d.idx")])
    assert "2 record(s) had no 'id' field" in r.stderr
    ided = write_jsonl(tmp_path / "ids.jsonl", [{"id": "x", "text": passage(15)}])
    r = CliRunner().invoke(main, ["index", str(ided), "--out", str(tmp_path / "e.idx")])
    assert r.exit_code == 0 and "had no" not in r.stderr
    src = trace(Index.open(out), passage(11)).spans[0].sources[0]
    assert src.doc_id == "mixed.jsonl#2" and src.meta == {"title": "No id here"}


def test_audit_assigns_the_same_ids(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    jl = write_jsonl(tmp_path / "in" / "crawl.jsonl", [
        {"id": "a", "url": "https://example.org/a", "text": "t"},
        {"url": "https://example.org/b", "text": "t"},
    ])
    r = CliRunner().invoke(main, ["audit", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 0, r.output
    man = [json.loads(x) for x in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    assert [m["id"] for m in man] == ["a", "crawl.jsonl#2"] and [m["decision"] for m in man] == ["allowed"] * 2
    assert "id_assigned" not in man[0] and man[1]["id_assigned"] is True
    assert man[1]["source"] == str(jl) and man[1]["line"] == 2
    # and its help says so (it listed "no id" among the reasons a record is rejected)
    help_text = " ".join(CliRunner().invoke(main, ["audit", "--help"]).output.split())
    assert "no id" not in help_text and "optionally \"id\"" in help_text and "NAME#LINE" in help_text


def test_parquet_without_an_id_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "export.parquet"
    pq.write_table(pa.table({"text": [passage(20), passage(21), passage(22)],
                             "url": [f"https://example.org/{i}" for i in range(3)],
                             "title": ["First", None, "Third"]}), path, row_group_size=2)
    out = tmp_path / "x.idx"
    build_index([path], out, BuildOptions(jobs=1, task_bytes=1))
    acc = account(out)
    assert [acc[f"{path}:row {i}"]["doc_id"] for i in (1, 2, 3)] == [f"export.parquet#{i}" for i in (1, 2, 3)]
    assert all(acc[f"{path}:row {i}"]["id_assigned"] for i in (1, 2, 3))
    idx = Index.open(out)
    src = trace(idx, passage(22)).spans[0].sources[0]
    assert src.doc_id == "export.parquet#3" and src.meta == {"url": "https://example.org/2", "title": "Third"}
    assert trace(idx, passage(21)).spans[0].sources[0].meta == {"url": "https://example.org/1"}  # nulls left out
    r = CliRunner().invoke(main, ["audit", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 0, r.output
    man = [json.loads(x) for x in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    assert [m["id"] for m in man] == [f"export.parquet#{i}" for i in (1, 2, 3)]
    assert all(m["id_assigned"] for m in man)


@pytest.mark.parametrize("char", ["中", "😀", "\x01", "é", "T"])
def test_fit_cuts_a_huge_title_of_any_script_instead_of_dropping_it(char: str) -> None:
    # a Chinese title of 1 MB (3 bytes a character), emoji (4) and control characters (6 as JSON escapes) are cut
    # like a Latin one, keeping the start of the title, not dropped whole
    data, cut, dropped = fit({"title": char * 1_000_000, "author": "X"})
    kept = json.loads(data)
    assert cut == ["title"] and dropped == [] and len(data) <= META_BYTES
    assert kept["title"].startswith(char * 100) and kept["title"].endswith("…")
    assert len(data) > META_BYTES - 16  # the room is used, not left empty


def test_two_inputs_with_one_name_keep_apart_ids(tmp_path: Path) -> None:
    # two Hugging Face exports named data.jsonl in two folders, and two text files named notes.txt: named by
    # their path as given, every record of both indexed (before, the second file's were all duplicate-id)
    for lang, n in (("en", 30), ("fr", 40)):
        (tmp_path / lang).mkdir()
        write_jsonl(tmp_path / lang / "data.jsonl", [{"text": passage(n)}, {"text": passage(n + 1)}])
        (tmp_path / lang / "notes.txt").write_text(passage(n + 2), encoding="utf-8")
    srcs = [tmp_path / lang / f for lang in ("en", "fr") for f in ("data.jsonl", "notes.txt")]
    out = tmp_path / "x.idx"
    build_index(srcs, out, BuildOptions(jobs=1))
    acc = account(out)
    assert all(line["status"] == "indexed" for line in acc.values()), acc
    en, fr = (tmp_path / "en").as_posix(), (tmp_path / "fr").as_posix()
    assert acc[f"{fr}/data.jsonl:2"]["doc_id"] == f"{fr}/data.jsonl#2"
    assert {line["doc_id"] for line in acc.values()} >= {f"{en}/notes.txt", f"{fr}/notes.txt"}
    assert trace(Index.open(out), passage(41)).spans[0].sources[0].doc_id == f"{fr}/data.jsonl#2"
    # a name used once is kept as it was (the file name), and one file given twice is one input name
    build_index([tmp_path / "en" / "data.jsonl", tmp_path / "fr" / "notes.txt"], out, BuildOptions(jobs=1, force=True))
    assert {line["doc_id"] for line in account(out).values()} == {"data.jsonl#1", "data.jsonl#2", "notes.txt"}
    # one file spelt two ways is one input: its records are duplicates, not two copies under two names
    build_index([tmp_path / "en" / "data.jsonl", tmp_path / "en" / ".." / "en" / "data.jsonl"], out,
                BuildOptions(jobs=1, force=True))
    assert sorted(line.get("code", "indexed") for line in account(out).values()) == \
        ["duplicate-id", "duplicate-id", "indexed", "indexed"]


def test_the_documents_table_shows_an_unlisted_source_id_without_its_control_characters() -> None:
    # a document counted but not listed among a span's sources (beyond --max-sources) is named by its id alone
    import io

    from rich.console import Console

    from ipscope.report.terminal import print_results
    from ipscope.types import DocumentMatch, Source, Span, TraceReport

    span = Span(0, 10, 12, "verbatim", 2, (Source("listed", 0, 10),), 12, 0, 0, 12)
    rep = TraceReport("q", 10, 12, 1.0, 1.0, (span,), (DocumentMatch("listed", 12), DocumentMatch("x\x1b[2Jy", 12)),
                      12)
    buf = io.StringIO()
    print_results([rep], Console(file=buf, width=120, color_system=None))
    assert "x\ufffd[2Jy" in buf.getvalue() and "\x1b" not in buf.getvalue()


# ------------------------------------------------------------------- .json files (Hugging Face exports)


def test_a_hugging_face_json_export_is_read_as_json_lines(tmp_path: Path) -> None:
    # Dataset.to_json("train.json") writes JSON Lines without ids; a dataset directory also holds JSON documents
    # (dataset_info.json, state.json) that are not corpus files
    d = tmp_path / "export"
    d.mkdir()
    write_jsonl(d / "train.json", [{"text": passage(30), "title": "A"}, {"text": passage(31), "title": "B"}])
    (d / "dataset_info.json").write_text(json.dumps({"features": {"text": {"dtype": "string"}}}, indent=2))
    (d / "state.json").write_text('[{"filename": "data-00000-of-00001.arrow"}]')
    out = tmp_path / "x.idx"
    build_index([d], out, BuildOptions(jobs=1))
    acc = account(out)
    assert sorted(acc) == [f"{d / 'train.json'}:1", f"{d / 'train.json'}:2"]
    assert acc[f"{d / 'train.json'}:2"]["doc_id"] == "train.json#2"
    src = trace(Index.open(out), passage(31)).spans[0].sources[0]
    assert src.doc_id == "train.json#2" and src.meta == {"title": "B"}
    # the audit reads it too
    r = CliRunner().invoke(main, ["audit", str(d / "train.json"), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("content", ['[{"id": "a", "text": "x"}]', '{\n  "id": "a",\n  "text": "x"\n}\n'])
def test_a_json_document_given_to_index_is_a_clear_error(tmp_path: Path, content: str) -> None:
    f = tmp_path / "data.json"
    f.write_text(content, encoding="utf-8")
    r = CliRunner().invoke(main, ["index", str(f), "--out", str(tmp_path / "x.idx"), "-q"])
    assert r.exit_code == 1 and "not JSON Lines" in r.output and "jq -c '.[]'" in r.output
    assert "Traceback" not in r.output
